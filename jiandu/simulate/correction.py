"""Storylines for M02 CORRECTION_NOT_ENROLLED: a community sentence, and whether the person reported.

A trigger is a judgment with ``PROBATION`` or ``CONTROL``, a parole ruling or an
approval of temporary execution outside prison. The person must be enrolled by a
community correction agency within 10 days (CPL counting, no lookback): the last
allowed day is ``date(T) + 10`` and the deadline 00:00 CST of ``date(T) + 11``.
Each storyline plants, by construction, that lead's status at the clock end.

Incidental leads, planted too: a fine in the judgment is filed for execution in
time (M08 RESOLVED); a parolee or outside-execution release follows its ruling
(M13 ``RELEASE_WITHOUT_RULING`` RESOLVED); an ``ILLNESS`` approval is reviewed on
time once the person is enrolled, or not at all (M09). The parole proposal's
judgment predates the history, so M07 has no fine to compare and nothing is planted.

:func:`place_on_probation` and :func:`report` serve the storylines of other models
whose people are under community correction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from jiandu.core.timeutil import add_months
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person, Population
from jiandu.simulate.prisons import (
    Facility,
    admit,
    approve_outside_execution,
    detention_centre,
    expect_ruled_release,
    expect_term_leads,
    grant_parole,
    prison,
    release,
    release_record,
)
from jiandu.simulate.reviews import routine_reviews
from jiandu.simulate.sentences import judgment, settle_fine, trial_case_no

__all__ = ["ENROL_DAYS", "STORYLINES", "WEIGHTS", "Enrolment", "place_on_probation", "report"]

ENROL_DAYS = 10  # M02: report within 10 days
_DAYS = ENROL_DAYS


@dataclass(frozen=True, slots=True)
class _Order:
    """The court decision that puts a person under community correction (the M02 trigger)."""

    record: Record
    at: datetime
    basis: str
    case_no: str
    months: int
    free_after: int  # days after the decision until the person is out of prison (0: never in)


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A person enrolled by the community correction agency of their home district."""

    record: Record
    at: datetime
    case_no: str
    permitted_city: str
    term_end: date
    source: str


def _fine(ledger: Ledger) -> str:
    return ledger.rng.choice(("0.00", "0.00", "5000.00", "10000.00", "30000.00"))


def _judgment(ledger: Ledger, person: Person, day: date, sentence: str) -> _Order:
    rng = ledger.rng
    court = person.home if rng.random() < 0.85 else person.city
    at = ledger.at(day, 9, 17)
    case_no = trial_case_no(ledger, court, day.year)
    prison_months = rng.randint(6, 36) if sentence == "PROBATION" else 0
    probation = max(prison_months, rng.randint(12, 60)) if sentence == "PROBATION" else 0
    record = judgment(
        ledger,
        person,
        court,
        at,
        case_no,
        sentence,
        prison_months=prison_months,
        probation_months=probation,
        fine=_fine(ledger),
    )
    settle_fine(ledger, person, record, at)
    months = probation if sentence == "PROBATION" else rng.randint(3, 24)
    return _Order(record, at, sentence, case_no, months, 0)


def _earlier_case_no(ledger: Ledger, person: Person, day: date) -> str:
    year = day.year - ledger.rng.randint(2, 6)
    return trial_case_no(ledger, person.home, year)


def _released(ledger: Ledger, person: Person, order: _Order, facility: Facility) -> None:
    """Out of prison ``free_after`` days after the ruling (M13 ``RELEASE_WITHOUT_RULING`` RESOLVED)."""
    at = ledger.at(ledger.local_day(order.at) + timedelta(days=order.free_after), 8, 11)
    record = release_record(ledger, person, facility, order.case_no, at, order.basis)
    expect_ruled_release(ledger, record, at, person, [order.at])


def _parole(ledger: Ledger, person: Person, day: date) -> _Order:
    rng = ledger.rng
    case_no = _earlier_case_no(ledger, person, day)
    facility = prison(ledger, person)
    proposed = ledger.at(day - timedelta(days=rng.randint(20, 50)), 9, 17)
    if ledger.local_day(proposed) >= ledger.start_day:
        ledger.record(
            "prison.commutation_proposed",
            facility.source,
            proposed,
            {
                "proposal_no": f"{facility.code}-JS{day.year}{ledger.serial(f'JS/{facility.code}', 100):03d}",
                "facility_code": facility.code,
                "id_number": person.written(rng),
                "case_no": case_no,
                "kind": "PAROLE",
            },
        )
    at = ledger.at(day, 9, 17)
    months = rng.randint(6, 48)
    record = grant_parole(ledger, person, case_no, at, months)
    order = _Order(record, at, "PAROLE", case_no, months, rng.randint(1, 3))
    _released(ledger, person, order, facility)
    return order


def _outside_execution(ledger: Ledger, person: Person, day: date) -> _Order:
    rng = ledger.rng
    case_no = _earlier_case_no(ledger, person, day)
    at = ledger.at(day, 9, 17)
    reason = rng.choices(("ILLNESS", "PREGNANCY_OR_NURSING", "SELF_CARE_INCAPABLE"), (7, 2, 1))[0]
    interval = rng.choice((90, 90, 60)) if rng.random() < 0.6 else None
    record = approve_outside_execution(ledger, person, case_no, at, reason, interval)
    order = _Order(record, at, "OUTSIDE_EXECUTION", case_no, rng.randint(6, 24), rng.randint(1, 2))
    _released(ledger, person, order, prison(ledger, person))
    return order


def _order(ledger: Ledger, person: Person, day: date) -> _Order:
    """A trigger of one of the four kinds, with what comes with it (prison release)."""
    roll = ledger.rng.random()
    if roll < 0.5:
        return _judgment(ledger, person, day, "PROBATION")
    if roll < 0.6:
        return _judgment(ledger, person, day, "CONTROL")
    if roll < 0.8:
        return _parole(ledger, person, day)
    return _outside_execution(ledger, person, day)


def _enrolment(ledger: Ledger, person: Person, order: _Order) -> Record:
    return {
        "agency_code": f"SQJZ{person.home}",
        "id_number": person.written(ledger.rng),
        "case_no": order.case_no,
        "basis": order.basis,
        "permitted_city": person.city,
        "term_end": add_months(ledger.local_day(order.at), order.months).isoformat(),
    }


def _enrol(
    ledger: Ledger, person: Person, order: _Order, at: datetime, *, upload_delay: int = 0, stamp: str | None = None
) -> Record:
    return ledger.record(
        "correction.enrolled",
        f"correction:{person.home}",
        at,
        _enrolment(ledger, person, order),
        upload_delay=upload_delay,
        stamp=stamp,
    )


def _expect(ledger: Ledger, person: Person, order: _Order, enrolled: datetime | None) -> None:
    """Plant the M02 lead: closed by an enrolment at or after the decision, within 10 days."""
    ledger.expect_deadline("M02", order.record, order.at, _DAYS, ledger.subject(person), [enrolled])


def _under_correction(ledger: Ledger, person: Person, order: _Order, enrolled: datetime | None) -> None:
    """What follows an enrolment: leave approvals, medical reviews (M09 planted there)."""
    rng = ledger.rng
    if enrolled is not None and rng.random() < 0.3:
        asked = ledger.at(ledger.local_day(enrolled) + timedelta(days=rng.randint(10, 40)), 9, 17)
        first = ledger.local_day(asked) + timedelta(days=rng.randint(1, 5))
        ledger.record(
            "correction.leave_approved",
            f"correction:{person.home}",
            asked,
            {
                "id_number": person.written(rng),
                "start_date": first.isoformat(),
                "end_date": (first + timedelta(days=rng.randint(0, 6))).isoformat(),
                "dest_city": rng.choice(("110100", "120100", "210300", "220100")),
            },
        )
    if order.basis == "OUTSIDE_EXECUTION":
        routine_reviews(ledger, person, order.record, order.at, enrolled)


# --- for the storylines of other models -------------------------------------------------------


def report(
    ledger: Ledger, person: Person, order: Record, order_at: datetime, basis: str, months: int, enrolled_at: datetime
) -> Enrolment:
    """The person reports to the correction agency at ``enrolled_at`` after a court order (M02 planted)."""
    placed = _Order(order, order_at, basis, str(order["case_no"]), months, 0)
    record = _enrol(ledger, person, placed, enrolled_at)
    _expect(ledger, person, placed, enrolled_at)
    term_end = add_months(ledger.local_day(order_at), months)
    return Enrolment(record, enrolled_at, placed.case_no, person.city, term_end, f"correction:{person.home}")


def place_on_probation(
    ledger: Ledger, person: Person, judged_at: datetime, *, months: int, enrolled_at: datetime | None = None
) -> Enrolment:
    """A suspended sentence without fine, and enrolment within 10 days (or at ``enrolled_at``)."""
    rng = ledger.rng
    day = ledger.local_day(judged_at)
    case_no = trial_case_no(ledger, person.home, day.year)
    prison_months = max(1, min(months - 1, rng.randint(3, 24)))
    order = judgment(
        ledger,
        person,
        person.home,
        judged_at,
        case_no,
        "PROBATION",
        prison_months=prison_months,
        probation_months=months,
    )
    at = enrolled_at or ledger.at(day + timedelta(days=rng.randint(1, 9)), 9, 17)
    return report(ledger, person, order, judged_at, "PROBATION", months, at)


def _on_time(ledger: Ledger, order: _Order) -> datetime:
    """An enrolment instant within the 10 days, on a day the person is already free."""
    offset = ledger.rng.choice((3, 3, 3, ledger.rng.randint(1, 9)))
    offset = min(max(offset, order.free_after + 1), 9)
    return ledger.at(ledger.local_day(order.at) + timedelta(days=offset), 8, 18)


def compliant(ledger: Ledger, population: Population) -> None:
    """Enrolled within the 10 days (typically on day 3): RESOLVED."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = _on_time(ledger, order)
    _enrol(ledger, person, order, enrolled)
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def violation(ledger: Ledger, population: Population) -> None:
    """Never enrolled, or enrolled weeks later: OPEN."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = None
    if ledger.rng.random() < 0.3:
        enrolled = ledger.at(ledger.local_day(order.at) + timedelta(days=ledger.rng.randint(13, 30)), 8, 18)
        _enrol(ledger, person, order, enrolled)
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def late(ledger: Ledger, population: Population) -> None:
    """Enrolled at 00:00:00 of ``date(T) + 11``, the deadline instant itself: OPEN."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = ledger.due(order.at, _DAYS)
    _enrol(ledger, person, order, enrolled, stamp=ledger.boundary_stamp())
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def boundary_ok(ledger: Ledger, population: Population) -> None:
    """Enrolled at 23:59:59 of ``date(T) + 10``, the last second allowed: RESOLVED."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = ledger.last_instant_before(ledger.due(order.at, _DAYS))
    _enrol(ledger, person, order, enrolled, stamp=ledger.boundary_stamp())
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def early_enrolment(ledger: Ledger, population: Population) -> None:
    """Enrolled before the decision took effect: without lookback that does not count, OPEN."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day(lo=5))
    enrolled = order.at - timedelta(minutes=ledger.rng.randint(30, 4 * 24 * 60))
    _enrol(ledger, person, order, enrolled)
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def enrolled_at_trigger(ledger: Ledger, population: Population) -> None:
    """Enrolled at the very instant the decision took effect: "at or after the trigger", RESOLVED."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    _enrol(ledger, person, order, order.at, stamp=ledger.boundary_stamp())
    _expect(ledger, person, order, order.at)
    _under_correction(ledger, person, order, order.at)


def late_upload(ledger: Ledger, population: Population) -> None:
    """Enrolled in time, but the agency uploads the record weeks later: RESOLVED at the end."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = _on_time(ledger, order)
    _enrol(ledger, person, order, enrolled, upload_delay=ledger.rng.randint(14, 35))
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def rejected_then_corrected(ledger: Ledger, population: Population) -> None:
    """Enrolled in time; the first upload is rejected, the corrected re-send comes after the deadline.

    The re-send keeps the ``source_record_id`` (a rejected record does not use up its
    event id) and its ``occurred_at`` is in time: RESOLVED.
    """
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = _on_time(ledger, order)
    due_day = ledger.local_day(ledger.due(order.at, _DAYS))
    delay = (due_day - ledger.local_day(enrolled)).days + ledger.rng.randint(1, 5)
    ledger.record_rejected_first(
        "correction.enrolled",
        f"correction:{person.home}",
        enrolled,
        _enrolment(ledger, person, order),
        resend_delay=delay,
    )
    _expect(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def prison_sentence(ledger: Ledger, population: Population) -> None:
    """A prison or detention sentence is no M02 trigger: judgment, fine execution, admission.

    M08 (fine filed in time) and M13 are planted: a detention sentence (拘役) served in
    the district detention centre ends with a release on its last day, a prison term
    ends years after the clock end (``NOT_RELEASED`` PENDING).
    """
    rng = ledger.rng
    person = population.person(18, 70)
    day = ledger.day()
    court = person.home if rng.random() < 0.8 else person.city
    at = ledger.at(day, 9, 17)
    case_no = trial_case_no(ledger, court, day.year)
    in_prison = rng.random() < 0.8
    months = rng.randint(12, 180) if in_prison else rng.randint(1, 6)
    fine = rng.choice(("0.00", "0.00", "20000.00", "50000.00", "128000.00"))
    sentence = "PRISON" if in_prison else "DETENTION_SENTENCE"
    verdict = judgment(ledger, person, court, at, case_no, sentence, prison_months=months, fine=fine)
    settle_fine(ledger, person, verdict, at)
    admitted_on = day + timedelta(days=rng.randint(7, 30))
    end = max(add_months(day, months), admitted_on + timedelta(days=10))
    facility = prison(ledger, person) if in_prison else detention_centre(person.home)
    term = admit(ledger, person, case_no, court, ledger.at(admitted_on, 9, 17), end, facility=facility)
    term.verdict, term.fine = verdict, Decimal(fine)
    if not in_prison:
        release(ledger, term, ledger.at(end, 8, 11), "SENTENCE_COMPLETED")
    expect_term_leads(ledger, term)


def pending(ledger: Ledger, population: Population) -> None:
    """A decision in the last 10 days before the clock end: its deadline has not passed, PENDING."""
    person = population.person(18, 70)
    day = ledger.clock_end_day - timedelta(days=ledger.rng.randint(1, _DAYS))
    order = _order(ledger, person, day)
    _expect(ledger, person, order, None)
    _under_correction(ledger, person, order, None)


#: Storyline name → how it unfolds for one new person.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m02_compliant": compliant,
    "m02_violation": violation,
    "m02_late": late,
    "m02_boundary_ok": boundary_ok,
    "m02_early_enrolment": early_enrolment,
    "m02_enrolled_at_trigger": enrolled_at_trigger,
    "m02_late_upload": late_upload,
    "m02_rejected_then_corrected": rejected_then_corrected,
    "m02_prison_sentence": prison_sentence,
    "m02_pending": pending,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {
    "m02_compliant": 10,
    "m02_violation": 3,
    "m02_late": 1,
    "m02_boundary_ok": 1,
    "m02_early_enrolment": 1,
    "m02_enrolled_at_trigger": 1,
    "m02_late_upload": 1,
    "m02_rejected_then_corrected": 1,
    "m02_prison_sentence": 4,
    "m02_pending": 1,
}
