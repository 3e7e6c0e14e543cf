"""Unit tests for ``jiandu.simulate``: the synthetic histories and their planted leads."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
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
from jiandu.simulate.ledger import MODELS, Ledger

KEY = b"conformance-key"
START = datetime(2024, 1, 1, tzinfo=CST)
M02_TRIGGERS = ("court.parole_granted", "court.outside_execution_approved")
STATUSES = ("OPEN", "RESOLVED", "PENDING")
Record = dict[str, Any]


@cache
def _history(seed: int = 5, persons: int = 300) -> History:
    return generate_history(seed=seed, persons=persons, start=START)


def _valid(history: History) -> list[Record]:
    invalid = set(history.invalid_lines)
    return [r for line, r in enumerate(history.records, 1) if line not in invalid]  # type: ignore[misc]


def _cst(text: str) -> datetime:
    return parse_datetime(text).astimezone(CST)


def _at(record: Record) -> datetime:
    return _cst(record["occurred_at"])


def _event_id(record: Record) -> str:
    return f"{record['source']}/{record['type']}/{record['source_record_id']}"


def _is_m02_trigger(record: Record) -> bool:
    return record["type"] in M02_TRIGGERS or (
        record["type"] == "court.judgment_effective" and record["sentence_type"] in ("PROBATION", "CONTROL")
    )


def _due(at: datetime, days: int) -> datetime:
    return datetime.combine(at.date() + timedelta(days=days + 1), datetime.min.time(), CST)


class _Index:
    """The valid records of a history by event id, by type and by person, and its planted leads by model."""

    def __init__(self, history: History) -> None:
        self.history = history
        self._keys = Pseudonymiser(KEY)
        self.by_id: dict[str, Record] = {}
        self.by_type: dict[str, list[Record]] = defaultdict(list)
        self.by_person: dict[str, list[Record]] = defaultdict(list)
        for record in _valid(history):
            if self.by_id.setdefault(_event_id(record), record) is not record:
                continue  # an exact re-send
            self.by_type[record["type"]].append(record)
            for person in self.persons(record):
                self.by_person[person].append(record)
        self.leads: dict[str, list[Record]] = defaultdict(list)
        for lead in history.expected_leads:
            self.leads[lead["model_id"]].append(lead)

    def key(self, id_number: str) -> str:
        return self._keys.person_key(id_number)

    def persons(self, record: Record) -> list[str]:
        numbers = (
            [record["id_number"]] if "id_number" in record else [s["id_number"] for s in record.get("suspects", ())]
        )
        return [self.key(n) for n in numbers]

    def of(self, person: str, record_type: str) -> list[Record]:
        return [r for r in self.by_person[person] if r["type"] == record_type]

    def trigger(self, lead: Record) -> Record:
        return self.by_id[lead["trigger_event_id"]]


@cache
def _index() -> _Index:
    return _Index(_history())


def _leads(model: str, status: str | None = None, finding: str | None = None) -> Iterator[Record]:
    for lead in _index().leads[model]:
        if (status is None or lead["status"] == status) and (finding is None or lead["finding"] == finding):
            yield lead


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
    history.expected_to_jsonl(tmp_path / "open.jsonl")
    history.expected_to_jsonl(tmp_path / "all.jsonl", all_statuses=True)
    lines = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(history.records)
    assert all(
        line == record if isinstance(record, str) else json.loads(line) == record
        for line, record in zip(lines, history.records, strict=True)
    )
    assert any("辽" in line for line in lines)  # ensure_ascii=False
    opened = [json.loads(line) for line in (tmp_path / "open.jsonl").read_text(encoding="utf-8").splitlines()]
    assert opened == history.open_leads == [lead for lead in history.expected_leads if lead["status"] == "OPEN"]
    every = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    assert every == history.expected_leads


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
    first: dict[str, Record] = {}
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
    shapes = (
        "exact_resend",
        "corrected_resend",
        "timestamp_utc_z",
        "timestamp_no_offset",
        "recorded_later",
        "m05_limit_omitted",
        "lower_case_x",
        "legacy_15_digit_id",
    )
    missing += [name for name in shapes if planted[name] == 0]
    assert missing == []


def test_every_model_has_storylines_and_planted_leads_of_every_kind() -> None:
    prefixes = {name.split("_", 1)[0].upper() for name in MANDATORY_STORYLINES}
    assert prefixes == set(MODELS)
    statuses = Counter((lead["model_id"], lead["status"]) for lead in _history().expected_leads)
    assert [model for model in MODELS if not statuses[model, "OPEN"]] == []
    without_lawful = {"M03", "M11", "M12", "M14"}  # raised at once: a lawful case makes no lead at all
    assert [m for m in MODELS if m not in without_lawful and not statuses[m, "RESOLVED"] + statuses[m, "PENDING"]] == []


def test_small_histories_still_plant_every_defect() -> None:
    planted = generate_history(seed=9, persons=20, start=START, days=30).planted
    assert all(planted[f"invalid_{kind}"] >= 1 for kind in DEFECTS)


def test_records_arrive_in_daily_batches_with_late_uploads_and_unsorted_batches() -> None:
    records = [r for r in _valid(_history()) if "occurred_at" in r]
    days = [_at(r).date() for r in records]
    newest = days[0]
    late = 0
    for day in days:
        late += (newest - day).days >= 14
        newest = max(newest, day)
    assert late > 0
    unsorted = sum(a["source"] == b["source"] and _at(a) > _at(b) for a, b in itertools.pairwise(records))
    assert unsorted > 0


def test_older_records_come_first_as_a_first_export_carries_them() -> None:
    """Admissions, judgments and lawsuits from before the timeline, uploaded on their own day."""
    records = [r for r in _valid(_history()) if "occurred_at" in r]
    older = [r for r in records if _at(r) < START]
    assert {"prison.admitted", "court.judgment_effective", "court.civil_case_filed"} <= {r["type"] for r in older}
    first_recent = next(i for i, r in enumerate(records) if _at(r) >= START)
    assert all(_at(r) < START + timedelta(days=1) for r in records[:first_recent])
    assert min(_at(r) for r in older) > START - timedelta(days=10 * 366)


# --- deadlines and the M02/M05 leads ----------------------------------------------------------


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
    for lead in _leads("M02"):
        local = _at(_index().trigger(lead)).date()
        assert lead["due_at"] == f"{local + timedelta(days=11)}T00:00:00+08:00"


def test_enrolment_boundaries_decide_the_m02_leads() -> None:
    """23:59:59 of date(T)+10 closes the lead; 00:00:00 of date(T)+11 and anything before T do not."""
    history = _history()
    status = {e["trigger_event_id"]: e["status"] for e in _leads("M02")}
    valid = _valid(history)
    enrolments: dict[str, list[datetime]] = {}
    for record in valid:
        if record["type"] == "correction.enrolled":
            enrolments.setdefault(record["id_number"].upper(), []).append(_at(record))
    outcomes: Counter[str] = Counter()
    for trigger in filter(_is_m02_trigger, valid):
        at = _at(trigger)
        due = _due(at, 10)
        closed = [e for e in enrolments.get(trigger["id_number"].upper(), []) if at <= e < due]
        expected = "RESOLVED" if closed else "OPEN" if due <= history.clock_end else "PENDING"
        assert status[_event_id(trigger)] == expected
        outcomes["closed at 23:59:59"] += any(due - e <= timedelta(seconds=1) for e in closed)
        outcomes["open at 00:00:00"] += due in enrolments.get(trigger["id_number"].upper(), [])
    assert outcomes["closed at 23:59:59"] > 0
    assert outcomes["open at 00:00:00"] > 0


def test_a_detention_due_exactly_at_the_clock_end_is_open() -> None:
    history = _history()
    clock_end = history.clock_end.isoformat()
    assert any(e["model_id"] == "M05" and e["due_at"] == clock_end for e in history.open_leads)
    assert all(e["due_at"] is None or e["due_at"] <= clock_end for e in history.open_leads)
    assert all(e["due_at"] > clock_end for e in history.expected_leads if e["status"] == "PENDING")


def test_subject_jurisdiction_and_case_number_come_from_the_records() -> None:
    index = _index()
    for lead in _history().expected_leads:
        trigger = index.trigger(lead)
        assert lead["jurisdiction"] == trigger["jurisdiction"]
        model, subject = lead["model_id"], lead["subject"]
        if model == "M11":
            parties = [
                index.key(p["id_number"]) if "id_number" in p else p["credit_code"] for p in trigger["plaintiffs"]
            ]
            assert subject["key"] in parties
        elif model == "M10":
            party = trigger["party"]
            assert subject["key"] == (index.key(party["id_number"]) if "id_number" in party else party["credit_code"])
        else:
            assert subject == {"kind": "PERSON", "key": index.persons(trigger)[0]} or subject["key"] in index.persons(
                trigger
            )
        if model in ("M01", "M11", "M12", "M14"):
            assert lead["case_no"] is None
        elif model == "M10":
            assert lead["case_no"] == trigger["admin_case_no"]
        elif model not in ("M04", "M09"):  # those carry the enrolment's and the approval's case number
            assert lead["case_no"] == trigger["case_no"]


def test_write_sample_ends_about_two_days_before_now(tmp_path: Path) -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=CST)
    path = tmp_path / "sample.jsonl"
    write_sample(path, now=now)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if _parses(line)]
    stamps = [to_ms(parse_datetime(r["occurred_at"])) for r in records if _has_datetime(r)]
    assert max(stamps) < to_ms(now - timedelta(days=2))
    recent = [s for s in stamps if s >= to_ms(now - timedelta(days=71))]
    assert len(recent) > 0.7 * len(stamps)  # the rest: older admissions, judgments, lawsuits


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _has_datetime(record: Record) -> bool:
    try:
        parse_datetime(record.get("occurred_at"))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    return True


# --- each model's storylines wrote what they claim -------------------------------------------


def _boundary_follow_ups(model: str, follow_type: str, days: int) -> Counter[str]:
    """Statuses of the model's leads whose person has a follow-up at the last instant before / at the deadline."""
    index = _index()
    seen: Counter[str] = Counter()
    for lead in _leads(model):
        at = _at(index.trigger(lead))
        due = _due(at, days)
        for follow in index.of(lead["subject"]["key"], follow_type):
            gap = due - _at(follow)
            if gap in (timedelta(seconds=1), timedelta(milliseconds=1)):
                seen[f"last instant {lead['status']}"] += 1
            elif gap == timedelta(0):
                seen[f"deadline {lead['status']}"] += 1
    return seen


@pytest.mark.parametrize(
    ("model", "follow_type", "days"),
    [
        ("M01", "police.case_filed", 30),
        ("M04", "correction.leave_approved", 1),
        ("M06", "procuratorate.arrest_decided", 7),
        ("M08", "court.execution_filed", 30),
        ("M09", "correction.medical_review", 90),
    ],
)
def test_a_follow_up_at_the_last_second_closes_and_one_at_the_deadline_does_not(
    model: str, follow_type: str, days: int
) -> None:
    seen = _boundary_follow_ups(model, follow_type, days)
    if model == "M09":  # intervals of 60 or 90 days: look at both
        seen += _boundary_follow_ups(model, follow_type, 60)
    assert seen["last instant RESOLVED"] > 0
    assert seen["deadline OPEN"] > 0
    assert seen["last instant OPEN"] == seen["deadline RESOLVED"] == 0


def test_m01_only_drunk_drivers_have_leads_and_a_penalty_without_filing_is_high() -> None:
    index = _index()
    planted = {lead["trigger_event_id"] for lead in _leads("M01")}
    for test in index.by_type["police.alcohol_test"]:
        assert (_event_id(test) in planted) == (Decimal(str(test["bac_mg_per_100ml"])) >= 80)
    levels = {str(t["bac_mg_per_100ml"]) for t in index.by_type["police.alcohol_test"]}
    assert "79.9" in levels and levels & {"80", "80.0", "80.00"}
    for lead in _leads("M01", finding="PENALTY_INSTEAD_OF_PROSECUTION"):
        assert lead["severity"] == "HIGH" and lead["status"] in ("OPEN", "PENDING")
        assert index.of(lead["subject"]["key"], "police.admin_penalty")


def test_m03_every_reoffending_suspect_on_probation_has_a_lead() -> None:
    index = _index()
    by_trigger: dict[str, list[str]] = defaultdict(list)
    for lead in _leads("M03"):
        by_trigger[lead["trigger_event_id"]].append(lead["subject"]["key"])
        at = _at(index.trigger(lead))
        assert any(_at(e) <= at for e in index.of(lead["subject"]["key"], "correction.enrolled"))
    assert max(len(subjects) for subjects in by_trigger.values()) >= 2  # one case, two suspects on probation
    assert any(
        _at(index.trigger(lead)) in [_at(e) for e in index.of(lead["subject"]["key"], "correction.enrolled")]
        for lead in _leads("M03")
    )  # enrolled at the very instant


def test_m04_leads_are_hotel_stays_outside_the_permitted_city() -> None:
    index = _index()
    for lead in _leads("M04"):
        lodging = index.trigger(lead)
        (enrolment,) = index.of(lead["subject"]["key"], "correction.enrolled")
        assert lodging["city_code"] != enrolment["permitted_city"]
        assert lead["case_no"] == enrolment["case_no"]
    # "210102" is not "210100": city codes are compared as exact strings
    assert any(not index.trigger(lead)["city_code"].endswith("00") for lead in _leads("M04", "OPEN"))


def test_m07_status_follows_fine_and_payments_at_or_before_the_proposal() -> None:
    index = _index()
    payments_after = 0
    for lead in _leads("M07"):
        proposal = index.trigger(lead)
        person = lead["subject"]["key"]
        (verdict,) = [j for j in index.of(person, "court.judgment_effective") if j["case_no"] == proposal["case_no"]]
        paid = [p for p in index.of(person, "court.property_penalty_executed") if p["case_no"] == proposal["case_no"]]
        by_then = sum((Decimal(p["amount_cny"]) for p in paid if _at(p) <= _at(proposal)), Decimal(0))
        unpaid = Decimal(verdict["fine_cny"]) > by_then
        assert lead["status"] == (
            "RESOLVED" if not unpaid else "OPEN" if lead["due_at"] <= _history().clock_end.isoformat() else "PENDING"
        )
        payments_after += unpaid and any(_at(p) > _at(proposal) for p in paid)
    assert payments_after > 0


def test_m08_payments_before_the_judgment_do_not_count() -> None:
    index = _index()
    deposited = 0
    for lead in _leads("M08", "OPEN"):
        judgment = index.trigger(lead)
        paid = [
            p
            for p in index.of(lead["subject"]["key"], "court.property_penalty_executed")
            if p["case_no"] == judgment["case_no"]
        ]
        assert all(_at(p) < _at(judgment) or _at(p) >= _due(_at(judgment), 30) for p in paid)
        deposited += any(_at(p) < _at(judgment) for p in paid)
    assert deposited > 0


def test_m09_periods_start_with_approvals_and_qualifying_reviews() -> None:
    index = _index()
    for lead in _leads("M09"):
        trigger = index.trigger(lead)
        if lead["finding"] == "NOT_COMMITTED":
            assert trigger["type"] == "correction.medical_review" and trigger["still_qualifies"] is False
        else:
            assert trigger.get("reason", "ILLNESS") == "ILLNESS" and trigger.get("still_qualifies", True)
    assert {lead["status"] for lead in _leads("M09", finding="NOT_COMMITTED")} >= {"OPEN", "RESOLVED"}


def test_m10_every_row_of_the_threshold_table_is_planted_at_and_below_it() -> None:
    index = _index()
    planted = {lead["trigger_event_id"] for lead in _leads("M10")}
    rows = {"ENV_HAZARDOUS_WASTE_DUMPING": "quantity", "EMERGENCY_FATAL_ACCIDENT": "quantity"}
    at_threshold: Counter[str] = Counter()
    for penalty in index.by_type["admin.penalty_decided"]:
        field = rows.get(penalty["violation_code"], "amount_cny")
        value = penalty[field]
        if value is not None and Decimal(str(value)) in (
            Decimal(3),
            Decimal(1),
            Decimal(50000),
            Decimal(100000),
            Decimal(500000),
        ):
            at_threshold[penalty["violation_code"]] += _event_id(penalty) in planted
    assert len(at_threshold) == 6 and all(at_threshold.values())
    assert _history().planted["m10_tonnage_ignores_amount"] and _history().planted["m10_amount_ignores_quantity"]


def test_m11_leads_need_five_filings_within_365_days() -> None:
    index = _index()
    filings: dict[str, list[datetime]] = defaultdict(list)
    for filing in index.by_type["court.civil_case_filed"]:
        if filing["cause"] == "PRIVATE_LENDING":
            for party in filing["plaintiffs"]:
                filings[index.key(party["id_number"]) if "id_number" in party else party["credit_code"]].append(
                    _at(filing)
                )
    planted = {lead["subject"]["key"] for lead in _leads("M11")}
    gaps: Counter[str] = Counter()
    for plaintiff, instants in filings.items():
        instants.sort()
        for first, fifth in zip(instants, instants[4:], strict=False):
            gap = fifth - first
            if gap == timedelta(days=365):
                gaps[f"exactly {plaintiff in planted}"] += 1
            elif gap == timedelta(days=365, seconds=1):
                gaps[f"one second more {plaintiff in planted}"] += 1
    assert gaps["exactly True"] > 0 and gaps["one second more False"] > 0
    assert all(len(filings[p]) >= 5 for p in planted)


def test_m12_the_earliest_death_counts() -> None:
    index = _index()
    several = [
        p
        for p, records in index.by_person.items()
        if len([r for r in records if r["type"] == "police.death_registered"]) > 1
    ]
    assert several
    planted = {lead["subject"]["key"] for lead in _leads("M12")}
    assert set(several) <= planted
    for lead in _leads("M12"):
        payment = index.trigger(lead)
        died = min(r["died_on"] for r in index.of(lead["subject"]["key"], "police.death_registered"))
        assert payment["period"] > died[:7]


def test_m13_findings_match_the_release_reason() -> None:
    index = _index()
    for lead in _leads("M13"):
        trigger = index.trigger(lead)
        if lead["finding"] == "NOT_RELEASED":
            assert trigger["type"] == "prison.admitted" and trigger["sentence_end"]
        else:
            reasons = ("SENTENCE_COMPLETED",) if lead["finding"] == "EARLY_RELEASE" else ("PAROLE", "OUTSIDE_EXECUTION")
            assert trigger["type"] == "prison.released" and trigger["reason"] in reasons
    on_time = {_at(index.trigger(lead)).date() for lead in _leads("M13", "RESOLVED", "EARLY_RELEASE")}
    assert on_time & {date(2024, 2, 29), date(2024, 4, 30)}  # 31 March or 31 May minus one month, clamped


def test_m14_severity_depends_on_the_incident() -> None:
    index = _index()
    severity = {index.trigger(lead)["kind"]: lead["severity"] for lead in _leads("M14")}
    assert severity == {"DEATH": "HIGH", "ESCAPE": "HIGH", "SERIOUS_INJURY": "MEDIUM"}


# --- against independent implementations (checks, never imported by the generator) ------------


def test_planted_leads_agree_with_the_reference_oracle() -> None:
    """Every planted lead is the oracle's, status included; every lead the oracle has OPEN is planted."""
    from jiandu.simulate.oracle import expected_leads

    history = _history()
    oracle = expected_leads(history.records, pseudonym_key=KEY, clock_end=history.clock_end)
    fields = ("finding", "severity", "department", "subject", "case_no", "due_at", "status")

    def identity(lead: Record) -> tuple[str, ...]:
        if lead["model_id"] in ("M11", "M12"):
            return (lead["model_id"], lead["subject"]["key"])
        return (lead["model_id"], lead["trigger_event_id"], lead["finding"], lead["subject"]["key"])

    theirs = {identity(lead): {f: lead[f] for f in fields} for lead in oracle}
    ours = {identity(lead): {f: lead[f] for f in fields} for lead in history.expected_leads}
    assert {k: v for k, v in ours.items() if theirs.get(k) != v} == {}
    assert sorted(k for k, v in theirs.items() if v["status"] == "OPEN" and k not in ours) == []


def test_expected_leads_match_batch_engine() -> None:
    from jiandu.models import ModelEngine, load_catalogue
    from jiandu.models.batch import evaluate_history

    history = generate_history(seed=11, persons=500, start=START)
    pseudonymiser = Pseudonymiser(KEY)
    events = [to_event(record, pseudonymiser, 0) for record in _valid(history)]
    clock_end = to_ms(history.clock_end)
    leads = evaluate_history(ModelEngine(load_catalogue()), events, clock_end, clock_end)
    fields = ("model_id", "trigger_event_id", "finding", "severity", "department", "subject", "due_at")
    models = ("M02", "M05")

    def key(lead: Record) -> tuple[str, ...]:
        return tuple(json.dumps(lead[f], sort_keys=True, ensure_ascii=False) for f in fields)

    engine = {key(lead.to_json()) for lead in leads if lead.status == "OPEN" and lead.model_id in models}
    expected = {key(lead) for lead in history.open_leads if lead["model_id"] in models}
    assert sorted(expected - engine) == []
    assert sorted(engine - expected) == []
    assert len(expected) > 20


# Calendar days on which date arithmetic breaks first: month ends, a leap day, New Year, a
# year after a leap year, and the day the run sample once had no invalid pushed record.
CALENDAR = ("2024-02-29", "2024-03-31", "2024-12-31", "2025-01-01", "2025-02-28", "2026-12-07", "2027-06-30")


@pytest.mark.parametrize("day", CALENDAR)
def test_the_run_sample_has_accepted_and_rejected_records_on_every_way_in_whatever_the_date(
    tmp_path: Path, day: str
) -> None:
    from jiandu.cli.run import split_sample

    path = tmp_path / "sample.jsonl"
    write_sample(path, now=datetime.fromisoformat(f"{day}T09:30:00+08:00"))
    feeds = split_sample(path)
    pseudonymiser = Pseudonymiser(KEY)
    for way, records in (("pushed", feeds.pushed), ("pulled", feeds.pulled)):
        verdicts = Counter(_accepted(record, pseudonymiser) for record in records)
        assert verdicts[True] > 0 and verdicts[False] > 0, f"{day}, {way}: {verdicts}"
    assert feeds.malformed, day


def _accepted(record: Record, pseudonymiser: Pseudonymiser) -> bool:
    try:
        to_event(record, pseudonymiser, 0)
    except RecordError:
        return False
    return True
