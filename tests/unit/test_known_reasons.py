"""The reasons an adapter exports at 0 are the reasons the intake really counts."""

from __future__ import annotations

import json

import pytest

from jiandu.core.records import RECORD_TYPES
from jiandu.observability.labels import reason_label
from producers.known_reasons import reason_labels
from producers.rules import RULES, field_and_rule
from tests.pipeline import CONFORMANCE


def test_every_conformance_rejection_is_among_its_types_known_reasons() -> None:
    rejects = [json.loads(line) for line in (CONFORMANCE / "expected-rejects.jsonl").read_text().splitlines()]
    typed = [r for r in rejects if r.get("type") in RECORD_TYPES]
    assert len(typed) > 40
    for reject in typed:
        label = reason_label(*field_and_rule(reject["reason"]))
        assert label in reason_labels(reject["type"]), (reject["type"], reject["reason"], label)


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_known_reasons_are_bounded_labels_of_known_rules(record_type: str) -> None:
    labels = reason_labels(record_type)
    assert 15 <= len(labels) <= 60
    for label in labels:
        assert label.rpartition(":")[2] in RULES, label
