"""Storylines for M02 CORRECTION_NOT_ENROLLED: a community sentence, and whether the person reported.

A trigger is a judgment with ``PROBATION`` or ``CONTROL``, a parole ruling or an
approval of temporary execution outside prison. The person must be enrolled by a
community correction agency within 10 days (CPL counting, no lookback): the last
allowed day is ``date(T) + 10`` and the deadline 00:00 CST of ``date(T) + 11``.
Each storyline plants, by construction, whether that lead is OPEN at the clock end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from jiandu.core.timeutil import add_months
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CHARGES, PRISONS, Person, Population, court_code

__all__ = ["STORYLINES", "trial_case_no"]

_DAYS = 10  # M02: report within 10 days


@dataclass(frozen=True, slots=True)
class _Order:
    """The court decision that puts a person under community correction (the M02 trigger)."""

    record: Record
    at: datetime
    basis: str
    case_no: str
    months: int
    free_after: int  # days after the decision until the person is out of prison (0: never in)


def trial_case_no(ledger: Ledger, court: str, year: int) -> str:
    """A criminal first-instance case number: ``(2024)辽0102刑初123号``."""
    number = ledger.serial(f"刑初/{court}/{year}", ledger.rng.randint(100, 140))
    return f"({year}){court_code(court)}刑初{number}号"


def _judgment_record(
    ledger: Ledger,
    person: Person,
    court: str,
    at: datetime,
    case_no: str,
    sentence: str,
    prison_months: int,
    probation_months: int,
    fine: str,
) -> Record:
    """A ``court.judgment_effective`` record for one defendant."""
    return ledger.record(
        "court.judgment_effective",
        f"court:{court}",
        at,
        {
            "case_no": case_no,
            "id_number": person.written(ledger.rng),
            "charge_code": ledger.rng.choice(CHARGES)[0],
            "sentence_type": sentence,
            "prison_months": prison_months,
            "probation_months": probation_months,
            "fine_cny": fine,
        },
    )


def _judgment(ledger: Ledger, person: Person, day: date, sentence: str) -> _Order:
    rng = ledger.rng
    court = person.home if rng.random() < 0.85 else person.city
    at = ledger.at(day, 9, 17)
    case_no = trial_case_no(ledger, court, day.year)
    prison = rng.randint(6, 36) if sentence == "PROBATION" else 0
    probation = max(prison, rng.randint(12, 60)) if sentence == "PROBATION" else 0
    fine = rng.choice(("0.00", "0.00", "5000.00", "10000.00", "30000.00"))
    record = _judgment_record(ledger, person, court, at, case_no, sentence, prison, probation, fine)
    months = probation if sentence == "PROBATION" else rng.randint(3, 24)
    return _Order(record, at, sentence, case_no, months, 0)


def _earlier_case_no(ledger: Ledger, person: Person, day: date) -> str:
    year = day.year - ledger.rng.randint(2, 6)
    return trial_case_no(ledger, person.home, year)


def _released(ledger: Ledger, person: Person, at: datetime, case_no: str, reason: str) -> None:
    unit, facility = ledger.rng.choice(PRISONS[person.city])
    ledger.record(
        "prison.released",
        f"prison:{person.city}:{unit}",
        at,
        {
            "facility_code": facility,
            "id_number": person.written(ledger.rng),
            "case_no": case_no,
            "reason": reason,
        },
    )


def _parole(ledger: Ledger, person: Person, day: date) -> _Order:
    rng = ledger.rng
    city = person.city
    case_no = _earlier_case_no(ledger, person, day)
    proposed = ledger.at(day - timedelta(days=rng.randint(20, 50)), 9, 17)
    if ledger.local_day(proposed) >= ledger.start_day:
        unit, facility = rng.choice(PRISONS[city])
        ledger.record(
            "prison.commutation_proposed",
            f"prison:{city}:{unit}",
            proposed,
            {
                "proposal_no": f"{facility}-JS{day.year}{ledger.serial(f'JS/{facility}', 100):03d}",
                "facility_code": facility,
                "id_number": person.written(rng),
                "case_no": case_no,
                "kind": "PAROLE",
            },
        )
    at = ledger.at(day, 9, 17)
    months = rng.randint(6, 48)
    record = ledger.record(
        "court.parole_granted",
        f"court:{city}",
        at,
        {
            "ruling_no": f"({day.year}){court_code(city)}刑更{ledger.serial(f'刑更/{city}', 30)}号",
            "case_no": case_no,
            "id_number": person.written(rng),
            "remaining_months": months,
        },
    )
    free_after = rng.randint(1, 3)
    _released(ledger, person, ledger.at(day + timedelta(days=free_after), 8, 11), case_no, "PAROLE")
    return _Order(record, at, "PAROLE", case_no, months, free_after)


def _outside_execution(ledger: Ledger, person: Person, day: date) -> _Order:
    rng = ledger.rng
    city = person.city
    case_no = _earlier_case_no(ledger, person, day)
    at = ledger.at(day, 9, 17)
    fields: Record = {
        "decision_no": f"({day.year}){court_code(city)}刑他{ledger.serial(f'刑他/{city}', 40)}号",
        "case_no": case_no,
        "id_number": person.written(rng),
        "reason": rng.choices(("ILLNESS", "PREGNANCY_OR_NURSING", "SELF_CARE_INCAPABLE"), (7, 2, 1))[0],
    }
    if rng.random() < 0.6:
        fields["review_interval_days"] = rng.choice((90, 90, 60))
    record = ledger.record("court.outside_execution_approved", f"court:{city}", at, fields)
    free_after = rng.randint(1, 2)
    _released(ledger, person, ledger.at(day + timedelta(days=free_after), 9, 16), case_no, "OUTSIDE_EXECUTION")
    return _Order(record, at, "OUTSIDE_EXECUTION", case_no, rng.randint(6, 24), free_after)


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
) -> None:
    ledger.record(
        "correction.enrolled",
        f"correction:{person.home}",
        at,
        _enrolment(ledger, person, order),
        upload_delay=upload_delay,
        stamp=stamp,
    )


def _under_correction(ledger: Ledger, person: Person, order: _Order, enrolled: datetime) -> None:
    """What follows an enrolment: leave approvals, medical reviews. None of it is an M02 record."""
    rng = ledger.rng
    source = f"correction:{person.home}"
    if rng.random() < 0.3:
        asked = ledger.at(ledger.local_day(enrolled) + timedelta(days=rng.randint(10, 40)), 9, 17)
        first = ledger.local_day(asked) + timedelta(days=rng.randint(1, 5))
        ledger.record(
            "correction.leave_approved",
            source,
            asked,
            {
                "id_number": person.written(rng),
                "start_date": first.isoformat(),
                "end_date": (first + timedelta(days=rng.randint(0, 6))).isoformat(),
                "dest_city": rng.choice(("110100", "120100", "210300", "220100")),
            },
        )
    if order.record.get("reason") == "ILLNESS":
        review = ledger.at(ledger.local_day(order.at) + timedelta(days=rng.randint(40, 58)), 9, 16)
        ledger.record(
            "correction.medical_review",
            source,
            review,
            {
                "id_number": person.written(rng),
                "still_qualifies": rng.random() < 0.9,
            },
        )


def _on_time(ledger: Ledger, order: _Order) -> datetime:
    """An enrolment instant within the 10 days, on a day the person is already free."""
    offset = ledger.rng.choice((3, 3, 3, ledger.rng.randint(1, 9)))
    offset = min(max(offset, order.free_after + 1), 9)
    return ledger.at(ledger.local_day(order.at) + timedelta(days=offset), 8, 18)


def compliant(ledger: Ledger, population: Population) -> None:
    """Enrolled within the 10 days (typically on day 3): no lead."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = _on_time(ledger, order)
    _enrol(ledger, person, order, enrolled)
    _under_correction(ledger, person, order, enrolled)


def violation(ledger: Ledger, population: Population) -> None:
    """Never enrolled, or enrolled weeks later: OPEN."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    if ledger.rng.random() < 0.3:
        late = ledger.local_day(order.at) + timedelta(days=ledger.rng.randint(13, 30))
        _enrol(ledger, person, order, ledger.at(late, 8, 18))
    ledger.expect_open("M02", order.record, order.at, person, _DAYS)


def late(ledger: Ledger, population: Population) -> None:
    """Enrolled at 00:00:00 of ``date(T) + 11``, the deadline instant itself: OPEN."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    _enrol(ledger, person, order, ledger.due(order.at, _DAYS), stamp=ledger.boundary_stamp())
    ledger.expect_open("M02", order.record, order.at, person, _DAYS)


def boundary_ok(ledger: Ledger, population: Population) -> None:
    """Enrolled at 23:59:59 of ``date(T) + 10``, the last second allowed: no lead."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    enrolled = ledger.last_instant_before(ledger.due(order.at, _DAYS))
    _enrol(ledger, person, order, enrolled, stamp=ledger.boundary_stamp())


def early_enrolment(ledger: Ledger, population: Population) -> None:
    """Enrolled before the decision took effect: without lookback that does not count, OPEN."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day(lo=5))
    _enrol(ledger, person, order, order.at - timedelta(minutes=ledger.rng.randint(30, 4 * 24 * 60)))
    ledger.expect_open("M02", order.record, order.at, person, _DAYS)


def enrolled_at_trigger(ledger: Ledger, population: Population) -> None:
    """Enrolled at the very instant the decision took effect: "at or after the trigger", no lead."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    _enrol(ledger, person, order, order.at, stamp=ledger.boundary_stamp())


def late_upload(ledger: Ledger, population: Population) -> None:
    """Enrolled in time, but the agency uploads the record weeks later: no OPEN lead at the end."""
    person = population.person(18, 70)
    order = _order(ledger, person, ledger.day())
    _enrol(ledger, person, order, _on_time(ledger, order), upload_delay=ledger.rng.randint(14, 35))


def rejected_then_corrected(ledger: Ledger, population: Population) -> None:
    """Enrolled in time; the first upload is rejected, the corrected re-send comes after the deadline.

    The re-send keeps the ``source_record_id`` (a rejected record does not use up its
    event id) and its ``occurred_at`` is in time: no OPEN lead.
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


def prison_sentence(ledger: Ledger, population: Population) -> None:
    """A prison or detention sentence is no M02 trigger: admission, fine execution, no lead."""
    rng = ledger.rng
    person = population.person(18, 70)
    day = ledger.day()
    court = person.home if rng.random() < 0.8 else person.city
    at = ledger.at(day, 9, 17)
    case_no = trial_case_no(ledger, court, day.year)
    prison = rng.random() < 0.8
    months = rng.randint(12, 180) if prison else rng.randint(1, 6)
    fine = rng.choice(("0.00", "0.00", "20000.00", "50000.00", "128000.00"))
    sentence = "PRISON" if prison else "DETENTION_SENTENCE"
    _judgment_record(ledger, person, court, at, case_no, sentence, months, 0, fine)
    admitted = ledger.at(day + timedelta(days=rng.randint(7, 30)), 9, 17)
    unit, facility = rng.choice(PRISONS[person.city]) if prison else ("kss", f"KSS{person.home}")
    ledger.record(
        "prison.admitted",
        f"prison:{person.city if prison else person.home}:{unit}",
        admitted,
        {
            "facility_code": facility,
            "facility_type": "PRISON" if prison else "DETENTION_CENTER",
            "id_number": person.written(rng),
            "case_no": case_no,
            "basis": "SENTENCE",
            "sentence_end": add_months(day, months).isoformat(),
        },
    )
    if fine != "0.00":
        filed = ledger.at(day + timedelta(days=rng.randint(5, 25)), 9, 17)
        ledger.record(
            "court.execution_filed",
            f"court:{court}",
            filed,
            {
                "execution_no": f"({day.year}){court_code(court)}执{ledger.serial(f'执/{court}', 600)}号",
                "case_no": case_no,
                "id_number": person.written(rng),
            },
        )


def pending(ledger: Ledger, population: Population) -> None:
    """A decision in the last 10 days before the clock end: its deadline has not passed, no lead."""
    person = population.person(18, 70)
    day = ledger.clock_end_day - timedelta(days=ledger.rng.randint(1, _DAYS))
    _order(ledger, person, day)


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
