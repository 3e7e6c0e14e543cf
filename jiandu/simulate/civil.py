"""Civil lawsuits; storylines for M11 SERIAL_LENDING_PLAINTIFF (职业放贷 / 虚假诉讼).

A plaintiff party (a lending company or a natural-person lender) in five distinct
(by ``case_no``) ``PRIVATE_LENDING`` filings whose ``occurred_at`` span at most
365 × 24 hours raises one lead, as soon as the fifth is present; co-plaintiffs each
count, defendants and other causes do not. The planted lead's trigger is the filing
that completes the first such window, its subject the plaintiff.

Background lenders file at most four suits each (see :func:`background_lender`), and
the lenders of these storylines are known to no background record, so every M11
lead of a history is planted here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import DISTRICTS, Organisation, Person, Population, court_code
from jiandu.simulate.sentences import money

__all__ = [
    "STORYLINES",
    "WEIGHTS",
    "Filing",
    "background_lender",
    "civil_filing",
    "expect_serial_lender",
    "file_suit",
]

Spec = tuple[str, str, Record]
Party = Person | Organisation
Filing = tuple[Record, datetime]

_SERIAL = 5  # filings that make a serial plaintiff
_WINDOW = timedelta(days=365)
_BACKGROUND_MAX = _SERIAL - 1
_OTHER_CAUSES = ("LABOR_DISPUTE", "INSURANCE_CLAIM", "OTHER")


def _party(ledger: Ledger, party: Party) -> Record:
    if isinstance(party, Person):
        return {"id_number": party.written(ledger.rng)}
    return {"credit_code": party.credit_code}


def civil_filing(
    ledger: Ledger, court: str, day: date, cause: str, plaintiffs: list[Record], defendants: list[Record]
) -> Spec:
    """A civil case filed at a district court."""
    number = ledger.serial(f"民初/{court}/{day.year}", ledger.rng.randint(100, 130))
    claim: str | int = money(ledger, 20000, 800000)
    if ledger.rng.random() < 0.2:
        claim = int(float(claim))
    return (
        "court.civil_case_filed",
        f"court:{court}",
        {
            "case_no": f"({day.year}){court_code(court)}民初{number}号",
            "cause": cause,
            "plaintiffs": plaintiffs,
            "defendants": defendants,
            "claim_cny": claim,
        },
    )


def file_suit(
    ledger: Ledger,
    court: str,
    at: datetime,
    cause: str,
    plaintiffs: list[Party],
    defendants: list[Party],
    *,
    stamp: str | None = None,
) -> Filing:
    """A civil case filed (and usually closed weeks later)."""
    day = ledger.local_day(at)
    parties = [_party(ledger, p) for p in plaintiffs], [_party(ledger, p) for p in defendants]
    record_type, source, fields = civil_filing(ledger, court, day, cause, *parties)
    filed = ledger.record(record_type, source, at, fields, stamp=stamp)
    if ledger.rng.random() < 0.8:
        closed = ledger.at(day + timedelta(days=ledger.rng.randint(20, 90)), 9, 17)
        closure = ledger.rng.choice(("MEDIATION", "JUDGMENT", "JUDGMENT", "WITHDRAWAL", "DISMISSED"))
        ledger.record("court.civil_case_closed", source, closed, {"case_no": filed["case_no"], "closure": closure})
    return filed, at


def expect_serial_lender(ledger: Ledger, plaintiff: Party, filings: list[Filing]) -> None:
    """Plant M11 for a plaintiff's private-lending filings: OPEN at the fifth distinct one within 365 days."""
    distinct: list[Filing] = []
    seen: set[str] = set()
    for record, at in sorted((f for f in filings if ledger.in_history(f[1])), key=lambda f: f[1]):
        if record["case_no"] not in seen:
            seen.add(str(record["case_no"]))
            distinct.append((record, at))
    for index in range(_SERIAL - 1, len(distinct)):
        record, at = distinct[index]
        if at - distinct[index - _SERIAL + 1][1] <= _WINDOW:
            ledger.expect_now("M11", record, at, ledger.subject(plaintiff))
            return


def background_lender(ledger: Ledger, population: Population) -> Organisation:
    """A lending company of the background: a new one now and then, never more than four suits each."""
    rng = ledger.rng
    lenders = population.lenders
    if not lenders or rng.random() < 0.3:
        lenders.append(population.organisation())
    index = rng.randrange(len(lenders)) if rng.random() < 0.7 else len(lenders) - 1
    lender = lenders[index]
    population.suits[lender.credit_code] += 1
    if population.suits[lender.credit_code] >= _BACKGROUND_MAX:
        lenders[index] = lenders[-1]
        lenders.pop()
    return lender


# --- M11 storylines ---------------------------------------------------------------------------


def _court(ledger: Ledger, home: str) -> str:
    return home if ledger.rng.random() < 0.7 else ledger.rng.choice(sorted(DISTRICTS))


def _instants(
    ledger: Ledger, count: int, first: datetime | None = None, last: datetime | None = None
) -> list[datetime]:
    """``count`` instants on distinct days of the timeline (or strictly between ``first`` and ``last``)."""
    if first is None or last is None:
        offsets = sorted(ledger.rng.sample(range(ledger.days), k=min(count, ledger.days)))
        return [ledger.at(ledger.start_day + timedelta(days=o), 9, 17) for o in offsets]
    span = (ledger.local_day(last) - ledger.local_day(first)).days
    offsets = sorted(ledger.rng.sample(range(1, span), k=count))
    return [ledger.at(ledger.local_day(first) + timedelta(days=o), 9, 17) for o in offsets]


def _lend(
    ledger: Ledger, population: Population, lenders: list[Party], home: str, instants: list[datetime], **kw: str | None
) -> list[Filing]:
    """A private-lending suit by ``lenders`` against a borrower at each instant."""
    return [
        file_suit(ledger, _court(ledger, home), at, "PRIVATE_LENDING", lenders, [population.bystander()], **kw)
        for at in instants
    ]


def _lender(ledger: Ledger, population: Population) -> tuple[Party, str]:
    if ledger.rng.random() < 0.7:
        organisation = population.organisation(register=False)
        return organisation, organisation.home
    person = population.person(30, 70)
    return person, person.home


def serial_lender(ledger: Ledger, population: Population) -> None:
    """A lending company suing five to nine borrowers within the timeline: OPEN."""
    lender = population.organisation(register=False)
    filings = _lend(ledger, population, [lender], lender.home, _instants(ledger, ledger.rng.randint(5, 9)))
    expect_serial_lender(ledger, lender, filings)


def person_lender(ledger: Ledger, population: Population) -> None:
    """A natural person lending professionally (职业放贷人), five to seven suits: OPEN."""
    lender = population.person(30, 70)
    filings = _lend(ledger, population, [lender], lender.home, _instants(ledger, ledger.rng.randint(5, 7)))
    expect_serial_lender(ledger, lender, filings)


def four_filings(ledger: Ledger, population: Population) -> None:
    """Four suits: one short of a serial plaintiff, no lead."""
    lender, home = _lender(ledger, population)
    expect_serial_lender(ledger, lender, _lend(ledger, population, [lender], home, _instants(ledger, 4)))


def _year_apart(ledger: Ledger, population: Population, extra: timedelta) -> None:
    lender, home = _lender(ledger, population)
    last = ledger.at(ledger.day(), 9, 17)
    first = last - _WINDOW - extra
    stamp = ledger.boundary_stamp()
    filings = _lend(ledger, population, [lender], home, [first], stamp=stamp)
    filings += _lend(ledger, population, [lender], home, _instants(ledger, _SERIAL - 2, first, last))
    filings += _lend(ledger, population, [lender], home, [last], stamp=stamp)
    expect_serial_lender(ledger, lender, filings)


def five_within_365_days(ledger: Ledger, population: Population) -> None:
    """Five suits, the fifth exactly 365 × 24 hours after the first (last year's filings in the export): OPEN."""
    _year_apart(ledger, population, timedelta(0))


def five_spanning_365_days_1s(ledger: Ledger, population: Population) -> None:
    """Five suits, the fifth 365 × 24 hours and one second after the first: no lead."""
    _year_apart(ledger, population, timedelta(seconds=1))


def co_plaintiffs(ledger: Ledger, population: Population) -> None:
    """A couple lending together: three suits each alone, two jointly; each co-plaintiff counts, two OPEN."""
    first, second = population.person(35, 70), population.person(35, 70)
    instants = _instants(ledger, 8)
    ledger.rng.shuffle(instants)
    filings = _lend(ledger, population, [first, second], first.home, instants[:2])
    own = _lend(ledger, population, [first], first.home, instants[2:5])
    others = _lend(ledger, population, [second], first.home, instants[5:])
    expect_serial_lender(ledger, first, filings + own)
    expect_serial_lender(ledger, second, filings + others)


def defendant_not_counted(ledger: Ledger, population: Population) -> None:
    """A company suing four borrowers and sued twice by its own creditors: defendants do not count, no lead."""
    lender = population.organisation(register=False)
    instants = _instants(ledger, 6)
    filings = _lend(ledger, population, [lender], lender.home, instants[:4])
    for at in instants[4:]:
        file_suit(ledger, _court(ledger, lender.home), at, "PRIVATE_LENDING", [population.bystander()], [lender])
    expect_serial_lender(ledger, lender, filings)


def other_cause_not_counted(ledger: Ledger, population: Population) -> None:
    """Four private-lending suits and two of other causes by the same plaintiff: no lead."""
    lender, home = _lender(ledger, population)
    instants = _instants(ledger, 6)
    filings = _lend(ledger, population, [lender], home, instants[:4])
    for at in instants[4:]:
        cause = ledger.rng.choice(_OTHER_CAUSES)
        file_suit(ledger, _court(ledger, home), at, cause, [lender], [population.organisation(register=False)])
    expect_serial_lender(ledger, lender, filings)


def duplicate_case_no(ledger: Ledger, population: Population) -> None:
    """Four suits, one of them registered twice under its case number (a system migration): four, no lead."""
    lender, home = _lender(ledger, population)
    filings = _lend(ledger, population, [lender], home, _instants(ledger, 4))
    record, at = filings[ledger.rng.randrange(len(filings))]
    again = at + timedelta(days=ledger.rng.randint(1, 10), minutes=ledger.rng.randint(1, 600))
    copy = {
        k: v
        for k, v in record.items()
        if k not in ("type", "source", "source_record_id", "occurred_at", "jurisdiction", "recorded_at")
    }
    filings.append((ledger.record("court.civil_case_filed", str(record["source"]), again, copy), again))
    expect_serial_lender(ledger, lender, filings)


#: Storyline name → how it unfolds for new lenders.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m11_serial_lender": serial_lender,
    "m11_person_lender": person_lender,
    "m11_four_filings": four_filings,
    "m11_five_within_365_days": five_within_365_days,
    "m11_five_spanning_365_days_1s": five_spanning_365_days_1s,
    "m11_co_plaintiffs": co_plaintiffs,
    "m11_defendant_not_counted": defendant_not_counted,
    "m11_other_cause_not_counted": other_cause_not_counted,
    "m11_duplicate_case_no": duplicate_case_no,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m11_serial_lender": 1, "m11_person_lender": 0.5}
