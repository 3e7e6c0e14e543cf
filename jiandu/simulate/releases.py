"""Storylines for M13 RELEASE_MISMATCH (违法释放 / 刑满未释放): releases against the adjusted sentence end.

Each prisoner was admitted years before the timeline with an original
``sentence_end``; commutation rulings shorten it one at a time, in calendar months
with the day clamped (31 March − 1 month = 29 February). Checked 3 days after a
release: ``SENTENCE_COMPLETED`` before the adjusted end (rulings at or before the
release) is ``EARLY_RELEASE``; ``PAROLE`` / ``OUTSIDE_EXECUTION`` without the ruling
at or before it is ``RELEASE_WITHOUT_RULING``. An admission with no release before
00:00 of adjusted end + 2 days (all rulings) is ``NOT_RELEASED``. Every lead of a
term is planted by :func:`jiandu.simulate.prisons.expect_term_leads`; parole
rulings are M02 triggers, the parolee enrolled in time (RESOLVED, planted).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from jiandu.core.timeutil import CST, add_months
from jiandu.simulate.correction import report
from jiandu.simulate.ledger import Ledger
from jiandu.simulate.places import Population
from jiandu.simulate.prisons import (
    PrisonTerm,
    adjusted_end,
    commute,
    expect_term_leads,
    grant_parole,
    long_term_prisoner,
    propose,
    release,
)

__all__ = ["STORYLINES", "WEIGHTS"]


def _prisoner(ledger: Ledger, population: Population, sentence_end: date) -> PrisonTerm:
    """Admitted one to eight years before the timeline (without fine: M07 has nothing to find)."""
    person = population.person(28, 65)
    admitted_on = ledger.start_day - timedelta(days=ledger.rng.randint(365, 8 * 365))
    return long_term_prisoner(ledger, person, sentence_end, admitted_on=admitted_on)


def _target(ledger: Ledger, margin: int = 7) -> date:
    """An adjusted end date whose release can be checked before the clock end."""
    return ledger.day(lo=10, hi=ledger.days + 20 - margin)


def _commuted(ledger: Ledger, population: Population, target: date, months: list[int]) -> PrisonTerm:
    """A prisoner whose rulings (before the target) bring the sentence end to about ``target``."""
    term = _prisoner(ledger, population, add_months(target, sum(months)))
    earliest = ledger.local_day(term.admitted_at) + timedelta(days=200)
    latest = target - timedelta(days=60)
    for index, reduced in enumerate(months):
        day = earliest + timedelta(days=(latest - earliest).days * (index + 1) // (len(months) + 1))
        commute(ledger, term, ledger.at(day, 9, 17), reduced)
    return term


def _any_rulings(ledger: Ledger) -> list[int]:
    return [ledger.rng.randint(2, 9) for _ in range(ledger.rng.choice((0, 1, 1, 2)))]


def _morning(ledger: Ledger, day: date) -> datetime:
    return ledger.at(day, 8, 11)


def _release_on(ledger: Ledger, term: PrisonTerm, day: date, reason: str = "SENTENCE_COMPLETED") -> None:
    release(ledger, term, _morning(ledger, day), reason)
    expect_term_leads(ledger, term)


def released_on_adjusted_end(ledger: Ledger, population: Population) -> None:
    """Released on the adjusted end date itself (compare dates): EARLY_RELEASE and NOT_RELEASED RESOLVED."""
    term = _commuted(ledger, population, _target(ledger), _any_rulings(ledger))
    _release_on(ledger, term, adjusted_end(term.sentence_end, term.rulings))


def early_release(ledger: Ledger, population: Population) -> None:
    """Released weeks before the adjusted end for "sentence completed": EARLY_RELEASE OPEN."""
    term = _commuted(ledger, population, _target(ledger, margin=37) + timedelta(days=30), _any_rulings(ledger))
    end = adjusted_end(term.sentence_end, term.rulings)
    _release_on(ledger, term, end - timedelta(days=ledger.rng.randint(5, 30)))


def released_one_day_early(ledger: Ledger, population: Population) -> None:
    """Released the day before the adjusted end: EARLY_RELEASE OPEN."""
    term = _commuted(ledger, population, _target(ledger) + timedelta(days=1), _any_rulings(ledger))
    _release_on(ledger, term, adjusted_end(term.sentence_end, term.rulings) - timedelta(days=1))


def _month_ends(ledger: Ledger, rulings: int) -> list[date]:
    """Original ends on a 31st whose adjusted end is clamped, and can be checked before the clock end.

    One ruling: the month before is shorter (31 March → 29 February). Two: applying
    them one at a time differs from subtracting both at once (31 May → 30 April → 30 March).
    """
    first, last = ledger.start_day + timedelta(days=10), ledger.clock_end_day - timedelta(days=7)
    found = []
    month = first.replace(day=1)
    while month <= last:
        end = add_months(month, rulings)
        end = end.replace(day=calendar.monthrange(end.year, end.month)[1])
        adjusted = end
        for _ in range(rulings):
            adjusted = add_months(adjusted, -1)
        clamped = adjusted.day < end.day if rulings == 1 else adjusted != add_months(end, -rulings)
        if end.day == 31 and clamped and first <= adjusted <= last:
            found.append(end)
        month = add_months(month, 1)
    return found


def _clamped(ledger: Ledger, population: Population, rulings: int) -> None:
    """One-month rulings a year or so before the timeline; released on the adjusted end."""
    ends = _month_ends(ledger, rulings) or [add_months(_target(ledger), rulings)]
    term = _prisoner(ledger, population, ledger.rng.choice(ends))
    for index in range(rulings):
        commute(ledger, term, ledger.at(ledger.start_day - timedelta(days=300 - 100 * index), 9, 17), 1)
    _release_on(ledger, term, adjusted_end(term.sentence_end, term.rulings))


def commutation_month_clamped(ledger: Ledger, population: Population) -> None:
    """Sentence end on a 31st, one month off: the day is clamped (31 March − 1 month = 29 February).

    Released on the clamped date: RESOLVED (a hub that counted 30 days would see an early release).
    """
    _clamped(ledger, population, 1)


def rulings_applied_one_at_a_time(ledger: Ledger, population: Population) -> None:
    """Two one-month rulings on a 31st: 31 May → 30 April → 30 March, not 31 March.

    Released on 30 March: RESOLVED (subtracting two months at once would make it early).
    """
    _clamped(ledger, population, 2)


def ruling_after_release(ledger: Ledger, population: Population) -> None:
    """Released on the date a commutation ruled only after the release gives: EARLY_RELEASE OPEN.

    Only rulings at or before the release count for it; ``NOT_RELEASED`` counts them all (RESOLVED).
    """
    target = _target(ledger, margin=30)
    term = _prisoner(ledger, population, add_months(target, 6))
    release(ledger, term, _morning(ledger, add_months(term.sentence_end, -6)), "SENTENCE_COMPLETED")
    commute(ledger, term, ledger.at(target + timedelta(days=ledger.rng.randint(1, 20)), 9, 17), 6)
    expect_term_leads(ledger, term)


def _free_on_ruling(ledger: Ledger, population: Population, reason: str) -> tuple[PrisonTerm, date]:
    """A prisoner months or years from the end, released early on parole or outside execution; the release day."""
    released = _target(ledger, margin=10)
    term = _prisoner(ledger, population, released + timedelta(days=ledger.rng.randint(200, 900)))
    if reason == "PAROLE":
        propose(ledger, term, ledger.at(released - timedelta(days=ledger.rng.randint(30, 60)), 9, 17), "PAROLE")
    return term, released


def parole_without_ruling(ledger: Ledger, population: Population) -> None:
    """Released on parole that no court granted: RELEASE_WITHOUT_RULING OPEN."""
    term, day = _free_on_ruling(ledger, population, "PAROLE")
    _release_on(ledger, term, day, "PAROLE")


def _parole(ledger: Ledger, term: PrisonTerm, ruled: datetime, released: datetime) -> None:
    """A parole ruling; the parolee reports within days of both ruling and release (M02 RESOLVED)."""
    record = grant_parole(ledger, term.person, term.case_no, ruled, ledger.rng.randint(6, 36))
    if ledger.in_history(ruled):
        term.paroles.append(ruled)
    enrolled = ledger.at(ledger.local_day(max(ruled, released)) + timedelta(days=ledger.rng.randint(1, 4)), 9, 17)
    report(ledger, term.person, record, ruled, "PAROLE", int(record["remaining_months"]), enrolled)


def parole_with_ruling(ledger: Ledger, population: Population) -> None:
    """Parole granted, released one to three days later: RELEASE_WITHOUT_RULING RESOLVED."""
    term, day = _free_on_ruling(ledger, population, "PAROLE")
    ruled = ledger.at(day - timedelta(days=ledger.rng.randint(1, 3)), 9, 17)
    released = _morning(ledger, day)
    _parole(ledger, term, ruled, released)
    release(ledger, term, released, "PAROLE")
    expect_term_leads(ledger, term)


def parole_ruling_after_release(ledger: Ledger, population: Population) -> None:
    """Released on parole a day to a week before the court granted it: RELEASE_WITHOUT_RULING OPEN."""
    term, day = _free_on_ruling(ledger, population, "PAROLE")
    released = _morning(ledger, day)
    ruled = ledger.at(ledger.local_day(released) + timedelta(days=ledger.rng.randint(1, 7)), 9, 17)
    _parole(ledger, term, ruled, released)
    release(ledger, term, released, "PAROLE")
    expect_term_leads(ledger, term)


def outside_execution_without_approval(ledger: Ledger, population: Population) -> None:
    """Released for medical parole without any court approval: RELEASE_WITHOUT_RULING OPEN."""
    term, day = _free_on_ruling(ledger, population, "OUTSIDE_EXECUTION")
    _release_on(ledger, term, day, "OUTSIDE_EXECUTION")


def not_released(ledger: Ledger, population: Population) -> None:
    """Still inside two days after the adjusted end: NOT_RELEASED OPEN."""
    term = _commuted(ledger, population, _target(ledger), _any_rulings(ledger))
    expect_term_leads(ledger, term)


def _boundary_release(ledger: Ledger, population: Population, released: Callable[[date], datetime]) -> None:
    term = _commuted(ledger, population, _target(ledger), _any_rulings(ledger))
    at = released(adjusted_end(term.sentence_end, term.rulings))
    release(ledger, term, at, "SENTENCE_COMPLETED", stamp=ledger.boundary_stamp())
    expect_term_leads(ledger, term)


def released_last_allowed_day(ledger: Ledger, population: Population) -> None:
    """Released at 23:59:59 of adjusted end + 1 day, the last second allowed: NOT_RELEASED RESOLVED."""
    _boundary_release(ledger, population, lambda end: ledger.last_instant_before(_midnight(end + timedelta(days=2))))


def released_two_days_late(ledger: Ledger, population: Population) -> None:
    """Released at 00:00:00 of adjusted end + 2 days, the deadline itself: NOT_RELEASED OPEN."""
    _boundary_release(ledger, population, lambda end: _midnight(end + timedelta(days=2)))


def not_released_after_commutation(ledger: Ledger, population: Population) -> None:
    """The original end lies after the clock end, but commutations bring it back; no release: OPEN."""
    target = _target(ledger)
    months = [ledger.rng.randint(6, 12), ledger.rng.randint(6, 12)]
    term = _commuted(ledger, population, target, months)
    expect_term_leads(ledger, term)


def sentence_runs_on(ledger: Ledger, population: Population) -> None:
    """The sentence ends after the clock end: NOT_RELEASED PENDING."""
    term = _prisoner(ledger, population, ledger.clock_end_day + timedelta(days=ledger.rng.randint(0, 3000)))
    expect_term_leads(ledger, term)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), CST)


#: Storyline name → how it unfolds for one new prisoner.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m13_released_on_adjusted_end": released_on_adjusted_end,
    "m13_early_release": early_release,
    "m13_released_one_day_early": released_one_day_early,
    "m13_commutation_month_clamped": commutation_month_clamped,
    "m13_rulings_applied_one_at_a_time": rulings_applied_one_at_a_time,
    "m13_ruling_after_release": ruling_after_release,
    "m13_parole_without_ruling": parole_without_ruling,
    "m13_parole_with_ruling": parole_with_ruling,
    "m13_parole_ruling_after_release": parole_ruling_after_release,
    "m13_outside_execution_without_approval": outside_execution_without_approval,
    "m13_not_released": not_released,
    "m13_released_last_allowed_day": released_last_allowed_day,
    "m13_released_two_days_late": released_two_days_late,
    "m13_not_released_after_commutation": not_released_after_commutation,
    "m13_pending": sentence_runs_on,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {
    "m13_released_on_adjusted_end": 3,
    "m13_parole_with_ruling": 1,
    "m13_pending": 2,
    "m13_early_release": 0.5,
}
