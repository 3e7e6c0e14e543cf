"""Criminal judgments and the execution of their fines, shared by every storyline that sentences someone.

A judgment with ``fine_cny`` > 0 is an M08 trigger: the court must file the property
part for execution (or collect a payment) within 30 days. :func:`settle_fine` is the
ordinary course of things (an execution filing 3 to 25 days later) and plants the
RESOLVED (or PENDING) M08 lead it makes, so no storyline that merely sentences
someone leaves an unplanned M08 lead behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CHARGES, Person, court_code

__all__ = [
    "FINE_DAYS",
    "execution_no",
    "expect_fine_executed",
    "file_execution",
    "judgment",
    "money",
    "pay_fine",
    "settle_fine",
    "trial_case_no",
]

FINE_DAYS = 30  # M08: file for execution within 30 days


def money(ledger: Ledger, low: int, high: int) -> str:
    """A yuan amount as agencies write it: a decimal string, usually whole hundreds."""
    rng = ledger.rng
    if rng.random() < 0.7:
        return f"{rng.randint(low // 100, high // 100) * 100}.00"
    return f"{rng.randint(low, high)}.{rng.randint(0, 99):02d}"


def trial_case_no(ledger: Ledger, court: str, year: int) -> str:
    """A criminal first-instance case number: ``(2024)辽0102刑初123号``."""
    number = ledger.serial(f"刑初/{court}/{year}", ledger.rng.randint(100, 140))
    return f"({year}){court_code(court)}刑初{number}号"


def execution_no(ledger: Ledger, court: str, year: int) -> str:
    """An execution case number: ``(2024)辽0102执612号``."""
    return f"({year}){court_code(court)}执{ledger.serial(f'执/{court}/{year}', 600)}号"


def judgment(
    ledger: Ledger,
    person: Person,
    court: str,
    at: datetime,
    case_no: str,
    sentence: str,
    *,
    prison_months: int = 0,
    probation_months: int = 0,
    fine: str = "0.00",
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


def file_execution(
    ledger: Ledger,
    person: Person,
    court: str,
    case_no: str,
    at: datetime,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> Record:
    """The court files the property part of a judgment for execution (``court.execution_filed``)."""
    return ledger.record(
        "court.execution_filed",
        f"court:{court}",
        at,
        {
            "execution_no": execution_no(ledger, court, ledger.local_day(at).year),
            "case_no": case_no,
            "id_number": person.written(ledger.rng),
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )


def pay_fine(
    ledger: Ledger,
    person: Person,
    court: str,
    case_no: str,
    at: datetime,
    amount: Decimal,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> Record:
    """A payment collected on a fine (``court.property_penalty_executed``)."""
    return ledger.record(
        "court.property_penalty_executed",
        f"court:{court}",
        at,
        {
            "execution_no": execution_no(ledger, court, ledger.local_day(at).year),
            "case_no": case_no,
            "id_number": person.written(ledger.rng),
            "amount_cny": f"{amount:.2f}",
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )


def expect_fine_executed(
    ledger: Ledger, verdict: Record, judged_at: datetime, person: Person, closed_at: Iterable[datetime | None]
) -> None:
    """Plant the M08 lead of a judgment with a fine: closed by a filing or payment at or after it, within 30 days."""
    if Decimal(str(verdict["fine_cny"])) > 0:
        ledger.expect_deadline("M08", verdict, judged_at, FINE_DAYS, ledger.subject(person), closed_at)


def settle_fine(ledger: Ledger, person: Person, verdict: Record, judged_at: datetime) -> datetime | None:
    """The ordinary course: a fine is filed for execution 3 to 25 days after the judgment (M08 RESOLVED).

    Returns the filing instant (None without a fine).
    """
    if Decimal(str(verdict["fine_cny"])) == 0:
        return None
    court = str(verdict["jurisdiction"])
    filed = ledger.at(_day_after(ledger, judged_at, ledger.rng.randint(3, 25)), 9, 17)
    file_execution(ledger, person, court, str(verdict["case_no"]), filed)
    expect_fine_executed(ledger, verdict, judged_at, person, [filed])
    return filed


def _day_after(ledger: Ledger, at: datetime, days: int) -> date:
    return ledger.local_day(at) + timedelta(days=days)
