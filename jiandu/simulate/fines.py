"""Storylines for M08 FINE_NOT_EXECUTED and M07 COMMUTATION_WITH_UNPAID_FINE: fines and what became of them.

M08: a judgment with ``fine_cny`` > 0 needs a ``court.execution_filed`` or a
``court.property_penalty_executed`` (any payment, even partial) for the person and
case within 30 days; payments before the judgment took effect do not count.

M07: a ``prison.commutation_proposed`` for a prisoner whose judgment has a fine that
the payments occurred at or before the proposal do not cover (sum compared exactly)
is OPEN once checked at the end of day ``date(T) + 3``; a payment uploaded late
counts if it occurred before the proposal, one that occurred after does not. The
prisoners were judged years before the timeline (the fine filed in time, M08
RESOLVED) and are released long after it (M13 ``NOT_RELEASED`` PENDING); both are
planted with the term.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person, Population
from jiandu.simulate.prisons import PrisonTerm, commute, expect_term_leads, long_term_prisoner, pay, propose
from jiandu.simulate.sentences import (
    FINE_DAYS,
    expect_fine_executed,
    file_execution,
    judgment,
    money,
    pay_fine,
    trial_case_no,
)

__all__ = ["STORYLINES", "WEIGHTS", "installments"]

_CENT = Decimal("0.01")


def installments(ledger: Ledger, total: Decimal, count: int) -> list[Decimal]:
    """``count`` payments (whole hundreds but the last) that add up to ``total`` exactly."""
    parts: list[Decimal] = []
    left = total
    for _ in range(count - 1):
        part = (left * Decimal(ledger.rng.randint(20, 60)) / 100).quantize(Decimal(100))
        if part <= 0 or part >= left:
            break
        parts.append(part)
        left -= part
    return [*parts, left]


# --- M08 ------------------------------------------------------------------------------------------


def _fined(ledger: Ledger, population: Population, day: date) -> tuple[Person, Record, datetime]:
    """A fine-only judgment at the person's district court."""
    person = population.person(20, 65)
    at = ledger.at(day, 9, 17)
    case_no = trial_case_no(ledger, person.home, day.year)
    fine = money(ledger, 2000, 200000)
    return person, judgment(ledger, person, person.home, at, case_no, "FINE_ONLY", fine=fine), at


def _court_of(verdict: Record) -> str:
    return str(verdict["jurisdiction"])


def _within(ledger: Ledger, at: datetime, last: int = 25) -> datetime:
    return ledger.at(ledger.local_day(at) + timedelta(days=ledger.rng.randint(3, last)), 9, 17)


def fine_compliant(ledger: Ledger, population: Population) -> None:
    """Filed for execution within days, paid later: RESOLVED."""
    person, verdict, at = _fined(ledger, population, ledger.day(hi=-3))
    filed = _within(ledger, at)
    file_execution(ledger, person, _court_of(verdict), str(verdict["case_no"]), filed)
    if ledger.rng.random() < 0.5:
        paid = ledger.at(ledger.local_day(filed) + timedelta(days=ledger.rng.randint(5, 40)), 9, 17)
        pay_fine(ledger, person, _court_of(verdict), str(verdict["case_no"]), paid, Decimal(str(verdict["fine_cny"])))
    expect_fine_executed(ledger, verdict, at, person, [filed])


def fine_partial_payment(ledger: Ledger, population: Population) -> None:
    """No filing, but part of the fine paid within 30 days: any payment closes it, RESOLVED."""
    person, verdict, at = _fined(ledger, population, ledger.day(hi=-3))
    part = (Decimal(str(verdict["fine_cny"])) * Decimal(ledger.rng.randint(10, 70)) / 100).quantize(_CENT)
    paid = _within(ledger, at, 28)
    pay_fine(ledger, person, _court_of(verdict), str(verdict["case_no"]), paid, max(part, _CENT))
    expect_fine_executed(ledger, verdict, at, person, [paid])


def fine_violation(ledger: Ledger, population: Population) -> None:
    """Never filed, nothing paid: OPEN."""
    person, verdict, at = _fined(ledger, population, ledger.day())
    expect_fine_executed(ledger, verdict, at, person, [])


def fine_paid_before_judgment(ledger: Ledger, population: Population) -> None:
    """The fine deposited before the judgment took effect (预缴), nothing after: that does not count, OPEN."""
    person, verdict, at = _fined(ledger, population, ledger.day(lo=31))
    deposited = ledger.at(ledger.local_day(at) - timedelta(days=ledger.rng.randint(3, 30)), 9, 17)
    pay_fine(ledger, person, _court_of(verdict), str(verdict["case_no"]), deposited, Decimal(str(verdict["fine_cny"])))
    expect_fine_executed(ledger, verdict, at, person, [deposited])


def fine_filed_day_30_23h59(ledger: Ledger, population: Population) -> None:
    """Filed at 23:59:59 of ``date(T) + 30``: RESOLVED."""
    person, verdict, at = _fined(ledger, population, ledger.day())
    filed = ledger.last_instant_before(ledger.due(at, FINE_DAYS))
    file_execution(ledger, person, _court_of(verdict), str(verdict["case_no"]), filed, stamp=ledger.boundary_stamp())
    expect_fine_executed(ledger, verdict, at, person, [filed])


def fine_filed_day_31_midnight(ledger: Ledger, population: Population) -> None:
    """Filed at 00:00:00 of ``date(T) + 31``, the deadline itself: OPEN."""
    person, verdict, at = _fined(ledger, population, ledger.day())
    filed = ledger.due(at, FINE_DAYS)
    file_execution(ledger, person, _court_of(verdict), str(verdict["case_no"]), filed, stamp=ledger.boundary_stamp())
    expect_fine_executed(ledger, verdict, at, person, [filed])


def fine_other_case(ledger: Ledger, population: Population) -> None:
    """An execution filed in time, but for an older case of the same person: OPEN."""
    person, verdict, at = _fined(ledger, population, ledger.day())
    older = trial_case_no(ledger, person.home, ledger.local_day(at).year - ledger.rng.randint(1, 5))
    file_execution(ledger, person, _court_of(verdict), older, _within(ledger, at))
    expect_fine_executed(ledger, verdict, at, person, [])


def fine_late_upload(ledger: Ledger, population: Population) -> None:
    """Filed in time, uploaded weeks after the deadline: RESOLVED."""
    person, verdict, at = _fined(ledger, population, ledger.day(hi=-3))
    filed = _within(ledger, at)
    case_no = str(verdict["case_no"])
    file_execution(ledger, person, _court_of(verdict), case_no, filed, upload_delay=ledger.rng.randint(30, 45))
    expect_fine_executed(ledger, verdict, at, person, [filed])


def fine_pending(ledger: Ledger, population: Population) -> None:
    """Judged in the last 30 days before the clock end, not filed yet: PENDING."""
    person, verdict, at = _fined(ledger, population, ledger.clock_end_day - timedelta(days=ledger.rng.randint(1, 30)))
    expect_fine_executed(ledger, verdict, at, person, [])


# --- M07 ------------------------------------------------------------------------------------------


def _prisoner(ledger: Ledger, population: Population, fine: str | None = None) -> PrisonTerm:
    """Judged one to six years before the timeline, released years after it."""
    person = population.person(28, 65)
    admitted_on = ledger.start_day - timedelta(days=ledger.rng.randint(365, 6 * 365))
    sentence_end = ledger.clock_end_day + timedelta(days=ledger.rng.randint(400, 8 * 365))
    fine = money(ledger, 5000, 300000) if fine is None else fine
    return long_term_prisoner(ledger, person, sentence_end, admitted_on=admitted_on, fine=fine)


def _proposal_instant(ledger: Ledger) -> datetime:
    """A proposal checked before the clock end (at the latest on its 5th-to-last day)."""
    return ledger.at(ledger.day(lo=25, hi=ledger.days + 15), 9, 17)


def _pay_before(ledger: Ledger, term: PrisonTerm, total: Decimal, before: datetime, **kw: int) -> None:
    """Pay ``total`` in one to three installments between the admission and ``before``."""
    span = max(1, (ledger.local_day(before) - ledger.local_day(term.admitted_at)).days - 1)
    for amount in installments(ledger, total, ledger.rng.randint(1, 3)):
        day = ledger.local_day(term.admitted_at) + timedelta(days=ledger.rng.randint(1, span))
        pay(ledger, term, ledger.at(day, 9, 17), amount, **kw)


def _propose(ledger: Ledger, term: PrisonTerm, at: datetime) -> None:
    """The proposal and, often, the court's ruling a few weeks later; then every lead of the term."""
    propose(ledger, term, at)
    if ledger.rng.random() < 0.5:
        commute(
            ledger,
            term,
            ledger.at(ledger.local_day(at) + timedelta(days=ledger.rng.randint(20, 60)), 9, 17),
            ledger.rng.randint(3, 9),
        )
    expect_term_leads(ledger, term)


def unpaid(ledger: Ledger, population: Population) -> None:
    """Nothing paid of the fine by the proposal: OPEN."""
    _propose(ledger, _prisoner(ledger, population), _proposal_instant(ledger))


def partly_paid(ledger: Ledger, population: Population) -> None:
    """Part of the fine paid before the proposal: OPEN."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    _pay_before(ledger, term, (term.fine * Decimal(ledger.rng.randint(20, 80)) / 100).quantize(_CENT), at)
    _propose(ledger, term, at)


def paid_one_fen_short(ledger: Ledger, population: Population) -> None:
    """Paid all but one fen (compared exactly as decimals): OPEN."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    _pay_before(ledger, term, term.fine - _CENT, at)
    _propose(ledger, term, at)


def paid_in_full(ledger: Ledger, population: Population) -> None:
    """Paid in full in installments before the proposal: RESOLVED."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    _pay_before(ledger, term, term.fine, at)
    _propose(ledger, term, at)


def paid_at_proposal_instant(ledger: Ledger, population: Population) -> None:
    """The last installment recorded at the very instant of the proposal ("at or before"): RESOLVED."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    first, *rest = installments(ledger, term.fine, 2)
    if rest:
        _pay_before(ledger, term, first, at)
    pay(ledger, term, at, rest[0] if rest else first)
    _propose(ledger, term, at)


def paid_after_proposal_within_3_days(ledger: Ledger, population: Population) -> None:
    """Paid in full one to three days after the proposal, before it is checked: does not count, OPEN."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    pay(ledger, term, ledger.at(ledger.local_day(at) + timedelta(days=ledger.rng.randint(1, 3)), 9, 17), term.fine)
    _propose(ledger, term, at)


def no_fine(ledger: Ledger, population: Population) -> None:
    """The judgment has no fine: RESOLVED."""
    _propose(ledger, _prisoner(ledger, population, "0.00"), _proposal_instant(ledger))


def late_upload_of_earlier_payment(ledger: Ledger, population: Population) -> None:
    """Paid in full days before the proposal, the payment uploaded after it: it counts, RESOLVED."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    paid = ledger.at(ledger.local_day(at) - timedelta(days=ledger.rng.randint(1, 10)), 9, 17)
    delay = (ledger.local_day(at) - ledger.local_day(paid)).days + ledger.rng.randint(1, 10)
    pay(ledger, term, paid, term.fine, upload_delay=delay)
    _propose(ledger, term, at)


def paid_other_case(ledger: Ledger, population: Population) -> None:
    """The full amount paid, but booked on an older case of the prisoner: OPEN."""
    term = _prisoner(ledger, population)
    at = _proposal_instant(ledger)
    older = trial_case_no(ledger, term.person.home, ledger.local_day(term.admitted_at).year - ledger.rng.randint(2, 6))
    paid = ledger.at(ledger.local_day(at) - timedelta(days=ledger.rng.randint(5, 60)), 9, 17)
    pay_fine(ledger, term.person, term.court, older, paid, term.fine)
    _propose(ledger, term, at)


def unpaid_pending(ledger: Ledger, population: Population) -> None:
    """Proposed in the last three days before the clock end, unpaid: not checked yet, PENDING."""
    term = _prisoner(ledger, population)
    _propose(ledger, term, ledger.at(ledger.clock_end_day - timedelta(days=ledger.rng.randint(1, 3)), 9, 17))


#: Storyline name → how it unfolds for one new person.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m07_unpaid": unpaid,
    "m07_partly_paid": partly_paid,
    "m07_paid_one_fen_short": paid_one_fen_short,
    "m07_paid_in_full": paid_in_full,
    "m07_paid_at_proposal_instant": paid_at_proposal_instant,
    "m07_paid_after_proposal_within_3_days": paid_after_proposal_within_3_days,
    "m07_no_fine": no_fine,
    "m07_late_upload_of_earlier_payment": late_upload_of_earlier_payment,
    "m07_paid_other_case": paid_other_case,
    "m07_pending": unpaid_pending,
    "m08_compliant": fine_compliant,
    "m08_partial_payment": fine_partial_payment,
    "m08_violation": fine_violation,
    "m08_paid_before_judgment": fine_paid_before_judgment,
    "m08_filed_day_30_23h59": fine_filed_day_30_23h59,
    "m08_filed_day_31_midnight": fine_filed_day_31_midnight,
    "m08_other_case": fine_other_case,
    "m08_late_upload": fine_late_upload,
    "m08_pending": fine_pending,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {
    "m07_unpaid": 1,
    "m07_partly_paid": 1,
    "m07_paid_in_full": 2,
    "m07_no_fine": 2,
    "m08_compliant": 4,
    "m08_partial_payment": 1,
    "m08_violation": 1.5,
}
