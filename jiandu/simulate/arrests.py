"""Storylines for M06 ARREST_REVIEW_OVERDUE: the procuratorate's decision on an arrest request.

The trigger is ``police.arrest_requested``; a ``procuratorate.arrest_decided`` for
the same person and the police ``case_no`` of the request must occur within 7 days
(last allowed day ``date(T) + 7``). Every storyline starts with a criminal detention
whose arrest request comes within the 3 days allowed, so its M05 lead is planted
RESOLVED. (M05's own storylines plant the M06 leads of their requests, all decided
in time.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person, Population
from jiandu.simulate.police import (
    ARREST_REVIEW_DAYS,
    Detention,
    ask_arrest,
    decide_arrest,
    detain,
    expect_review,
    police_case,
)

__all__ = ["STORYLINES", "WEIGHTS"]


def _detained_and_requested(
    ledger: Ledger, population: Population, day_index: int | None = None, *, upload_delay: int = 0
) -> tuple[Person, Detention, Record, datetime]:
    """A detention and the arrest request on day 1 to 3 after it (M05 RESOLVED)."""
    person = population.person(18, 65)
    day = ledger.day(hi=-9) if day_index is None else ledger.start_day + timedelta(days=day_index)
    det = detain(ledger, person, day)
    asked = ledger.at(ledger.local_day(det.at) + timedelta(days=ledger.rng.randint(1, det.limit)), 8, 20)
    request = ask_arrest(ledger, person, det.case_no, det.district, asked, upload_delay=upload_delay)
    ledger.expect_deadline("M05", det.record, det.at, det.limit, ledger.subject(person), [asked])
    return person, det, request, asked


def _decide(
    ledger: Ledger, person: Person, det: Detention, at: datetime, *, upload_delay: int = 0, stamp: str | None = None
) -> datetime:
    """The decision, and the arrest that usually follows it."""
    approved = ledger.rng.random() < 0.8
    decide_arrest(ledger, person, det.case_no, det.district, at, approved, upload_delay=upload_delay, stamp=stamp)
    if approved:
        ledger.record(
            "police.coercive_measure",
            f"police:{det.district}",
            at + timedelta(hours=ledger.rng.randint(2, 6)),
            {"case_no": det.case_no, "id_number": person.written(ledger.rng), "measure": "ARREST", "action": "START"},
        )
    return at


def _within(ledger: Ledger, asked: datetime) -> datetime:
    return ledger.at(ledger.local_day(asked) + timedelta(days=ledger.rng.randint(1, ARREST_REVIEW_DAYS)), 8, 18)


def compliant(ledger: Ledger, population: Population) -> None:
    """Decided within the 7 days: RESOLVED."""
    person, det, request, asked = _detained_and_requested(ledger, population)
    expect_review(ledger, person, request, asked, [_decide(ledger, person, det, _within(ledger, asked))])


def violation(ledger: Ledger, population: Population) -> None:
    """No decision at all: OPEN."""
    person, _, request, asked = _detained_and_requested(ledger, population)
    expect_review(ledger, person, request, asked, [])


def decision_other_case(ledger: Ledger, population: Population) -> None:
    """The decision names another police case of the same person: it does not count, OPEN."""
    person, det, request, asked = _detained_and_requested(ledger, population)
    other = police_case(ledger, person, det.district, det.at - timedelta(days=ledger.rng.randint(20, 200)))
    decide_arrest(ledger, person, other, det.district, _within(ledger, asked), True)
    expect_review(ledger, person, request, asked, [])


def decided_day_7_23h59(ledger: Ledger, population: Population) -> None:
    """Decided at 23:59:59 of ``date(T) + 7``, the last second allowed: RESOLVED."""
    person, det, request, asked = _detained_and_requested(ledger, population)
    at = ledger.last_instant_before(ledger.due(asked, ARREST_REVIEW_DAYS))
    expect_review(ledger, person, request, asked, [_decide(ledger, person, det, at, stamp=ledger.boundary_stamp())])


def decided_day_8_midnight(ledger: Ledger, population: Population) -> None:
    """Decided at 00:00:00 of ``date(T) + 8``, the deadline itself: OPEN."""
    person, det, request, asked = _detained_and_requested(ledger, population)
    at = ledger.due(asked, ARREST_REVIEW_DAYS)
    expect_review(ledger, person, request, asked, [_decide(ledger, person, det, at, stamp=ledger.boundary_stamp())])


def late_upload(ledger: Ledger, population: Population) -> None:
    """Decided in time, the decision uploaded weeks later: RESOLVED."""
    person, det, request, asked = _detained_and_requested(ledger, population)
    at = _within(ledger, asked)
    expect_review(
        ledger, person, request, asked, [_decide(ledger, person, det, at, upload_delay=ledger.rng.randint(10, 25))]
    )


def pending(ledger: Ledger, population: Population) -> None:
    """Requested in the last days before the clock end, not decided yet: PENDING."""
    index = ledger.days + 20 - ledger.rng.randint(4, 6)
    person, _, request, asked = _detained_and_requested(ledger, population, index)
    expect_review(ledger, person, request, asked, [])


#: Storyline name → how it unfolds for one new suspect.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m06_compliant": compliant,
    "m06_violation": violation,
    "m06_decision_other_case": decision_other_case,
    "m06_decided_day_7_23h59": decided_day_7_23h59,
    "m06_decided_day_8_midnight": decided_day_8_midnight,
    "m06_late_upload": late_upload,
    "m06_pending": pending,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m06_compliant": 4, "m06_violation": 1}
