"""Monthly pensions and deaths; storylines for M12 PENSION_AFTER_DEATH (死亡后冒领养老金).

A lead (one per person) exists once a ``social.pension_paid`` for a ``period`` later
than the month of ``died_on`` and a ``police.death_registered`` are both present, in
either order; with several death records the earliest ``died_on`` counts, and the
payment for the month of death itself is lawful. The planted trigger is the earliest
offending payment. Background pensions and invalid lines are only ever written for
living bystanders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from jiandu.core.timeutil import add_months
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person, Population
from jiandu.simulate.sentences import money

__all__ = ["STORYLINES", "WEIGHTS", "pay_pensions", "pension"]

Spec = tuple[str, str, Record]


@dataclass(frozen=True, slots=True)
class _Payment:
    record: Record
    at: datetime
    period: date  # first day of the month paid for


def pension(ledger: Ledger, person: Person, month: date, amount: str) -> Spec:
    """The monthly pension payment for ``month``."""
    return (
        "social.pension_paid",
        f"social:{person.city}",
        {
            "id_number": person.written(ledger.rng, legacy_ok=True),
            "period": f"{month:%Y-%m}",
            "amount_cny": amount,
        },
    )


def pay_pensions(ledger: Ledger, person: Person, amount: str, last_month: date | None = None) -> list[_Payment]:
    """Every monthly payment of the timeline up to ``last_month`` (paid between the 5th and the 10th)."""
    payments: list[_Payment] = []
    month = ledger.start_day.replace(day=1)
    while month < ledger.clock_end_day and (last_month is None or month <= last_month):
        paid = month.replace(day=ledger.rng.randint(5, 10))
        at = ledger.at(paid, 9, 12)
        if paid >= ledger.start_day and ledger.in_history(at):
            record_type, source, fields = pension(ledger, person, month, amount)
            payments.append(_Payment(ledger.record(record_type, source, at, fields), at, month))
        month = add_months(month, 1)
    return payments


def _register_death(ledger: Ledger, person: Person, died_on: date, at: datetime) -> date | None:
    """A death registration; returns ``died_on`` when it is in the history."""
    ledger.record(
        "police.death_registered",
        f"police:{person.home}",
        at,
        {"id_number": person.written(ledger.rng), "died_on": died_on.isoformat()},
    )
    return died_on if ledger.in_history(at) else None


def _expect(ledger: Ledger, person: Person, payments: list[_Payment], deaths: list[date | None]) -> None:
    """Plant M12: OPEN at the earliest payment for a month after the earliest registered death."""
    registered = [d for d in deaths if d is not None]
    if not registered:
        return
    death_month = min(registered).replace(day=1)
    offending = [p for p in payments if p.period > death_month]
    if offending:
        first = min(offending, key=lambda p: p.at)
        ledger.expect_now("M12", first.record, first.at, ledger.subject(person))


def _pensioner(ledger: Ledger, population: Population) -> tuple[Person, str, date]:
    person = population.person(62, 92)
    return person, money(ledger, 1800, 6500), ledger.day(hi=-65)


def paid_after_death(ledger: Ledger, population: Population) -> None:
    """Death registered within weeks; the pension keeps coming one to three months more: OPEN."""
    person, amount, died = _pensioner(ledger, population)
    payments = pay_pensions(ledger, person, amount, add_months(died.replace(day=1), ledger.rng.randint(1, 3)))
    registered = ledger.at(died + timedelta(days=ledger.rng.randint(2, 20)), 9, 17)
    _expect(ledger, person, payments, [_register_death(ledger, person, died, registered)])


def death_registered_late(ledger: Ledger, population: Population) -> None:
    """The family reports the death only after two more payments arrived: OPEN when the record comes."""
    person, amount, died = _pensioner(ledger, population)
    payments = pay_pensions(ledger, person, amount, add_months(died.replace(day=1), 2))
    registered = ledger.at(add_months(died.replace(day=1), 2) + timedelta(days=ledger.rng.randint(12, 25)), 9, 17)
    _expect(ledger, person, payments, [_register_death(ledger, person, died, registered)])


def paid_for_death_month(ledger: Ledger, population: Population) -> None:
    """Died on the 1st to 4th; the pension for that month is paid after the death, none later: no lead."""
    person, amount, died = _pensioner(ledger, population)
    died = died.replace(day=ledger.rng.randint(1, 4))
    payments = pay_pensions(ledger, person, amount, died.replace(day=1))
    registered = ledger.at(died + timedelta(days=ledger.rng.randint(5, 20)), 9, 17)
    _expect(ledger, person, payments, [_register_death(ledger, person, died, registered)])


def stopped_in_time(ledger: Ledger, population: Population) -> None:
    """Died; the payments stop with the month of death: no lead."""
    person, amount, died = _pensioner(ledger, population)
    last = died.replace(day=1) if died.day < 5 or ledger.rng.random() < 0.5 else add_months(died.replace(day=1), -1)
    payments = pay_pensions(ledger, person, amount, last)
    registered = ledger.at(died + timedelta(days=ledger.rng.randint(2, 20)), 9, 17)
    _expect(ledger, person, payments, [_register_death(ledger, person, died, registered)])


def several_death_records(ledger: Ledger, population: Population) -> None:
    """Two death records (late in a month, then a corrected one early in the next); paid for that next month.

    The earliest ``died_on`` counts: the payment for the next month is after it, OPEN.
    """
    person, amount, day = _pensioner(ledger, population)
    first_month = day.replace(day=1)
    next_month = add_months(first_month, 1)
    died_first = add_months(next_month, 0) - timedelta(days=ledger.rng.randint(1, 3))
    died_second = next_month + timedelta(days=ledger.rng.randint(0, 2))
    payments = pay_pensions(ledger, person, amount, next_month)
    deaths = [
        _register_death(ledger, person, died_first, ledger.at(died_first + timedelta(days=3), 9, 17)),
        _register_death(
            ledger, person, died_second, ledger.at(died_second + timedelta(days=ledger.rng.randint(5, 15)), 9, 17)
        ),
    ]
    _expect(ledger, person, payments, deaths)


#: Storyline name → how it unfolds for one new pensioner.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m12_paid_after_death": paid_after_death,
    "m12_death_registered_late": death_registered_late,
    "m12_paid_for_death_month": paid_for_death_month,
    "m12_stopped_in_time": stopped_in_time,
    "m12_several_death_records": several_death_records,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {
    "m12_paid_after_death": 1,
    "m12_death_registered_late": 0.5,
    "m12_paid_for_death_month": 0.5,
    "m12_stopped_in_time": 1.5,
    "m12_several_death_records": 0.3,
}
