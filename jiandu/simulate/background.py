"""Background life of the province: pensions, hotel stays, traffic checks, lawsuits, penalties, prisoners.

They make the history look like a real export. Most of it concerns *bystanders*
(see :class:`~jiandu.simulate.places.Population`), people no planted lead depends
on; what can still trigger a model plants its lead by construction like any
storyline: a serious administrative penalty (M10), an arrest request (M06), a
long-term prisoner's fine, proposal and admission (M07, M08, M13), the two serial
lenders among the organisations (M11). Drivers all test below 80 mg/100 ml and
pensioners are alive: M01 and M12 leads come from their storylines only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from jiandu.simulate import admin, civil
from jiandu.simulate.drink_driving import checkpoint, penalise
from jiandu.simulate.fines import installments
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.pensions import pay_pensions
from jiandu.simulate.places import CITY_ABBREVIATION, DISTRICTS, TRAVEL_CITIES, Organisation, Person, Population
from jiandu.simulate.police import police_case, request_arrest
from jiandu.simulate.prisons import commute, expect_term_leads, long_term_prisoner, pay, propose
from jiandu.simulate.sentences import money

__all__ = ["STORYLINES", "WEIGHTS", "lodging", "noise"]

Spec = tuple[str, str, Record]  # record type, source, fields


def lodging(ledger: Ledger, person: Person) -> Spec:
    """A hotel check-in somewhere the person travels."""
    city = ledger.rng.choice(TRAVEL_CITIES)
    source = f"police:{city}:hotel" if city in CITY_ABBREVIATION else "police:210000:hotel"
    return (
        "police.lodging",
        source,
        {
            "id_number": person.written(ledger.rng, legacy_ok=True),
            "city_code": city,
            "hotel_id": f"H{city}{ledger.rng.randint(1, 2500):05d}",
        },
    )


def _add(ledger: Ledger, spec: Spec, at: datetime) -> Record:
    record_type, source, fields = spec
    return ledger.record(record_type, source, at, fields)


# --- person storylines ----------------------------------------------------------------------


def pensioner(ledger: Ledger, population: Population) -> None:
    """A living pensioner's monthly payments."""
    person = population.person(60, 90, bystander=True)
    pay_pensions(ledger, person, money(ledger, 1800, 6500))


def traveller(ledger: Ledger, population: Population) -> None:
    """A few hotel check-ins in Liaoning and beyond."""
    person = population.person(20, 70, bystander=True)
    for _ in range(ledger.rng.randint(3, 8)):
        _add(ledger, lodging(ledger, person), ledger.at(ledger.day(), 12, 24))


def driver(ledger: Ledger, population: Population) -> None:
    """A blood-alcohol test at a checkpoint, below the drunk-driving level; a penalty from 20 mg/100 ml."""
    rng = ledger.rng
    person = population.person(20, 65)
    day = ledger.day(hi=-20)
    bac: int | str = rng.choice((rng.randint(5, 19), rng.randint(20, 79)))
    if rng.random() < 0.15:
        bac = f"{bac}.{rng.randint(0, 9)}"
    checkpoint(ledger, person, ledger.at(day, 19, 24), bac)
    if Decimal(str(bac)) >= 20:
        penalise(ledger, person, ledger.at(day + timedelta(days=rng.randint(1, 15)), 8, 20), "drinking")


def suspect_on_bail(ledger: Ledger, population: Population) -> None:
    """A suspect never detained: bail or residential surveillance, then an arrest request (M06) or release."""
    rng = ledger.rng
    person = population.person(18, 65)
    filed = ledger.at(ledger.day(hi=-5), 8, 22)
    case_no = police_case(ledger, person, person.home, filed)
    measure = rng.choice(("BAIL", "BAIL", "RESIDENTIAL_SURVEILLANCE"))
    started = filed + timedelta(hours=rng.randint(2, 48))
    source = f"police:{person.home}"
    base = {"case_no": case_no, "id_number": person.written(rng), "measure": measure}
    ledger.record("police.coercive_measure", source, started, {**base, "action": "START"})
    if rng.random() < 0.4:
        request_arrest(ledger, person, case_no, person.home, started + timedelta(days=rng.randint(20, 60)))
    else:
        ledger.record(
            "police.coercive_measure", source, started + timedelta(days=rng.randint(30, 90)), {**base, "action": "END"}
        )


def prisoner(ledger: Ledger, population: Population) -> None:
    """A long-term prisoner: judged years ago, the fine (if any) paid, a commutation proposed and ruled."""
    rng = ledger.rng
    person = population.person(28, 70)
    admitted_on = ledger.start_day - timedelta(days=rng.randint(400, 9 * 365))
    sentence_end = ledger.clock_end_day + timedelta(days=rng.randint(400, 12 * 365))
    fine = rng.choice(("0.00", "0.00", money(ledger, 3000, 200000)))
    term = long_term_prisoner(ledger, person, sentence_end, admitted_on=admitted_on, fine=fine)
    day = ledger.day(hi=-30)
    span = (day - admitted_on).days - 40
    for amount in installments(ledger, Decimal(fine), rng.randint(1, 3)) if term.fine > 0 else ():
        pay(ledger, term, ledger.at(admitted_on + timedelta(days=rng.randint(31, 31 + span)), 9, 17), amount)
    propose(ledger, term, ledger.at(day, 9, 17))
    commute(ledger, term, ledger.at(day + timedelta(days=rng.randint(20, 60)), 9, 17), rng.randint(3, 9))
    expect_term_leads(ledger, term)


def borrower(ledger: Ledger, population: Population) -> None:
    """Sued by a lending company, or suing an employer; the case closes weeks later."""
    rng = ledger.rng
    person = population.person(22, 70, bystander=True)
    at = ledger.at(ledger.day(hi=-10), 9, 17)
    court = person.home
    if rng.random() < 0.7:
        civil.file_suit(ledger, court, at, "PRIVATE_LENDING", [civil.background_lender(ledger, population)], [person])
    else:
        employer = rng.choice(population.organisations) if population.organisations else population.organisation()
        civil.file_suit(ledger, court, at, "LABOR_DISPUTE", [person], [employer])


def shopkeeper(ledger: Ledger, population: Population) -> None:
    """A sole trader penalised by an administrative agency (M10 when serious)."""
    person = population.person(25, 65, bystander=True)
    admin.penalise(ledger, person, person.home, population)


# --- organisations and everyday life ----------------------------------------------------------


def noise(ledger: Ledger, population: Population) -> None:
    """Organisations' suits and penalties, a couple of serial lenders (M11), bystanders' hotel stays."""
    rng = ledger.rng
    organisations = [population.organisation() for _ in range(max(4, len(population.people) // 10))]
    for index, organisation in enumerate(organisations):
        _organisation_life(ledger, population, organisation, serial_lender=index < 2)
    for person in list(population.bystanders):
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 4)):
                _add(ledger, lodging(ledger, person), ledger.at(ledger.day(), 12, 24))


def _organisation_life(
    ledger: Ledger, population: Population, organisation: Organisation, *, serial_lender: bool
) -> None:
    rng = ledger.rng
    filings: list[civil.Filing] = []
    for _ in range(rng.randint(5, 7) if serial_lender else rng.choice((0, 0, 1, 2))):
        defendants: list[Person | Organisation] = [population.bystander() for _ in range(rng.choice((1, 1, 2)))]
        court = organisation.home if rng.random() < 0.7 else rng.choice(sorted(DISTRICTS))
        at = ledger.at(ledger.day(hi=-10), 9, 17)
        filings.append(civil.file_suit(ledger, court, at, "PRIVATE_LENDING", [organisation], defendants))
    civil.expect_serial_lender(ledger, organisation, filings)
    if rng.random() < 0.5:
        admin.penalise(ledger, organisation, organisation.home, population)


#: Storyline name → how it unfolds for one new person.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "bg_pensioner": pensioner,
    "bg_traveller": traveller,
    "bg_driver": driver,
    "bg_suspect_on_bail": suspect_on_bail,
    "bg_prisoner": prisoner,
    "bg_borrower": borrower,
    "bg_shopkeeper": shopkeeper,
}

#: Relative frequency of each storyline: plain life is most of what agencies record.
WEIGHTS = {
    "bg_pensioner": 25,
    "bg_traveller": 15,
    "bg_driver": 20,
    "bg_suspect_on_bail": 8,
    "bg_prisoner": 10,
    "bg_borrower": 15,
    "bg_shopkeeper": 8,
}
