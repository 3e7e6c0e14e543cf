"""Background life of the province: records that no M02 or M05 lead depends on.

Pensions, hotel check-ins, drink-driving tests, civil suits, administrative
penalties, suspects on bail, long-term prisoners. They make the history look like
a real export and give the other models something to chew on; none of them is a
correction enrolment, an M02 trigger or a criminal detention.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from jiandu.core.timeutil import add_months
from jiandu.simulate.correction import trial_case_no
from jiandu.simulate.detention import police_case
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import (
    CITY_ABBREVIATION,
    DISTRICTS,
    PRISONS,
    TRAVEL_CITIES,
    Organisation,
    Person,
    Population,
    city_of,
    court_code,
    police_bureau,
)

__all__ = ["STORYLINES", "admin_penalty", "civil_filing", "lodging", "noise", "pension"]

Spec = tuple[str, str, Record]  # record type, source, fields

# domain → (agency unit, document abbreviation, serious violation, minor violation, unit of quantity,
#           the charge the police file when the serious case is transferred)
_ADMIN = {
    "ENVIRONMENT": ("env", "环", "ENV_HAZARDOUS_WASTE_DUMPING", "ENV_NOISE_EXCESS", "吨", ("338", "污染环境罪")),
    "MARKET": (
        "market",
        "市监",
        "MARKET_COUNTERFEIT_SALES",
        "MARKET_LABEL_VIOLATION",
        None,
        ("140", "生产、销售伪劣产品罪"),
    ),
    "EMERGENCY": (
        "emergency",
        "应急",
        "EMERGENCY_FATAL_ACCIDENT",
        "EMERGENCY_SAFETY_TRAINING",
        "人",
        ("134", "重大责任事故罪"),
    ),
    "WATER": ("water", "水", "WATER_ILLEGAL_SAND_MINING", "WATER_PERMIT_MISSING", "吨", ("343", "非法采矿罪")),
    "NATURAL_RESOURCES": ("natres", "自然资", "NR_ILLEGAL_MINING", "NR_LAND_OCCUPATION", "吨", ("343", "非法采矿罪")),
    "TAX": ("tax", "税", "TAX_FALSE_INVOICE", "TAX_LATE_FILING", None, ("205", "虚开增值税专用发票罪")),
}


def _money(ledger: Ledger, low: int, high: int) -> str:
    """A yuan amount as agencies write it: a decimal string, usually whole hundreds."""
    rng = ledger.rng
    if rng.random() < 0.7:
        return f"{rng.randint(low // 100, high // 100) * 100}.00"
    return f"{rng.randint(low, high)}.{rng.randint(0, 99):02d}"


# --- record builders (also the raw material of the invalid lines) ---------------------------


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


def civil_filing(
    ledger: Ledger, court: str, day: date, cause: str, plaintiffs: list[Record], defendants: list[Record]
) -> Spec:
    """A civil case filed at a district court."""
    number = ledger.serial(f"民初/{court}/{day.year}", ledger.rng.randint(100, 130))
    claim: str | int = _money(ledger, 20000, 800000)
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


def admin_penalty(ledger: Ledger, party: Record, district: str, day: date) -> Spec:
    """An administrative penalty; about half are serious enough for a criminal threshold."""
    rng = ledger.rng
    domain = rng.choice(sorted(_ADMIN))
    unit, abbreviation, serious, minor, quantity_unit, _ = _ADMIN[domain]
    city = city_of(district)
    number = ledger.serial(f"罚/{city}/{domain}", rng.randint(5, 40))
    quantity = None
    if quantity_unit == "吨":
        quantity = f"{rng.randint(0, 60) / 10}"
    elif quantity_unit is not None:
        quantity = str(rng.randint(0, 2))
    grave = rng.random() < 0.5
    return (
        "admin.penalty_decided",
        f"admin:{city}:{unit}",
        {
            "admin_case_no": f"{CITY_ABBREVIATION[city]}{abbreviation}罚〔{day.year}〕{number}号",
            "agency_domain": domain,
            "party": party,
            "violation_code": serious if grave else minor,
            "quantity": quantity if grave else None,
            "unit": quantity_unit if grave else None,
            "amount_cny": _money(ledger, 10000, 900000) if grave else _money(ledger, 500, 50000),
        },
    )


def _add(ledger: Ledger, spec: Spec, at: datetime) -> Record:
    record_type, source, fields = spec
    return ledger.record(record_type, source, at, fields)


def _penalise(ledger: Ledger, party: Record, district: str, population: Population) -> None:
    """A penalty, sometimes transferred to the police or filed as a criminal case."""
    rng = ledger.rng
    day = ledger.day(hi=-8)
    penalty = _add(ledger, admin_penalty(ledger, party, district, day), ledger.at(day, 9, 17))
    roll = rng.random()
    later = ledger.at(day + timedelta(days=rng.randint(1, 6)), 9, 17)
    if roll < 0.4:
        ledger.record(
            "admin.case_transferred",
            penalty["source"],
            later,
            {
                "admin_case_no": penalty["admin_case_no"],
                "to_agency": police_bureau(district),
            },
        )
    elif roll < 0.55 and population.people:
        charge = _ADMIN[penalty["agency_domain"]][5]
        police_case(
            ledger, rng.choice(population.people), district, later, charge, admin_case_ref=penalty["admin_case_no"]
        )


# --- person storylines ----------------------------------------------------------------------


def pensioner(ledger: Ledger, population: Population) -> None:
    """Monthly pensions; now and then a death, sometimes with payments continuing after it."""
    rng = ledger.rng
    person = population.person(60, 90)
    amount = _money(ledger, 1800, 6500)
    died = ledger.day(hi=-25) if rng.random() < 0.08 else None
    last_month = None if died is None else add_months(died.replace(day=1), rng.choice((0, 1, 2)))
    month = ledger.start_day.replace(day=1)
    while month < ledger.clock_end_day and (last_month is None or month <= last_month):
        paid = month.replace(day=rng.randint(5, 10))
        if paid >= ledger.start_day:
            _add(ledger, pension(ledger, person, month, amount), ledger.at(paid, 9, 12))
        month = add_months(month, 1)
    if died is not None:
        ledger.record(
            "police.death_registered",
            f"police:{person.home}",
            ledger.at(died + timedelta(days=rng.randint(2, 20)), 9, 17),
            {"id_number": person.written(rng), "died_on": died.isoformat()},
        )


def traveller(ledger: Ledger, population: Population) -> None:
    """A few hotel check-ins in Liaoning and beyond."""
    person = population.person(20, 70)
    for _ in range(ledger.rng.randint(2, 6)):
        _add(ledger, lodging(ledger, person), ledger.at(ledger.day(), 12, 24))


def driver(ledger: Ledger, population: Population) -> None:
    """A blood-alcohol test at a checkpoint, and what the police did about it."""
    rng = ledger.rng
    person = population.person(20, 65)
    day = ledger.day(hi=-20)
    at = ledger.at(day, 19, 24)
    bac: int | str = rng.choice((rng.randint(5, 19), rng.randint(20, 79), *[rng.randint(80, 250)] * 2))
    if rng.random() < 0.15:
        bac = f"{bac}.{rng.randint(0, 9)}"
    plate = f"辽{'A' if person.city == '210100' else 'B'}{rng.randint(0, 99999):05d}" if rng.random() < 0.9 else None
    test = ledger.make(
        "police.alcohol_test",
        f"police:{person.city}:traffic",
        at,
        {
            "test_no": "",
            "id_number": person.written(rng),
            "bac_mg_per_100ml": bac,
            "plate_no": plate,
        },
    )
    test["test_no"] = test["source_record_id"]
    ledger.add(test, at)
    level = Decimal(str(bac))
    later = ledger.at(day + timedelta(days=rng.randint(1, 15)), 8, 20)
    if level >= 80 and rng.random() < 0.8:
        case_no = police_case(ledger, person, person.home, later, ("133-1", "危险驾驶罪"))
        ledger.record(
            "police.coercive_measure",
            f"police:{person.home}",
            later + timedelta(hours=2),
            {
                "case_no": case_no,
                "id_number": person.written(rng),
                "measure": "BAIL",
                "action": "START",
            },
        )
    elif level >= 20:
        short = DISTRICTS[person.home][0][0]
        code, text = ("1712", "醉酒后驾驶机动车，吊销驾驶证") if level >= 80 else ("1711", "饮酒后驾驶机动车")
        ledger.record(
            "police.admin_penalty",
            f"police:{person.home}",
            later,
            {
                "penalty_no": f"{CITY_ABBREVIATION[person.city]}公({short})行罚决字〔{day.year}〕"
                f"{ledger.serial(f'行罚/{person.home}', rng.randint(1, 30))}号",
                "id_number": person.written(rng),
                "violation_code": code,
                "description": text,
            },
        )


def suspect_on_bail(ledger: Ledger, population: Population) -> None:
    """A suspect never detained: bail or residential surveillance, then an arrest request or release."""
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
        asked = started + timedelta(days=rng.randint(20, 60))
        ledger.record("police.arrest_requested", source, asked, {"case_no": case_no, "id_number": person.written(rng)})
    else:
        ledger.record(
            "police.coercive_measure", source, started + timedelta(days=rng.randint(30, 90)), {**base, "action": "END"}
        )


def prisoner(ledger: Ledger, population: Population) -> None:
    """A long-term prisoner: a commutation proposal and ruling, rarely an incident or release."""
    rng = ledger.rng
    person = population.person(25, 70)
    unit, facility = rng.choice(PRISONS[person.city])
    source = f"prison:{person.city}:{unit}"
    day = ledger.day(hi=-30)
    case_no = trial_case_no(ledger, person.home, day.year - rng.randint(3, 9))
    ledger.record(
        "prison.commutation_proposed",
        source,
        ledger.at(day, 9, 17),
        {
            "proposal_no": f"{facility}-JX{day.year}{ledger.serial(f'JX/{facility}', 400):03d}",
            "facility_code": facility,
            "id_number": person.written(rng),
            "case_no": case_no,
            "kind": "COMMUTATION",
        },
    )
    ruled = ledger.at(day + timedelta(days=rng.randint(20, 60)), 9, 17)
    ledger.record(
        "court.commutation_ruled",
        f"court:{person.city}",
        ruled,
        {
            "ruling_no": f"({day.year}){court_code(person.city)}刑更{ledger.serial(f'刑更/{person.city}', 30)}号",
            "case_no": case_no,
            "id_number": person.written(rng),
            "reduced_months": rng.randint(3, 9),
        },
    )
    if rng.random() < 0.08:
        kind = rng.choice(("SERIOUS_INJURY", "SERIOUS_INJURY", "DEATH", "ESCAPE"))
        ledger.record(
            "prison.incident",
            source,
            ledger.at(ledger.day(), 0, 24),
            {
                "facility_code": facility,
                "id_number": person.written(rng),
                "kind": kind,
                "description": {
                    "SERIOUS_INJURY": "劳动中受伤致骨折，送医治疗",
                    "DEATH": "突发疾病经抢救无效死亡",
                    "ESCAPE": "劳动现场脱逃，已布控追捕",
                }[kind],
            },
        )


def borrower(ledger: Ledger, population: Population) -> None:
    """Sued by a lender or sues an employer; the case closes weeks later."""
    rng = ledger.rng
    person = population.person(22, 70)
    organisation = rng.choice(population.organisations) if population.organisations else population.organisation()
    day = ledger.day(hi=-10)
    if rng.random() < 0.7:
        cause, plaintiffs = "PRIVATE_LENDING", [{"credit_code": organisation.credit_code}]
        defendants = [{"id_number": person.written(rng)}]
    else:
        cause, plaintiffs = "LABOR_DISPUTE", [{"id_number": person.written(rng)}]
        defendants = [{"credit_code": organisation.credit_code}]
    _civil_case(ledger, person.home, day, cause, plaintiffs, defendants)


def shopkeeper(ledger: Ledger, population: Population) -> None:
    """A sole trader penalised by an administrative agency."""
    person = population.person(25, 65)
    _penalise(ledger, {"id_number": person.written(ledger.rng)}, person.home, population)


def _civil_case(
    ledger: Ledger, court: str, day: date, cause: str, plaintiffs: list[Record], defendants: list[Record]
) -> None:
    filed = _add(ledger, civil_filing(ledger, court, day, cause, plaintiffs, defendants), ledger.at(day, 9, 17))
    closed = ledger.at(day + timedelta(days=ledger.rng.randint(20, 90)), 9, 17)
    ledger.record(
        "court.civil_case_closed",
        filed["source"],
        closed,
        {
            "case_no": filed["case_no"],
            "closure": ledger.rng.choice(("MEDIATION", "JUDGMENT", "JUDGMENT", "WITHDRAWAL", "DISMISSED")),
        },
    )


# --- organisations and everyday life ----------------------------------------------------------


def noise(ledger: Ledger, population: Population) -> None:
    """Organisations' suits and penalties, a couple of serial lenders, everyone's hotel stays."""
    rng = ledger.rng
    organisations = [population.organisation() for _ in range(max(4, len(population.people) // 10))]
    for index, organisation in enumerate(organisations):
        _organisation_life(ledger, population, organisation, serial_lender=index < 2)
    for person in list(population.people):
        if rng.random() < 0.35:
            for _ in range(rng.randint(1, 3)):
                _add(ledger, lodging(ledger, person), ledger.at(ledger.day(), 12, 24))


def _organisation_life(
    ledger: Ledger, population: Population, organisation: Organisation, *, serial_lender: bool
) -> None:
    rng = ledger.rng
    filings = rng.randint(5, 7) if serial_lender else rng.choice((0, 0, 1, 2))
    for _ in range(filings):
        people = rng.sample(population.people, k=min(len(population.people), rng.choice((1, 1, 2))))
        defendants = [{"id_number": p.written(rng)} for p in people]
        court = organisation.home if rng.random() < 0.7 else rng.choice(sorted(DISTRICTS))
        _civil_case(
            ledger,
            court,
            ledger.day(hi=-10),
            "PRIVATE_LENDING",
            [{"credit_code": organisation.credit_code}],
            defendants,
        )
    if rng.random() < 0.5:
        _penalise(ledger, {"credit_code": organisation.credit_code}, organisation.home, population)


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
