"""Rejection reasons split into field and rule; the OpenAPI document lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.gateway import BATCH_PATH, openapi_document
from jiandu.core.records import RECORD_TYPES
from producers.rules import RULES, field_and_rule

CONFORMANCE = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"


def test_every_conformance_reject_has_a_specific_rule() -> None:
    for line in (CONFORMANCE / "expected-rejects.jsonl").read_text().splitlines():
        reason = json.loads(line)["reason"]
        _, rule = field_and_rule(reason)
        assert rule in RULES and rule != "invalid", reason


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("id_number: wrong check character", ("id_number", "check_character")),
        ("suspects[0].id_number: bad length 17", ("suspects[0].id_number", "length")),
        ("party.credit_code: invalid characters", ("party.credit_code", "characters")),
        ("missing required field case_no", ("case_no", "required")),
        ("suspects[1]: missing required field id_number", ("suspects[1].id_number", "required")),
        ("decision: 'PENDING' is not one of APPROVED, REJECTED", ("decision", "enum")),
        ("type: unknown record type 'x.y'", ("type", "known_type")),
        ("fine_cny: more than two decimal places: 1.234", ("fine_cny", "decimal_places")),
        ("prison_months: expected an integer, got 'x'", ("prison_months", "value_type")),
        ("not valid JSON: Expecting value: line 1 column 1 (char 0)", (None, "json")),
        ("a record must be a JSON object", (None, "json_object")),
        ("something nobody wrote yet", (None, "invalid")),
    ],
)
def test_reasons_split_into_field_and_rule(reason: str, expected: tuple[str | None, str]) -> None:
    assert field_and_rule(reason) == expected


def test_the_openapi_document_describes_the_batch_endpoint() -> None:
    document = json.loads(json.dumps(openapi_document(max_records=500, max_request_bytes=1 << 20)))
    assert document["openapi"].startswith("3.1")
    operation = document["paths"][BATCH_PATH]["post"]
    assert {"200", "401", "413"} <= operation["responses"].keys()
    schemas = document["components"]["schemas"]
    assert schemas["Record"]["properties"]["type"]["enum"] == sorted(RECORD_TYPES) and len(RECORD_TYPES) == 28
    assert schemas["BatchRequest"]["properties"]["records"]["maxItems"] == 500
    rules = schemas["RecordResult"]["properties"]["rule"]["enum"]
    assert {"check_character", "source_not_allowed", "type_not_allowed"} <= set(rules)
    refs = {v for v in _values(document) if isinstance(v, str) and v.startswith("#/")}
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs), "every $ref resolves"


def _values(node: object) -> list[object]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in [value, *_values(value)]]
    if isinstance(node, list):
        return [v for value in node for v in [value, *_values(value)]]
    return []
