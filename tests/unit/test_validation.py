"""Records become events exactly as events.md says; bad records get a reason."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from jiandu.core.identity import Pseudonymiser, make_id_number
from jiandu.core.validation import to_event
from jiandu.errors import RecordError

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
KEY = Pseudonymiser(b"conformance-key")


def _alcohol(**changes: object) -> dict[str, object]:
    from datetime import date

    record: dict[str, object] = {
        "type": "police.alcohol_test",
        "source": "police:210102",
        "source_record_id": "T1",
        "occurred_at": "2024-03-01T23:41:00+08:00",
        "jurisdiction": "210102",
        "test_no": "T1",
        "id_number": make_id_number("210102", date(1985, 3, 17), 241),
        "bac_mg_per_100ml": 112,
        "plate_no": "辽A12345",
    }
    record.update(changes)
    return record


def test_conformance_rejects_exactly_the_expected_lines_with_their_reasons() -> None:
    expected = {}
    for line in (CONFORMANCE / "expected-rejects.jsonl").read_text().splitlines():
        item = json.loads(line)
        expected[item["line"]] = item["reason"]
    got = {}
    for number, line in enumerate((CONFORMANCE / "records.jsonl").read_text().splitlines(), 1):
        try:
            to_event(json.loads(line), KEY, 0)
        except json.JSONDecodeError as exc:
            got[number] = f"not valid JSON: {exc}"
        except RecordError as exc:
            got[number] = exc.reason
    assert got.keys() == expected.keys()
    differing = {n: (got[n], expected[n]) for n in got if not got[n].startswith(expected[n].split(":")[0])}
    assert differing == {}


def test_event_is_pseudonymised_and_keeps_no_id_number() -> None:
    record = _alcohol()
    event = to_event(record, KEY, 0)
    assert "id_number" not in event.body
    assert len(event.body["person_key"]) == 64
    assert record["id_number"] not in repr(event)
    assert event.event_id == "police:210102/police.alcohol_test/T1"


def test_decimals_are_exact() -> None:
    assert to_event(_alcohol(bac_mg_per_100ml="79.9"), KEY, 0).body["bac_mg_per_100ml"] == Decimal("79.90")
    assert to_event(_alcohol(bac_mg_per_100ml=80.0), KEY, 0).body["bac_mg_per_100ml"] == Decimal("80")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"bac_mg_per_100ml": "-1"}, "bac_mg_per_100ml: must not be negative"),
        ({"bac_mg_per_100ml": "12.345"}, "bac_mg_per_100ml: more than two decimal places"),
        ({"bac_mg_per_100ml": "1e20"}, "bac_mg_per_100ml: beyond decimal(18,2)"),
        ({"type": "police.unknown"}, "type: unknown record type"),
        ({"occurred_at": None}, "missing required field occurred_at"),
        ({"source": "army:210102"}, "source: 'army:210102' is not"),
        ({"source": "police:210102:210102198503172415"}, "source: contains an ID number"),
        ({"source": "police:210102:123456789012345678"}, "source: the unit holds a digit run like an ID number"),
        ({"source": "police:２１０１０２"}, "source: 'police:２１０１０２' is not"),
        ({"jurisdiction": "2101"}, "jurisdiction: not a 6-digit division code"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        to_event(_alcohol(**changes), KEY, 0)
    assert caught.value.reason.startswith(reason)


def test_nullable_field_may_be_absent_and_defaults_apply() -> None:
    record = _alcohol()
    del record["plate_no"]
    assert to_event(record, KEY, 0).body["plate_no"] is None
    detention = {
        "type": "police.coercive_measure",
        "source": "police:210102",
        "source_record_id": "Q1",
        "occurred_at": "2024-03-01T10:00:00+08:00",
        "jurisdiction": "210102",
        "case_no": "A1",
        "id_number": record["id_number"],
        "measure": "CRIMINAL_DETENTION",
        "action": "START",
    }
    assert to_event(detention, KEY, 0).body["request_limit_days"] == 3


def test_birth_date_after_the_record_is_invalid() -> None:
    from datetime import date

    future_born = make_id_number("210102", date(2024, 3, 5), 11)
    with pytest.raises(RecordError, match="id_number: impossible birth date 20240305"):
        to_event(_alcohol(id_number=future_born), KEY, 0)


def test_integers_beyond_avro_int_are_rejected_not_crashed_on() -> None:
    from datetime import date

    record = {
        "type": "court.commutation_ruled", "source": "court:210100", "source_record_id": "R1",
        "occurred_at": "2024-03-01T10:00:00+08:00", "jurisdiction": "210100", "ruling_no": "R1", "case_no": "C1",
        "id_number": make_id_number("210102", date(1985, 3, 17), 241), "reduced_months": 2**31,
    }
    with pytest.raises(RecordError, match="reduced_months: too large"):
        to_event(record, KEY, 0)
