"""A plain reference implementation of the 14 supervision models, written from the spec alone.

``expected_leads`` evaluates every model of ``spec/models.md`` over a complete history as
of one hub clock and returns every *potential* lead in the format of the conformance file
``expected-leads.jsonl``: ``OPEN`` when the hub must end with the lead open, ``RESOLVED``
when closing evidence exists (or the checked state is lawful), ``PENDING`` when the
deadline had not passed by ``clock_end``.

It is the independent implementation the streaming engine is checked against, so it
shares nothing with ``jiandu.models``: no declarations, no incremental state, just the
whole data set grouped once by person (and case, party, administrative case) and every
model written out as a direct reading of its row in the catalogue. Input handling
(validation, pseudonymisation, CST time) is the hub's own, from ``jiandu.core``.

Readings where the spec leaves a boundary open are marked ``Reading:`` at the place they
are applied; the module docstring of ``tests/unit/test_oracle.py`` says which of them the
conformance vectors decide.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from jiandu.core.events import Event
from jiandu.core.identity import Pseudonymiser
from jiandu.core.timeutil import DAY_MS, add_months, deadline_after, format_cst, local_date, local_midnight_ms, to_ms
from jiandu.core.validation import to_event
from jiandu.errors import RecordError

__all__ = ["DEFAULT_PARAMS", "MODEL_IDS", "adjusted_sentence_end", "expected_leads", "load_history"]

Lead = dict[str, Any]
Params = Mapping[str, Any]

#: Every number a model uses, per model. ``expected_leads(params=...)`` overrides them key by key;
#: a table given for ``thresholds`` (M10) or ``severity`` (M14) replaces the whole default table.
DEFAULT_PARAMS: Mapping[str, Mapping[str, Any]] = {
    "M01": {"bac_threshold": Decimal("80"), "deadline_days": 30, "lookback_days": 30},
    "M02": {"deadline_days": 10},
    "M03": {},
    "M04": {"deadline_days": 1},
    "M05": {},  # request_limit_days: from the record (validation defaults it to 3) or the latest extension
    "M06": {"deadline_days": 7},
    "M07": {"evaluate_after_days": 3},
    "M08": {"deadline_days": 30},
    "M09": {"commit_deadline_days": 10},  # review_interval_days: from the ILLNESS approval (default 90)
    "M10": {
        "deadline_days": 4,
        # violation_code -> (the one field compared, the criminal threshold it must reach)
        "thresholds": {
            "ENV_HAZARDOUS_WASTE_DUMPING": ("quantity", Decimal("3")),
            "NR_ILLEGAL_MINING": ("amount_cny", Decimal("100000")),
            "MARKET_COUNTERFEIT_SALES": ("amount_cny", Decimal("50000")),
            "EMERGENCY_FATAL_ACCIDENT": ("quantity", Decimal("1")),
            "WATER_ILLEGAL_SAND_MINING": ("amount_cny", Decimal("100000")),
            "TAX_FALSE_INVOICE": ("amount_cny", Decimal("500000")),
        },
    },
    "M11": {"min_filings": 5, "window_days": 365},
    "M12": {},
    "M13": {"evaluate_after_days": 3, "release_grace_days": 1},
    "M14": {"severity": {"DEATH": "HIGH", "ESCAPE": "HIGH", "SERIOUS_INJURY": "MEDIUM"}},
}

MODEL_IDS: tuple[str, ...] = tuple(DEFAULT_PARAMS)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What every lead of a model shares."""

    name: str
    department: str
    severity: str


MODELS: Mapping[str, ModelInfo] = {
    "M01": ModelInfo("DUI_NOT_FILED", "侦查监督", "MEDIUM"),
    "M02": ModelInfo("CORRECTION_NOT_ENROLLED", "刑事执行检察", "HIGH"),
    "M03": ModelInfo("REOFFENSE_UNDER_CORRECTION", "刑事执行检察", "HIGH"),
    "M04": ModelInfo("UNAUTHORIZED_TRAVEL", "刑事执行检察", "MEDIUM"),
    "M05": ModelInfo("DETENTION_OVERDUE", "侦查监督", "HIGH"),
    "M06": ModelInfo("ARREST_REVIEW_OVERDUE", "案件管理", "HIGH"),
    "M07": ModelInfo("COMMUTATION_WITH_UNPAID_FINE", "刑事执行检察", "MEDIUM"),
    "M08": ModelInfo("FINE_NOT_EXECUTED", "刑事执行检察", "LOW"),
    "M09": ModelInfo("MEDICAL_REVIEW_OVERDUE", "刑事执行检察", "MEDIUM"),
    "M10": ModelInfo("ADMIN_CASE_NOT_TRANSFERRED", "行政检察", "HIGH"),
    "M11": ModelInfo("SERIAL_LENDING_PLAINTIFF", "民事检察", "MEDIUM"),
    "M12": ModelInfo("PENSION_AFTER_DEATH", "公益诉讼", "MEDIUM"),
    "M13": ModelInfo("RELEASE_MISMATCH", "刑事执行检察", "HIGH"),
    "M14": ModelInfo("CUSTODY_INCIDENT", "刑事执行检察", "HIGH"),
}

OPEN = "OPEN"
RESOLVED = "RESOLVED"
PENDING = "PENDING"
REASON_OVERDUE = "deadline passed without closing evidence"
REASON_CLOSED = "closing evidence exists"
REASON_NOT_YET_DUE = "deadline not yet passed"

_NEVER = 2**62  # an instant after every event


# --- reading event bodies -------------------------------------------------------------------------


def text(event: Event, name: str) -> str:
    """A string (or enum, division code, period) field."""
    return str(event.body[name])


def whole(event: Event, name: str) -> int:
    """An integer field."""
    value = event.body[name]
    assert isinstance(value, int)
    return value


def amount(event: Event, name: str) -> Decimal | None:
    """A decimal field (None when a nullable one is absent)."""
    value = event.body[name]
    assert value is None or isinstance(value, Decimal)
    return value


def money(event: Event, name: str) -> Decimal:
    """A required decimal field (kept as given: ``0.00`` stays ``0.00``)."""
    value = event.body[name]
    assert isinstance(value, Decimal)
    return value


def day(event: Event, name: str) -> date | None:
    """A date field (None when a nullable one is absent)."""
    value = event.body[name]
    assert value is None or isinstance(value, date)
    return value


def person_of(event: Event) -> str:
    """The ``person_key`` of an event about one person."""
    return text(event, "person_key")


def suspects_of(event: Event) -> list[str]:
    """The distinct suspects of a ``police.case_filed``."""
    suspects = event.body["suspects"]
    assert isinstance(suspects, list)
    return list(dict.fromkeys(str(s) for s in suspects))


def parties_of(event: Event, name: str) -> list[dict[str, str]]:
    """A list of ``{kind, key}`` parties."""
    parties = event.body[name]
    assert isinstance(parties, list)
    return [{"kind": str(p["kind"]), "key": str(p["key"])} for p in parties]


# --- the data set ---------------------------------------------------------------------------------


def _chronological(event: Event) -> tuple[int, str]:
    return event.occurred_at, event.event_id


def _occurred(event: Event) -> int:
    return event.occurred_at


@dataclass(slots=True)
class History:
    """Accepted events grouped once for every model; every list is sorted by ``(occurred_at, event_id)``."""

    by_type: dict[str, list[Event]] = field(default_factory=dict)
    by_person: dict[tuple[str, str], list[Event]] = field(default_factory=dict)

    def of_type(self, record_type: str) -> list[Event]:
        """Every event of a type."""
        return self.by_type.get(record_type, [])

    def of_person(self, person: str, record_type: str) -> list[Event]:
        """A person's events of a type (the person named by ``person_key`` or listed as a suspect)."""
        return self.by_person.get((person, record_type), [])

    def of_case(self, person: str, case_no: str, record_type: str) -> list[Event]:
        """A person's events of a type that carry a given ``case_no``."""
        return [e for e in self.of_person(person, record_type) if e.body["case_no"] == case_no]


def load_history(records: Iterable[Mapping[str, Any] | str], pseudonym_key: bytes) -> History:
    """Validate records exactly as the hub does.

    Malformed JSON and invalid records are skipped; of several valid records with one
    ``event_id`` the first in upload order wins (a rejected one does not use the id up).
    """
    pseudonymiser = Pseudonymiser(pseudonym_key)
    accepted: dict[str, Event] = {}
    for position, raw in enumerate(records):
        record = _parse(raw)
        if record is None:
            continue
        try:
            event = to_event(record, pseudonymiser, position)
        except RecordError:
            continue
        accepted.setdefault(event.event_id, event)
    by_type: dict[str, list[Event]] = defaultdict(list)
    by_person: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in sorted(accepted.values(), key=_chronological):
        by_type[event.type].append(event)
        for person in _persons_named(event):
            by_person[(person, event.type)].append(event)
    return History(dict(by_type), dict(by_person))


def _parse(raw: Mapping[str, Any] | str) -> Mapping[str, Any] | None:
    if not isinstance(raw, str):
        return raw
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _persons_named(event: Event) -> list[str]:
    if "person_key" in event.body:
        return [person_of(event)]
    if event.type == "police.case_filed":
        return suspects_of(event)
    return []


def within(events: Sequence[Event], start: int | None, due_at: int) -> list[Event]:
    """The events of a chronologically sorted list with ``start <= occurred_at < due_at``.

    ``start`` None means unlimited lookback.
    """
    low = 0 if start is None else bisect.bisect_left(events, start, key=_occurred)
    high = bisect.bisect_left(events, due_at, key=_occurred)
    return list(events[low:high])


def merged(*groups: Iterable[Event]) -> list[Event]:
    """Several event lists as one chronologically sorted list."""
    return sorted((e for group in groups for e in group), key=_chronological)


def _group(events: Iterable[Event], key: Callable[[Event], object]) -> dict[object, list[Event]]:
    groups: dict[object, list[Event]] = defaultdict(list)
    for event in events:
        value = key(event)
        if value is not None:
            groups[value].append(event)
    return groups


# --- lead building --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """The status of a potential lead and the events that decided it."""

    status: str
    reason: str
    closing: Sequence[Event] = ()
    closed_at: int | None = None


def deadline_outcome(due_at: int, closing: Sequence[Event], clock_end: int) -> Outcome:
    """Complete-data status of a deadline lead: RESOLVED by any follow-up, else OPEN once due, else PENDING."""
    if closing:
        return Outcome(RESOLVED, REASON_CLOSED, closing, min(e.occurred_at for e in closing))
    if due_at <= clock_end:
        return Outcome(OPEN, REASON_OVERDUE)
    return Outcome(PENDING, REASON_NOT_YET_DUE)


def check_outcome(violated: bool, evaluated_at: int, clock_end: int, violation: str, lawful: str) -> Outcome:
    """Status of a state check evaluated at ``evaluated_at`` (M07, M13): OPEN once evaluated and violated."""
    if not violated:
        return Outcome(RESOLVED, lawful)
    if evaluated_at <= clock_end:
        return Outcome(OPEN, violation)
    return Outcome(PENDING, REASON_NOT_YET_DUE)


def _person(key: str) -> dict[str, str]:
    return {"kind": "PERSON", "key": key}


def _lead(
    model_id: str,
    trigger: Event,
    subject: Mapping[str, str],
    outcome: Outcome,
    *,
    evidence: Iterable[Event] = (),
    case_no: str | None = None,
    due_at: int | None = None,
    finding: str | None = None,
    severity: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Lead:
    """One lead in the conformance format.

    The evidence is the trigger, then the supporting ``evidence``, then the closing events.
    """
    info = MODELS[model_id]
    lead: Lead = {
        "model_id": model_id,
        "finding": finding or info.name,
        "severity": severity or info.severity,
        "department": info.department,
        "jurisdiction": trigger.jurisdiction,
        "subject": dict(subject),
        "trigger_event_id": trigger.event_id,
        "case_no": case_no,
        "due_at": None if due_at is None else format_cst(due_at),
        "status": outcome.status,
        "status_reason": outcome.reason,
        "evidence": list(dict.fromkeys(e.event_id for e in (trigger, *evidence, *outcome.closing))),
    }
    if outcome.closed_at is not None:
        lead["closed_at"] = format_cst(outcome.closed_at)
    lead.update(details or {})
    return lead


def decimal_text(value: Decimal) -> str:
    """An amount as the hub knows it: decimal(18,2), so ``124000.00`` even when the record said ``124000``."""
    return str(value)


# --- M01 DUI not filed ----------------------------------------------------------------------------


def m01_dui_not_filed(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for test in history.of_type("police.alcohol_test"):
        bac = amount(test, "bac_mg_per_100ml")
        if bac is None or bac < p["bac_threshold"]:
            continue
        person = person_of(test)
        start = test.occurred_at - p["lookback_days"] * DAY_MS
        due_at = deadline_after(test.occurred_at, p["deadline_days"])
        filings = within(history.of_person(person, "police.case_filed"), start, due_at)
        outcome = deadline_outcome(due_at, filings, clock_end)
        penalties = within(history.of_person(person, "police.admin_penalty"), start, due_at)
        if outcome.status == RESOLVED or not penalties:
            # Reading (vectors): a filing closes the lead as DUI_NOT_FILED even when a penalty was also imposed
            yield _lead("M01", test, _person(person), outcome, due_at=due_at)
        else:
            yield _lead(
                "M01",
                test,
                _person(person),
                outcome,
                evidence=penalties,
                due_at=due_at,
                finding="PENALTY_INSTEAD_OF_PROSECUTION",
                severity="HIGH",
            )


# --- M02 correction not enrolled ------------------------------------------------------------------


def m02_correction_not_enrolled(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for trigger in _m02_triggers(history):
        person = person_of(trigger)
        due_at = deadline_after(trigger.occurred_at, p["deadline_days"])
        # lookback 0: an enrolment at the trigger's very instant counts, one before it does not
        enrolments = within(history.of_person(person, "correction.enrolled"), trigger.occurred_at, due_at)
        outcome = deadline_outcome(due_at, enrolments, clock_end)
        yield _lead("M02", trigger, _person(person), outcome, case_no=text(trigger, "case_no"), due_at=due_at)


def _m02_triggers(history: History) -> Iterator[Event]:
    for judgment in history.of_type("court.judgment_effective"):
        if judgment.body["sentence_type"] in ("PROBATION", "CONTROL"):
            yield judgment
    yield from history.of_type("court.parole_granted")
    yield from history.of_type("court.outside_execution_approved")


# --- community correction state (M03, M04) --------------------------------------------------------


def enrolment_at(history: History, person: str, instant: int) -> Event | None:
    """The enrolment under which a person is under community correction at ``instant``, or None.

    Reading: the state at an instant is the result of every enrolment and termination at or
    before it, so an enrolment at exactly the instant counts and a termination at exactly
    the instant has already ended the correction. ``term_end`` ends nothing.
    """
    enrolments = history.of_person(person, "correction.enrolled")
    count = bisect.bisect_right(enrolments, instant, key=_occurred)
    if count == 0:
        return None
    latest = enrolments[count - 1]
    terminations = history.of_person(person, "correction.terminated")
    ended = within(terminations, latest.occurred_at, instant + 1)
    return None if ended else latest


# --- M03 reoffence under correction ---------------------------------------------------------------


def m03_reoffense_under_correction(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for trigger, person in _m03_triggers(history):
        enrolment = enrolment_at(history, person, trigger.occurred_at)
        if enrolment is not None:
            outcome = Outcome(OPEN, "person under community correction")
            yield _lead(
                "M03", trigger, _person(person), outcome, evidence=[enrolment], case_no=text(trigger, "case_no")
            )


def _m03_triggers(history: History) -> Iterator[tuple[Event, str]]:
    for filing in history.of_type("police.case_filed"):
        for suspect in suspects_of(filing):
            yield filing, suspect
    for measure in history.of_type("police.coercive_measure"):
        if measure.body["action"] == "START":
            yield measure, person_of(measure)


# --- M04 unauthorised travel ----------------------------------------------------------------------


def m04_unauthorized_travel(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for lodging in history.of_type("police.lodging"):
        person = person_of(lodging)
        enrolment = enrolment_at(history, person, lodging.occurred_at)
        city = text(lodging, "city_code")
        if enrolment is None or city == text(enrolment, "permitted_city"):
            continue
        due_at = deadline_after(lodging.occurred_at, p["deadline_days"])
        leaves = [
            leave
            for leave in within(history.of_person(person, "correction.leave_approved"), None, due_at)
            if text(leave, "dest_city") == city and _covers(leave, local_date(lodging.occurred_at))
        ]
        outcome = deadline_outcome(due_at, leaves, clock_end)
        yield _lead(
            "M04",
            lodging,
            _person(person),
            outcome,
            evidence=[enrolment],
            case_no=text(enrolment, "case_no"),
            due_at=due_at,
        )


def _covers(leave: Event, lodging_day: date) -> bool:
    start, end = day(leave, "start_date"), day(leave, "end_date")
    return start is not None and end is not None and start <= lodging_day <= end


# --- M05 detention overdue ------------------------------------------------------------------------


def m05_detention_overdue(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for detention in history.of_type("police.coercive_measure"):
        if not _is_measure(detention, "CRIMINAL_DETENTION", "START"):
            continue
        person, case_no = person_of(detention), text(detention, "case_no")
        extensions = _m05_extensions(history, detention, person, case_no)
        limit = whole(extensions[-1] if extensions else detention, "request_limit_days")  # the latest wins
        due_at = deadline_after(detention.occurred_at, limit)
        closing = within(_m05_follow_ups(history, person, case_no), detention.occurred_at, due_at)
        outcome = deadline_outcome(due_at, closing, clock_end)
        yield _lead(
            "M05",
            detention,
            _person(person),
            outcome,
            evidence=extensions,
            case_no=case_no,
            due_at=due_at,
            details={"request_limit_days": limit},
        )


def _is_measure(event: Event, measure: str, action: str) -> bool:
    return event.body["measure"] == measure and event.body["action"] == action


def _m05_extensions(history: History, detention: Event, person: str, case_no: str) -> list[Event]:
    """Extensions of this detention: same person and case, from the detention until the next detention starts.

    Reading: an extension that occurs after the deadline still raises it ("latest wins").
    """
    redetentions = [
        e.occurred_at
        for e in history.of_case(person, case_no, "police.coercive_measure")
        if _is_measure(e, "CRIMINAL_DETENTION", "START") and e.occurred_at > detention.occurred_at
    ]
    until = redetentions[0] if redetentions else _NEVER
    return within(history.of_case(person, case_no, "police.detention_extended"), detention.occurred_at, until)


def _m05_follow_ups(history: History, person: str, case_no: str) -> list[Event]:
    measures = [
        m
        for m in history.of_case(person, case_no, "police.coercive_measure")
        if _is_measure(m, "CRIMINAL_DETENTION", "END")
        or _is_measure(m, "BAIL", "START")
        or _is_measure(m, "RESIDENTIAL_SURVEILLANCE", "START")
    ]
    return merged(
        history.of_case(person, case_no, "police.arrest_requested"),
        measures,
        history.of_case(person, case_no, "prison.released"),
    )


# --- M06 arrest review overdue --------------------------------------------------------------------


def m06_arrest_review_overdue(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for request in history.of_type("police.arrest_requested"):
        person, case_no = person_of(request), text(request, "case_no")
        due_at = deadline_after(request.occurred_at, p["deadline_days"])
        decisions = history.of_case(person, case_no, "procuratorate.arrest_decided")
        outcome = deadline_outcome(due_at, within(decisions, request.occurred_at, due_at), clock_end)
        yield _lead("M06", request, _person(person), outcome, case_no=case_no, due_at=due_at)


# --- M07 commutation with unpaid fine -------------------------------------------------------------


def m07_commutation_with_unpaid_fine(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for proposal in history.of_type("prison.commutation_proposed"):
        person, case_no = person_of(proposal), text(proposal, "case_no")
        judgments = history.of_case(person, case_no, "court.judgment_effective")
        if not judgments:
            continue  # nothing to compare with: no lead
        judgment = judgments[0]  # Reading: one judgment per defendant and case; a re-send would be the same
        fine = money(judgment, "fine_cny")
        all_payments = history.of_case(person, case_no, "court.property_penalty_executed")
        payments = within(all_payments, None, proposal.occurred_at + 1)  # at or before the proposal
        paid = sum((money(e, "amount_cny") for e in payments), Decimal(0))
        evaluated_at = deadline_after(proposal.occurred_at, p["evaluate_after_days"])
        violation = f"fine {decimal_text(fine)}, paid {decimal_text(paid)} by the proposal"
        lawful = "fine paid in full" if fine > 0 else "no fine"
        outcome = check_outcome(fine > 0 and paid < fine, evaluated_at, clock_end, violation, lawful)
        yield _lead(
            "M07",
            proposal,
            _person(person),
            outcome,
            evidence=[judgment, *payments],
            case_no=case_no,
            due_at=evaluated_at,
            details={"fine_cny": decimal_text(fine), "paid_cny": decimal_text(paid)},
        )


# --- M08 fine not executed ------------------------------------------------------------------------


def m08_fine_not_executed(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for judgment in history.of_type("court.judgment_effective"):
        fine = money(judgment, "fine_cny")
        if fine <= 0:
            continue
        person, case_no = person_of(judgment), text(judgment, "case_no")
        due_at = deadline_after(judgment.occurred_at, p["deadline_days"])
        follow_ups = merged(
            history.of_case(person, case_no, "court.execution_filed"),
            history.of_case(person, case_no, "court.property_penalty_executed"),
        )
        outcome = deadline_outcome(due_at, within(follow_ups, judgment.occurred_at, due_at), clock_end)
        yield _lead(
            "M08",
            judgment,
            _person(person),
            outcome,
            case_no=case_no,
            due_at=due_at,
            details={"fine_cny": decimal_text(fine)},
        )


# --- M09 medical review overdue -------------------------------------------------------------------


def m09_medical_review_overdue(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for approval in history.of_type("court.outside_execution_approved"):
        if approval.body["reason"] == "ILLNESS":
            yield from _m09_chain(history, approval, p, clock_end)


def _m09_chain(history: History, approval: Event, p: Params, clock_end: int) -> Iterator[Lead]:
    """The review periods and NOT_COMMITTED checks that follow one ILLNESS approval.

    Reading: the chain of an approval lasts until the person's next approval (which starts its
    own chain); within it, the first termination ends the obligation, so a review after a
    termination starts nothing. A termination only cancels a period whose deadline it precedes:
    a lead already overdue stays OPEN (the vectors decide this).
    """
    person = person_of(approval)
    interval = whole(approval, "review_interval_days")
    chain_end = _next_approval_at(history, person, approval)
    terminations = within(history.of_person(person, "correction.terminated"), approval.occurred_at, chain_end)
    obligation_end = terminations[0].occurred_at if terminations else chain_end
    reviews = within(history.of_person(person, "correction.medical_review"), approval.occurred_at + 1, obligation_end)
    case_no = text(approval, "case_no")
    for start in [approval, *(r for r in reviews if r.body["still_qualifies"])]:
        due_at = deadline_after(start.occurred_at, interval)
        next_review = within(reviews, start.occurred_at + 1, due_at)[:1]  # any review satisfies the period
        stopped = [t for t in terminations[:1] if t.occurred_at < due_at]
        if stopped and not next_review:
            outcome = Outcome(RESOLVED, "person terminated from correction", stopped)
        else:
            outcome = deadline_outcome(due_at, next_review, clock_end)
        # a review-started period names its approval, unless closing evidence already explains it (vectors)
        context = [] if start is approval or outcome.closing else [approval]
        yield _lead(
            "M09",
            start,
            _person(person),
            outcome,
            evidence=context,
            case_no=case_no,
            due_at=due_at,
            details={"review_interval_days": interval},
        )
    for review in reviews:
        if not review.body["still_qualifies"]:
            yield _m09_not_committed(history, approval, review, p, clock_end)


def _next_approval_at(history: History, person: str, approval: Event) -> int:
    later = within(history.of_person(person, "court.outside_execution_approved"), approval.occurred_at + 1, _NEVER)
    return later[0].occurred_at if later else _NEVER


def _m09_not_committed(history: History, approval: Event, review: Event, p: Params, clock_end: int) -> Lead:
    person = person_of(approval)
    due_at = deadline_after(review.occurred_at, p["commit_deadline_days"])
    committed = merged(
        (a for a in history.of_person(person, "prison.admitted") if a.body["basis"] == "REVOCATION"),
        (t for t in history.of_person(person, "correction.terminated") if t.body["reason"] == "COMMITTED_TO_PRISON"),
    )
    outcome = deadline_outcome(due_at, within(committed, review.occurred_at, due_at), clock_end)
    return _lead(
        "M09",
        review,
        _person(person),
        outcome,
        evidence=[approval],
        case_no=text(approval, "case_no"),
        due_at=due_at,
        finding="NOT_COMMITTED",
    )


# --- M10 administrative case not transferred ------------------------------------------------------


def m10_admin_case_not_transferred(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    transfers = _group(history.of_type("admin.case_transferred"), lambda e: e.body["admin_case_no"])
    police_filings = _group(history.of_type("police.case_filed"), lambda e: e.body["admin_case_ref"])
    thresholds: Mapping[str, tuple[str, Decimal]] = p["thresholds"]
    for penalty in history.of_type("admin.penalty_decided"):
        rule = thresholds.get(text(penalty, "violation_code"))
        if rule is None:
            continue
        field_name, threshold = rule
        value = amount(penalty, field_name)  # only the field the table names is compared
        if value is None or value < threshold:
            continue
        case_no = text(penalty, "admin_case_no")
        due_at = deadline_after(penalty.occurred_at, p["deadline_days"])
        follow_ups = merged(transfers.get(case_no, []), police_filings.get(case_no, []))
        outcome = deadline_outcome(due_at, within(follow_ups, None, due_at), clock_end)
        party = penalty.body["party"]
        assert isinstance(party, Mapping)
        yield _lead(
            "M10",
            penalty,
            party,
            outcome,
            case_no=case_no,
            due_at=due_at,
            details={field_name: decimal_text(value)},
        )


# --- M11 serial lending plaintiff -----------------------------------------------------------------


def m11_serial_lending_plaintiff(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    filings_by_plaintiff: dict[tuple[str, str], dict[str, Event]] = defaultdict(dict)
    for filing in history.of_type("court.civil_case_filed"):
        if filing.body["cause"] != "PRIVATE_LENDING":
            continue
        for plaintiff in parties_of(filing, "plaintiffs"):
            # distinct filings by case_no: the earliest event of a case number stands for it
            filings_by_plaintiff[(plaintiff["kind"], plaintiff["key"])].setdefault(text(filing, "case_no"), filing)
    for (kind, key), by_case in filings_by_plaintiff.items():
        filings = sorted(by_case.values(), key=_chronological)
        trigger = _first_completing_filing(filings, p["min_filings"], p["window_days"] * DAY_MS)
        if trigger is None:
            continue
        reason = f"{len(filings)} private-lending filings, {p['min_filings']} within {p['window_days']} days"
        yield _lead(
            "M11",
            trigger,
            {"kind": kind, "key": key},
            Outcome(OPEN, reason),
            evidence=filings,  # every filing of the plaintiff, in occurred_at order (vectors)
            details={"filings": len(filings)},
        )


def _first_completing_filing(filings: Sequence[Event], count: int, span_ms: int) -> Event | None:
    """The filing that first makes ``count`` filings whose times span at most ``span_ms`` (inclusive).

    Reading: "first" in event time, so the trigger does not depend on upload order.
    """
    for last in range(count - 1, len(filings)):
        if filings[last].occurred_at - filings[last - count + 1].occurred_at <= span_ms:
            return filings[last]
    return None


# --- M12 pension after death ----------------------------------------------------------------------


def m12_pension_after_death(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for person, deaths in _group(history.of_type("police.death_registered"), person_of).items():
        death = min(deaths, key=lambda e: (day(e, "died_on"), e.occurred_at, e.event_id))  # the earliest died_on
        died_on = day(death, "died_on")
        assert died_on is not None
        death_month = f"{died_on:%Y-%m}"
        payments = history.of_person(str(person), "social.pension_paid")
        overpaid = [e for e in payments if text(e, "period") > death_month]  # YYYY-MM compares as text
        if not overpaid:
            continue
        total = sum((money(e, "amount_cny") for e in overpaid), Decimal(0))
        # Reading (vectors): the trigger is the earliest overpayment even when the death was registered later
        trigger = overpaid[0]
        yield _lead(
            "M12",
            trigger,
            _person(str(person)),
            Outcome(OPEN, f"{len(overpaid)} pension payment(s) for periods after {death_month}"),
            evidence=[death, *overpaid],
            details={"overpaid_cny": decimal_text(total), "payments": len(overpaid), "died_on": died_on.isoformat()},
        )


# --- M13 release mismatch -------------------------------------------------------------------------


def adjusted_sentence_end(sentence_end: date, rulings: Iterable[Event]) -> date:
    """``sentence_end`` minus each ruling's months, one ruling at a time, the day clamped to the month's end."""
    end = sentence_end
    for ruling in rulings:
        end = add_months(end, -whole(ruling, "reduced_months"))
    return end


_RULING_FOR_RELEASE = {"PAROLE": "court.parole_granted", "OUTSIDE_EXECUTION": "court.outside_execution_approved"}


def m13_release_mismatch(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for release in history.of_type("prison.released"):
        reason = text(release, "reason")
        if reason == "SENTENCE_COMPLETED":
            lead = _m13_early_release(history, release, p, clock_end)
            if lead is not None:
                yield lead
        elif reason in _RULING_FOR_RELEASE:
            yield _m13_release_without_ruling(history, release, _RULING_FOR_RELEASE[reason], p, clock_end)
    for admission in history.of_type("prison.admitted"):
        if admission.body["sentence_end"] is not None:
            yield _m13_not_released(history, admission, p, clock_end)


def _m13_release_without_ruling(history: History, release: Event, ruling_type: str, p: Params, clock_end: int) -> Lead:
    person, case_no = person_of(release), text(release, "case_no")
    rulings = within(history.of_case(person, case_no, ruling_type), None, release.occurred_at + 1)
    evaluated_at = deadline_after(release.occurred_at, p["evaluate_after_days"])
    violation = f"{text(release, 'reason')} release without {ruling_type}"
    outcome = check_outcome(not rulings, evaluated_at, clock_end, violation, "ruling exists")
    return _lead(
        "M13",
        release,
        _person(person),
        outcome,
        evidence=rulings,
        case_no=case_no,
        due_at=evaluated_at,
        finding="RELEASE_WITHOUT_RULING",
    )


def _m13_early_release(history: History, release: Event, p: Params, clock_end: int) -> Lead | None:
    person, case_no = person_of(release), text(release, "case_no")
    admissions = [
        a
        for a in within(history.of_case(person, case_no, "prison.admitted"), None, release.occurred_at + 1)
        if a.body["sentence_end"] is not None
    ]
    if not admissions:
        return None  # no sentence to compare with: no lead
    admission = admissions[-1]  # Reading (vectors): the latest admission with a sentence_end before the release
    sentence_end = day(admission, "sentence_end")
    assert sentence_end is not None
    rulings = within(history.of_case(person, case_no, "court.commutation_ruled"), None, release.occurred_at + 1)
    end = adjusted_sentence_end(sentence_end, rulings)
    released_on = local_date(release.occurred_at)
    evaluated_at = deadline_after(release.occurred_at, p["evaluate_after_days"])
    violation = f"released {released_on} before adjusted sentence end {end}"
    lawful = "released on or after the adjusted sentence end"
    outcome = check_outcome(released_on < end, evaluated_at, clock_end, violation, lawful)
    return _lead(
        "M13",
        release,
        _person(person),
        outcome,
        evidence=[admission, *rulings],
        case_no=case_no,
        due_at=evaluated_at,
        finding="EARLY_RELEASE",
        details={"adjusted_sentence_end": end.isoformat()},
    )


def _m13_not_released(history: History, admission: Event, p: Params, clock_end: int) -> Lead:
    person, case_no = person_of(admission), text(admission, "case_no")
    sentence_end = day(admission, "sentence_end")
    assert sentence_end is not None
    rulings = history.of_case(person, case_no, "court.commutation_ruled")  # all rulings, whenever they occurred
    end = adjusted_sentence_end(sentence_end, rulings)
    due_at = local_midnight_ms(end + timedelta(days=p["release_grace_days"] + 1))
    releases = within(history.of_case(person, case_no, "prison.released"), admission.occurred_at, due_at)
    # the first release after the admission ends this custody; a later one belongs to a later admission (vectors)
    outcome = deadline_outcome(due_at, releases[:1], clock_end)
    return _lead(
        "M13",
        admission,
        _person(person),
        outcome,
        evidence=rulings,
        case_no=case_no,
        due_at=due_at,
        finding="NOT_RELEASED",
        details={"adjusted_sentence_end": end.isoformat()},
    )


# --- M14 custody incident -------------------------------------------------------------------------


def m14_custody_incident(history: History, p: Params, clock_end: int) -> Iterator[Lead]:
    for incident in history.of_type("prison.incident"):
        kind = text(incident, "kind")
        yield _lead(
            "M14",
            incident,
            _person(person_of(incident)),
            Outcome(OPEN, f"incident in custody: {kind}"),
            severity=p["severity"][kind],
            details={"incident_kind": kind},
        )


# --- entry point ----------------------------------------------------------------------------------

ModelFunction = Callable[[History, Params, int], Iterator[Lead]]

EVALUATORS: Mapping[str, ModelFunction] = {
    "M01": m01_dui_not_filed,
    "M02": m02_correction_not_enrolled,
    "M03": m03_reoffense_under_correction,
    "M04": m04_unauthorized_travel,
    "M05": m05_detention_overdue,
    "M06": m06_arrest_review_overdue,
    "M07": m07_commutation_with_unpaid_fine,
    "M08": m08_fine_not_executed,
    "M09": m09_medical_review_overdue,
    "M10": m10_admin_case_not_transferred,
    "M11": m11_serial_lending_plaintiff,
    "M12": m12_pension_after_death,
    "M13": m13_release_mismatch,
    "M14": m14_custody_incident,
}


def model_params(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The default numbers with per-model overrides applied key by key."""
    unknown = set(overrides or {}) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown model id(s) in params: {', '.join(sorted(unknown))}")
    merged_params = {model_id: dict(defaults) for model_id, defaults in DEFAULT_PARAMS.items()}
    for model_id, values in (overrides or {}).items():
        merged_params[model_id].update(values)
    return merged_params


def expected_leads(
    records: Iterable[Mapping[str, Any] | str],
    *,
    pseudonym_key: bytes,
    clock_end: datetime,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Lead]:
    """Every potential lead of every model over a complete history, evaluated as of hub clock ``clock_end``.

    ``records`` are the lines of the history in upload order: canonical record dicts, or raw
    JSON strings (malformed ones are skipped like the hub dead-letters them).
    """
    if clock_end.tzinfo is None:
        raise ValueError("clock_end must be timezone-aware")
    history = load_history(records, pseudonym_key)
    settings = model_params(params)
    clock_end_ms = to_ms(clock_end)
    leads: list[Lead] = []
    for model_id, evaluate in EVALUATORS.items():
        leads.extend(evaluate(history, settings[model_id], clock_end_ms))
    return leads
