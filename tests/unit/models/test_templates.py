"""A model's text templates are checked when it loads; each shape provides the placeholders it declares."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from jiandu.core.identity import Pseudonymiser
from jiandu.core.timeutil import CST, to_ms
from jiandu.core.validation import to_event
from jiandu.errors import ConfigurationError, RecordError
from jiandu.models import EntityState, ModelEngine, fact_of, load_catalogue
from jiandu.models.templates import placeholders_of, record_fields
from jiandu.simulate import generate_history

CATALOGUE = {model.id: model for model in load_catalogue()}


def test_a_misspelt_placeholder_fails_at_load_naming_it_and_what_is_available() -> None:
    m02 = CATALOGUE["M02"]
    with pytest.raises(ConfigurationError) as raised:
        replace(m02, summary_zh="{trigger_dat}判决生效，{last_day}前未报到。")  # type: ignore[arg-type]
    message = str(raised.value)
    assert "M02" in message and "{trigger_dat}" in message and "summary_zh" in message
    assert "available:" in message and "trigger_date" in message and "last_day" in message


def test_a_placeholder_of_another_finding_or_a_reason_is_refused_too() -> None:
    m13 = CATALOGUE["M13"]
    summaries = {**m13.summary_zh, "RELEASE_WITHOUT_RULING": "调整后刑期{adjusted_end}"}  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match=r"RELEASE_WITHOUT_RULING.*\{adjusted_end\}"):
        replace(m13, summary_zh=summaries)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"reason.*\{total\}"):
        replace(CATALOGUE["M12"], reason="{total} paid")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not a valid template"):
        replace(m13, summary_zh="{adjusted_end")  # type: ignore[arg-type]


def test_every_placeholder_a_catalogue_model_uses_is_filled_in_its_leads() -> None:
    """What a shape declares it provides, it provides: no summary of a generated history shows a stray dash."""
    history = generate_history(seed=4, persons=400, start=datetime(2024, 1, 1, tzinfo=CST))
    engine = ModelEngine(list(CATALOGUE.values()))
    states: dict[str, EntityState] = {}
    pseudonymiser = Pseudonymiser(b"k")
    for record in history.records:
        try:
            event = to_event(record, pseudonymiser, 0) if isinstance(record, dict) else None
        except RecordError:
            continue
        for entity in engine.route(event) if event else ():
            states.setdefault(entity, EntityState()).add(fact_of(event))  # type: ignore[arg-type]
    seen: set[str] = set()
    clock = to_ms(history.clock_end)
    for entity, state in states.items():
        for model in engine.models:
            for outcome in model.evaluate(entity, state.facts, clock, engine._params[model.id]):
                template = model.summary_zh if isinstance(model.summary_zh, str) else model.summary_zh[outcome.finding]
                nullable = record_fields([outcome.trigger.type])  # a field the record left out reads as a dash
                missing = placeholders_of(template, model.id) - set(outcome.text) - {"due_at"} - nullable
                assert not missing, (model.id, outcome.finding, missing)
                seen.add(model.id)
    assert seen == set(CATALOGUE)
