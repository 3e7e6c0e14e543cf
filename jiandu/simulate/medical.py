"""Storylines for M09 MEDICAL_REVIEW_OVERDUE: people executing their sentence outside prison for illness.

The court approves outside execution for ``ILLNESS`` (interval 60 or 90 days, or
the record omits it: 90); the prison releases the person a day or two later (M13
``RELEASE_WITHOUT_RULING`` RESOLVED) and they report within days (M02 RESOLVED),
both planted. Then the correction agency reviews the illness: on time, late, at
the boundary, finds it no longer qualifies (and commits the person or not), or the
term ends. :func:`jiandu.simulate.reviews.expect_reviews` plants every period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jiandu.simulate.correction import report
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person, Population
from jiandu.simulate.prisons import (
    admit,
    approve_outside_execution,
    expect_ruled_release,
    expect_term_leads,
    prison,
    release_record,
)
from jiandu.simulate.reviews import Review, expect_reviews, interval_of, review, terminate
from jiandu.simulate.sentences import trial_case_no

__all__ = ["STORYLINES", "WEIGHTS"]


@dataclass(frozen=True, slots=True)
class _Outside:
    """A person out of prison for illness, enrolled by the correction agency."""

    person: Person
    approval: Record
    at: datetime
    interval: int
    enrolled: datetime


def _approved(ledger: Ledger, population: Population) -> _Outside:
    """Approved early enough in the timeline that the first period runs out before the clock end."""
    rng = ledger.rng
    person = population.person(40, 75)
    interval = rng.choice((60, 90, None))
    last_index = ledger.days + 18 - (interval or 90)
    day = ledger.start_day + timedelta(days=rng.randint(0, max(0, last_index)))
    case_no = trial_case_no(ledger, person.home, day.year - rng.randint(1, 6))
    at = ledger.at(day, 9, 17)
    approval = approve_outside_execution(ledger, person, case_no, at, "ILLNESS", interval)
    released = ledger.at(day + timedelta(days=rng.randint(1, 2)), 9, 16)
    record = release_record(ledger, person, prison(ledger, person), case_no, released, "OUTSIDE_EXECUTION")
    expect_ruled_release(ledger, record, released, person, [at])
    enrolled = ledger.at(ledger.local_day(released) + timedelta(days=rng.randint(1, 5)), 9, 17)
    report(ledger, person, approval, at, "OUTSIDE_EXECUTION", rng.randint(12, 36), enrolled)
    return _Outside(person, approval, at, interval_of(approval), enrolled)


def _next(ledger: Ledger, case: _Outside, last: datetime) -> datetime:
    """A review a few days before the period that started at ``last`` runs out."""
    day = ledger.local_day(last) + timedelta(days=case.interval - ledger.rng.randint(3, 20))
    return max(ledger.at(day, 9, 16), case.enrolled + timedelta(hours=2))


def _reviews_from(ledger: Ledger, case: _Outside, first: Review | None) -> list[Review]:
    """Reviews on time after ``first`` (the storyline's own) until the clock end."""
    reviews = [first] if first is not None else []
    last = first.at if first is not None else case.at
    while (done := review(ledger, case.person, _next(ledger, case, last), True)) is not None:
        reviews.append(done)
        last = done.at
    return reviews


def reviews_on_time(ledger: Ledger, population: Population) -> None:
    """Reviewed a few days before every period runs out: RESOLVED, the last period PENDING."""
    case = _approved(ledger, population)
    expect_reviews(ledger, case.person, case.approval, case.at, _reviews_from(ledger, case, None))


def _first_review(ledger: Ledger, population: Population, at_due: Callable[[datetime], datetime]) -> None:
    case = _approved(ledger, population)
    first = review(ledger, case.person, at_due(ledger.due(case.at, case.interval)), True, stamp=ledger.boundary_stamp())
    expect_reviews(ledger, case.person, case.approval, case.at, _reviews_from(ledger, case, first))


def review_late(ledger: Ledger, population: Population) -> None:
    """The first review comes one to three weeks after the period ran out: OPEN; it starts the next period."""
    _first_review(ledger, population, lambda due: due + timedelta(days=ledger.rng.randint(1, 20), hours=10))


def review_on_last_day(ledger: Ledger, population: Population) -> None:
    """The first review at 23:59:59 of the period's last day: RESOLVED."""
    _first_review(ledger, population, ledger.last_instant_before)


def review_at_deadline(ledger: Ledger, population: Population) -> None:
    """The first review at 00:00:00 after the period's last day, the deadline itself: OPEN."""
    _first_review(ledger, population, lambda due: due)


def _no_longer_qualifies(ledger: Ledger, population: Population) -> tuple[_Outside, Review | None]:
    case = _approved(ledger, population)
    return case, review(ledger, case.person, _next(ledger, case, case.at), False)


def not_qualifying_committed(ledger: Ledger, population: Population) -> None:
    """The review finds the illness cured; within 10 days the person is back in prison: NOT_COMMITTED RESOLVED."""
    rng = ledger.rng
    case, failed = _no_longer_qualifies(ledger, population)
    if failed is None:
        expect_reviews(ledger, case.person, case.approval, case.at, [])
        return
    committed = ledger.at(ledger.local_day(failed.at) + timedelta(days=rng.randint(1, 9)), 9, 17)
    admitted = None
    if rng.random() < 0.6:
        sentence_end = ledger.clock_end_day + timedelta(days=rng.randint(100, 1500))
        court = str(case.approval["jurisdiction"])
        case_no = str(case.approval["case_no"])
        term = admit(ledger, case.person, case_no, court, committed, sentence_end, basis="REVOCATION")
        expect_term_leads(ledger, term)
        admitted = committed if ledger.in_history(committed) else None
    ended = terminate(ledger, case.person, committed + timedelta(hours=rng.randint(0, 30)), "COMMITTED_TO_PRISON")
    commitments = [c for c in (admitted, ended) if c is not None]
    expect_reviews(
        ledger,
        case.person,
        case.approval,
        case.at,
        [failed],
        terminated_at=ended,
        committed_at=min(commitments) if commitments else None,
    )


def not_qualifying_not_committed(ledger: Ledger, population: Population) -> None:
    """The review finds the illness cured and nothing follows: NOT_COMMITTED OPEN."""
    case, failed = _no_longer_qualifies(ledger, population)
    expect_reviews(ledger, case.person, case.approval, case.at, [failed] if failed else [])


def terminated(ledger: Ledger, population: Population) -> None:
    """One review on time, then the sentence ends (terminated) before the next review falls due: RESOLVED."""
    rng = ledger.rng
    case = _approved(ledger, population)
    first = review(ledger, case.person, _next(ledger, case, case.at), True)
    reviews = [first] if first is not None else []
    last = first.at if first is not None else case.at
    ended = terminate(
        ledger,
        case.person,
        ledger.at(ledger.local_day(last) + timedelta(days=rng.randint(10, 50)), 9, 17),
        "TERM_COMPLETED",
    )
    expect_reviews(ledger, case.person, case.approval, case.at, reviews, terminated_at=ended)


#: Storyline name → how it unfolds for one new person.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m09_reviews_on_time": reviews_on_time,
    "m09_review_late": review_late,
    "m09_review_on_last_day": review_on_last_day,
    "m09_review_at_deadline": review_at_deadline,
    "m09_not_qualifying_committed": not_qualifying_committed,
    "m09_not_qualifying_not_committed": not_qualifying_not_committed,
    "m09_terminated": terminated,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m09_reviews_on_time": 2, "m09_review_late": 0.6}
