"""Unit tests for ``jiandu.simulate``: the synthetic histories and their planted leads."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from jiandu.core.identity import Pseudonymiser
from jiandu.core.timeutil import CST, parse_datetime, to_ms
from jiandu.core.validation import to_event
from jiandu.errors import RecordError
from jiandu.simulate import History, generate_history, write_sample
from jiandu.simulate.breakage import DEFECTS
from jiandu.simulate.generator import MANDATORY_STORYLINES
from jiandu.simulate.ledger import Ledger

KEY = b"conformance-key"
START = datetime(2024, 1, 1, tzinfo=CST)
M02_TRIGGERS = ("court.parole_granted", "court.outside_execution_approved")


@cache
def _history(seed: int = 5, persons: int = 300) -> History:
    return generate_history(seed=seed, persons=persons, start=START)


def _valid(history: History) -> list[dict[str, Any]]:
    invalid = set(history.invalid_lines)
    return [r for line, r in enumerate(history.records, 1) if line not in invalid]  # type: ignore[misc]


def _cst(text: str) -> datetime:
    return parse_datetime(text).astimezone(CST)


def _event_id(record: dict[str, Any]) -> str:
    return f"{record['source']}/{record['type']}/{record['source_record_id']}"


def _is_m02_trigger(record: dict[str, Any]) -> bool:
    return record["type"] in M02_TRIGGERS or (
        record["type"] == "court.judgment_effective" and record["sentence_type"] in ("PROBATION", "CONTROL")
    )


# --- shape and determinism ------------------------------------------------------------------


def test_same_seed_gives_identical_output(tmp_path: Path) -> None:
    first = generate_history(seed=3, persons=60, start=START)
    second = generate_history(seed=3, persons=60, start=START)
    first.to_jsonl(tmp_path / "a.jsonl")
    second.to_jsonl(tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first.invalid_lines == second.invalid_lines
    assert first.expected_leads == second.expected_leads
    assert first.planted == second.planted


def test_another_seed_gives_another_history() -> None:
    assert generate_history(seed=4, persons=60, start=START).records != _history(3, 60).records


def test_clock_end_is_midnight_cst_20_days_after_the_timeline() -> None:
    history = generate_history(seed=1, persons=30, start=datetime(2024, 3, 1, 10, 30, tzinfo=CST), days=40)
    assert history.clock_end == datetime(2024, 4, 30, tzinfo=CST)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_history(seed=1, persons=10, start=datetime(2024, 1, 1))  # noqa: DTZ001


def test_writers_produce_one_utf8_line_per_record(tmp_path: Path) -> None:
    history = _history()
    history.to_jsonl(tmp_path / "records.jsonl")
    history.expected_to_jsonl(tmp_path / "leads.jsonl")
    lines = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(history.records)
    assert all(
        line == record if isinstance(record, str) else json.loads(line) == record
        for line, record in zip(lines, history.records, strict=True)
    )
    assert any("辽" in line for line in lines)  # ensure_ascii=False
    leads = (tmp_path / "leads.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in leads] == history.expected_leads


# --- validity --------------------------------------------------------------------------------


def test_invalid_lines_are_about_the_requested_rate() -> None:
    history = _history()
    rate = len(history.invalid_lines) / len(history.records)
    assert 0.005 <= rate <= 0.02


def test_no_invalid_lines_when_the_rate_is_zero() -> None:
    history = generate_history(seed=2, persons=120, start=START, invalid_rate=0)
    assert history.invalid_lines == []
    assert all(isinstance(r, dict) for r in history.records)


def test_every_valid_record_becomes_an_event() -> None:
    pseudonymiser = Pseudonymiser(KEY)
    for record in _valid(_history()):
        to_event(record, pseudonymiser, 0)


def test_every_planted_invalid_line_is_rejected() -> None:
    history = _history()
    pseudonymiser = Pseudonymiser(KEY)
    for line in history.invalid_lines:
        record = history.records[line - 1]
        if isinstance(record, str):
            with pytest.raises(ValueError):
                json.loads(record)
        else:
            with pytest.raises(RecordError):
                to_event(record, pseudonymiser, 0)


def test_exact_resends_are_identical_to_the_first_copy() -> None:
    first: dict[str, dict[str, Any]] = {}
    resent = 0
    for record in _valid(_history()):
        previous = first.setdefault(_event_id(record), record)
        if previous is not record:
            assert previous == record
            resent += 1
    assert resent >= _history().planted["exact_resend"]


# --- what is planted -------------------------------------------------------------------------


def test_every_storyline_and_defect_is_planted() -> None:
    planted = _history().planted
    missing = [name for name in MANDATORY_STORYLINES if planted[name] == 0]
    missing += [f"invalid_{kind}" for kind in DEFECTS if planted[f"invalid_{kind}"] == 0]
    shapes = ("exact_resend", "corrected_resend", "timestamp_utc_z", "timestamp_no_offset", "recorded_later",
              "m05_limit_omitted", "lower_case_x", "legacy_15_digit_id")
    missing += [name for name in shapes if planted[name] == 0]
    assert missing == []


def test_small_histories_still_plant_every_defect() -> None:
    planted = generate_history(seed=9, persons=20, start=START, days=30).planted
    assert all(planted[f"invalid_{kind}"] >= 1 for kind in DEFECTS)


def test_records_arrive_in_daily_batches_with_late_uploads_and_unsorted_batches() -> None:
    records = [r for r in _valid(_history()) if "occurred_at" in r]
    days = [_cst(r["occurred_at"]).date() for r in records]
    newest = days[0]
    late = 0
    for day in days:
        late += (newest - day).days >= 14
        newest = max(newest, day)
    assert late > 0
    unsorted = sum(
        a["source"] == b["source"] and _cst(a["occurred_at"]) > _cst(b["occurred_at"])
        for a, b in itertools.pairwise(records)
    )
    assert unsorted > 0


# --- the oracle ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "days", "due"),
    [
        ("2024-03-03T23:59:59+08:00", 10, "2024-03-14T00:00:00+08:00"),
        ("2024-03-03T16:00:00Z", 10, "2024-03-15T00:00:00+08:00"),  # 00:00 CST on the 4th
        ("2024-02-26T08:00:00+08:00", 3, "2024-03-01T00:00:00+08:00"),  # across 29 February
    ],
)
def test_deadline_counts_like_the_criminal_procedure_law(trigger: str, days: int, due: str) -> None:
    ledger = Ledger(random.Random(0), date(2024, 1, 1), 120, KEY)
    assert ledger.due(parse_datetime(trigger), days).isoformat() == due


def test_m02_leads_are_due_at_midnight_eleven_days_after_the_trigger_date() -> None:
    history = _history()
    triggers = {_event_id(r): r for r in _valid(history) if _is_m02_trigger(r)}
    for lead in (e for e in history.expected_leads if e["model_id"] == "M02"):
        local = _cst(triggers[lead["trigger_event_id"]]["occurred_at"]).date()
        assert lead["due_at"] == f"{local + timedelta(days=11)}T00:00:00+08:00"


def test_enrolment_boundaries_decide_the_m02_leads() -> None:
    """23:59:59 of date(T)+10 closes the lead; 00:00:00 of date(T)+11 and anything before T do not."""
    history = _history()
    expected = {e["trigger_event_id"]: e for e in history.expected_leads}
    valid = _valid(history)
    enrolments: dict[str, list[datetime]] = {}
    for record in valid:
        if record["type"] == "correction.enrolled":
            enrolments.setdefault(record["id_number"].upper(), []).append(_cst(record["occurred_at"]))
    outcomes: Counter[str] = Counter()
    for trigger in filter(_is_m02_trigger, valid):
        at = _cst(trigger["occurred_at"])
        due = datetime.combine(at.date() + timedelta(days=11), datetime.min.time(), CST)
        if due > history.clock_end:
            assert _event_id(trigger) not in expected
            continue
        closed = [e for e in enrolments.get(trigger["id_number"].upper(), []) if at <= e < due]
        assert (_event_id(trigger) in expected) == (not closed)
        outcomes["closed at 23:59:59"] += any(due - e <= timedelta(seconds=1) for e in closed)
        outcomes["open at 00:00:00"] += due in enrolments.get(trigger["id_number"].upper(), [])
    assert outcomes["closed at 23:59:59"] > 0
    assert outcomes["open at 00:00:00"] > 0


def test_a_detention_due_exactly_at_the_clock_end_is_open() -> None:
    history = _history()
    clock_end = history.clock_end.isoformat()
    assert any(e["model_id"] == "M05" and e["due_at"] == clock_end for e in history.expected_leads)
    assert all(e["due_at"] <= clock_end for e in history.expected_leads)


def test_subject_is_the_pseudonym_of_the_normalised_id_number() -> None:
    history = _history()
    pseudonymiser = Pseudonymiser(KEY)
    triggers = {_event_id(r): r for r in _valid(history)}
    for lead in history.expected_leads:
        trigger = triggers[lead["trigger_event_id"]]
        assert lead["subject"] == {"kind": "PERSON", "key": pseudonymiser.person_key(trigger["id_number"])}
        assert lead["jurisdiction"] == trigger["jurisdiction"]
        assert lead["case_no"] == trigger["case_no"]


def test_write_sample_ends_about_two_days_before_now(tmp_path: Path) -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=CST)
    path = tmp_path / "sample.jsonl"
    write_sample(path, now=now)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if _parses(line)]
    stamps = [to_ms(parse_datetime(r["occurred_at"])) for r in records if _has_datetime(r)]
    assert max(stamps) < to_ms(now - timedelta(days=2))
    assert min(stamps) >= to_ms(now - timedelta(days=71))


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _has_datetime(record: dict[str, Any]) -> bool:
    try:
        parse_datetime(record.get("occurred_at"))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    return True


# --- against the project's batch evaluator (a check, never imported by the generator) ---------


def test_expected_leads_match_batch_engine() -> None:
    from jiandu.models import ModelEngine, load_catalogue
    from jiandu.models.batch import evaluate_history

    history = generate_history(seed=11, persons=200, start=START)
    pseudonymiser = Pseudonymiser(KEY)
    events = [to_event(record, pseudonymiser, 0) for record in _valid(history)]
    clock_end = to_ms(history.clock_end)
    leads = evaluate_history(ModelEngine(load_catalogue()), events, clock_end, clock_end)
    fields = ("model_id", "trigger_event_id", "finding", "severity", "department", "subject", "due_at")

    def key(lead: dict[str, Any]) -> tuple[str, ...]:
        return tuple(json.dumps(lead[f], sort_keys=True, ensure_ascii=False) for f in fields)

    engine = {key(lead.to_json()) for lead in leads if lead.status == "OPEN" and lead.model_id in ("M02", "M05")}
    expected = {key(lead) for lead in history.expected_leads}
    assert sorted(expected - engine) == []
    assert sorted(engine - expected) == []
    assert len(expected) > 20
