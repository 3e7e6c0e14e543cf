"""Administrative penalties and transfers; storylines for M10 ADMIN_CASE_NOT_TRANSFERRED (以罚代刑).

A penalty whose ``violation_code`` is in the threshold table and whose table field
(``quantity`` or ``amount_cny``, only that one) reaches the criminal threshold must
be transferred to the police (``admin.case_transferred``) or filed by them
(``police.case_filed`` with ``admin_case_ref``) within 4 days, lookback unlimited.
The lead's subject is the penalised party, its case number the administrative one.
Every administrative case number is unique (a serial per city and domain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CITY_ABBREVIATION, Organisation, Person, Population, city_of, police_bureau
from jiandu.simulate.police import file_case
from jiandu.simulate.sentences import money

__all__ = ["STORYLINES", "THRESHOLDS", "WEIGHTS", "Spec", "minor_penalty", "penalise", "reaches_threshold"]

Spec = tuple[str, str, Record]  # record type, source, fields
Party = Person | Organisation

_TRANSFER_DAYS = 4


@dataclass(frozen=True, slots=True)
class _Domain:
    """An administrative enforcement domain as its agencies write it."""

    unit: str  # agency unit in the source code
    abbreviation: str  # in document numbers: 沈环罚〔2024〕21号
    serious: str  # violation code of the threshold table
    minor: str  # an everyday violation code
    quantity_unit: str | None
    charge: tuple[str, str]  # what the police file when the case is transferred


_DOMAINS = {
    "ENVIRONMENT": _Domain("env", "环", "ENV_HAZARDOUS_WASTE_DUMPING", "ENV_NOISE_EXCESS", "吨", ("338", "污染环境罪")),
    "MARKET": _Domain(
        "market", "市监", "MARKET_COUNTERFEIT_SALES", "MARKET_LABEL_VIOLATION", None, ("140", "生产、销售伪劣产品罪")
    ),
    "EMERGENCY": _Domain(
        "emergency", "应急", "EMERGENCY_FATAL_ACCIDENT", "EMERGENCY_SAFETY_TRAINING", "人", ("134", "重大责任事故罪")
    ),
    "WATER": _Domain("water", "水", "WATER_ILLEGAL_SAND_MINING", "WATER_PERMIT_MISSING", "吨", ("343", "非法采矿罪")),
    "NATURAL_RESOURCES": _Domain(
        "natres", "自然资", "NR_ILLEGAL_MINING", "NR_LAND_OCCUPATION", "吨", ("343", "非法采矿罪")
    ),
    "TAX": _Domain("tax", "税", "TAX_FALSE_INVOICE", "TAX_LATE_FILING", None, ("205", "虚开增值税专用发票罪")),
}
_DOMAIN_NAMES = sorted(_DOMAINS)
_DOMAIN_OF = {d.serious: name for name, d in _DOMAINS.items()}

#: violation_code → (the one field compared, the criminal threshold): the generator's own copy of the table.
THRESHOLDS = {
    "ENV_HAZARDOUS_WASTE_DUMPING": ("quantity", Decimal(3)),
    "NR_ILLEGAL_MINING": ("amount_cny", Decimal(100000)),
    "MARKET_COUNTERFEIT_SALES": ("amount_cny", Decimal(50000)),
    "EMERGENCY_FATAL_ACCIDENT": ("quantity", Decimal(1)),
    "WATER_ILLEGAL_SAND_MINING": ("amount_cny", Decimal(100000)),
    "TAX_FALSE_INVOICE": ("amount_cny", Decimal(500000)),
}
# Short names of the table's rows in storyline names.
_ROWS = {
    "hazardous_waste": "ENV_HAZARDOUS_WASTE_DUMPING",
    "illegal_mining": "NR_ILLEGAL_MINING",
    "counterfeit_sales": "MARKET_COUNTERFEIT_SALES",
    "fatal_accident": "EMERGENCY_FATAL_ACCIDENT",
    "sand_mining": "WATER_ILLEGAL_SAND_MINING",
    "false_invoice": "TAX_FALSE_INVOICE",
}


@dataclass(frozen=True, slots=True)
class _Penalty:
    record: Record
    at: datetime
    party: Party
    district: str


def reaches_threshold(fields: Record) -> bool:
    """True when a penalty is an M10 trigger: its table field reaches the threshold."""
    row = THRESHOLDS.get(str(fields["violation_code"]))
    if row is None or fields.get(row[0]) is None:
        return False
    return Decimal(str(fields[row[0]])) >= row[1]


def _party_record(ledger: Ledger, party: Party) -> Record:
    if isinstance(party, Person):
        return {"id_number": party.written(ledger.rng)}
    return {"credit_code": party.credit_code}


def _penalty_spec(
    ledger: Ledger,
    party: Party,
    district: str,
    domain: str,
    day: date,
    code: str,
    quantity: str | None,
    amount: str | None,
) -> Spec:
    spec = _DOMAINS[domain]
    city = city_of(district)
    number = ledger.serial(f"罚/{city}/{domain}/{day.year}", ledger.rng.randint(5, 40))
    return (
        "admin.penalty_decided",
        f"admin:{city}:{spec.unit}",
        {
            "admin_case_no": f"{CITY_ABBREVIATION[city]}{spec.abbreviation}罚〔{day.year}〕{number}号",
            "agency_domain": domain,
            "party": _party_record(ledger, party),
            "violation_code": code,
            "quantity": quantity,
            "unit": spec.quantity_unit if quantity is not None else None,
            "amount_cny": amount,
        },
    )


def minor_penalty(ledger: Ledger, party: Party, district: str, day: date) -> Spec:
    """An everyday penalty outside the threshold table (never an M10 trigger)."""
    domain = ledger.rng.choice(_DOMAIN_NAMES)
    code = _DOMAINS[domain].minor
    return _penalty_spec(ledger, party, district, domain, day, code, None, money(ledger, 500, 50000))


def _grave_values(ledger: Ledger, domain: str) -> tuple[str | None, str]:
    """Quantity and amount of a serious case, on either side of the threshold."""
    rng = ledger.rng
    unit = _DOMAINS[domain].quantity_unit
    quantity = None
    if unit == "吨":
        quantity = f"{rng.randint(0, 60) / 10}"
    elif unit is not None:
        quantity = str(rng.randint(0, 2))
    return quantity, money(ledger, 10000, 900000)


def _decide(ledger: Ledger, spec: Spec, at: datetime, party: Party, district: str) -> _Penalty:
    record_type, source, fields = spec
    return _Penalty(ledger.record(record_type, source, at, fields), at, party, district)


def _transfer(ledger: Ledger, penalty: _Penalty, at: datetime, *, upload_delay: int = 0, case_no: str = "") -> datetime:
    ledger.record(
        "admin.case_transferred",
        str(penalty.record["source"]),
        at,
        {"admin_case_no": case_no or penalty.record["admin_case_no"], "to_agency": police_bureau(penalty.district)},
        upload_delay=upload_delay,
    )
    return at


def _police_file(ledger: Ledger, penalty: _Penalty, at: datetime, suspect: Person) -> datetime:
    charge = _DOMAINS[str(penalty.record["agency_domain"])].charge
    file_case(ledger, [suspect], penalty.district, at, charge, admin_case_ref=str(penalty.record["admin_case_no"]))
    return at


def _expect(ledger: Ledger, penalty: _Penalty, closed_at: list[datetime | None]) -> None:
    """Plant the M10 lead of a penalty that reaches its threshold (nothing otherwise)."""
    if reaches_threshold(penalty.record):
        subject = ledger.subject(penalty.party)
        case_no = str(penalty.record["admin_case_no"])
        ledger.expect_deadline(
            "M10", penalty.record, penalty.at, _TRANSFER_DAYS, subject, closed_at, lookback=None, case_no=case_no
        )


def penalise(ledger: Ledger, party: Party, district: str, population: Population) -> None:
    """Background: a penalty, sometimes serious, sometimes transferred or filed by the police (M10 planted)."""
    rng = ledger.rng
    day = ledger.day(hi=-8)
    domain = rng.choice(_DOMAIN_NAMES)
    if rng.random() < 0.5:
        quantity, amount = _grave_values(ledger, domain)
        spec = _penalty_spec(ledger, party, district, domain, day, _DOMAINS[domain].serious, quantity, amount)
    else:
        spec = minor_penalty(ledger, party, district, day)
    penalty = _decide(ledger, spec, ledger.at(day, 9, 17), party, district)
    roll = rng.random()
    later = ledger.at(day + timedelta(days=rng.randint(1, 6)), 9, 17)
    closed: datetime | None = None
    if roll < 0.4:
        closed = _transfer(ledger, penalty, later)
    elif roll < 0.55:
        closed = _police_file(ledger, penalty, later, population.bystander())
    _expect(ledger, penalty, [closed])


# --- M10 storylines ---------------------------------------------------------------------------


def _party(ledger: Ledger, population: Population) -> tuple[Party, str]:
    """A company (three times in four) or a sole trader; no background record ever names it."""
    if ledger.rng.random() < 0.75:
        organisation = population.organisation(register=False)
        return organisation, organisation.home
    person = population.person(25, 65)
    return person, person.home


def _above(ledger: Ledger, code: str) -> tuple[str | None, str]:
    """Quantity and amount of a case that reaches its threshold (by its own field only)."""
    rng = ledger.rng
    field, threshold = THRESHOLDS[code]
    unit = _DOMAINS[_DOMAIN_OF[code]].quantity_unit
    if field == "quantity":
        step = Decimal(rng.randint(0, 170)) / 10 if unit == "吨" else Decimal(rng.randint(0, 2))
        return str(threshold + step), money(ledger, 20000, 600000)
    quantity = str(rng.randint(5, 3000)) if unit == "吨" else None
    return quantity, money(ledger, int(threshold), int(threshold) * 6)


def _serious(
    ledger: Ledger,
    population: Population,
    day: date,
    code: str | None = None,
    values: tuple[str | None, str | None] | None = None,
) -> _Penalty:
    """A penalty for a violation of the threshold table (reaching it unless ``values`` say otherwise)."""
    party, district = _party(ledger, population)
    code = code or ledger.rng.choice(sorted(THRESHOLDS))
    quantity, amount = values or _above(ledger, code)
    spec = _penalty_spec(ledger, party, district, _DOMAIN_OF[code], day, code, quantity, amount)
    return _decide(ledger, spec, ledger.at(day, 9, 17), party, district)


def _within(ledger: Ledger, penalty: _Penalty) -> datetime:
    """An instant on day ``date(T) + 1`` to ``date(T) + 4``."""
    return ledger.at(ledger.local_day(penalty.at) + timedelta(days=ledger.rng.randint(1, _TRANSFER_DAYS)), 9, 17)


def transferred(ledger: Ledger, population: Population) -> None:
    """Transferred to the police within 4 days: RESOLVED."""
    penalty = _serious(ledger, population, ledger.day(hi=-6))
    _expect(ledger, penalty, [_transfer(ledger, penalty, _within(ledger, penalty))])


def police_filed(ledger: Ledger, population: Population) -> None:
    """No transfer record, but the police filed a case naming the administrative case: RESOLVED."""
    penalty = _serious(ledger, population, ledger.day(hi=-6))
    suspect = penalty.party if isinstance(penalty.party, Person) else population.person(30, 65)
    _expect(ledger, penalty, [_police_file(ledger, penalty, _within(ledger, penalty), suspect)])


def violation(ledger: Ledger, population: Population) -> None:
    """Penalised, never transferred (以罚代刑): OPEN."""
    _expect(ledger, _serious(ledger, population, ledger.day()), [])


def _at_threshold(ledger: Ledger, code: str) -> tuple[str | None, str | None]:
    field, threshold = THRESHOLDS[code]
    rng = ledger.rng
    exact = rng.choice((f"{threshold}", f"{threshold}.0", f"{threshold}.00"))
    if field == "quantity":
        return exact, money(ledger, 20000, 600000)
    return (str(rng.randint(5, 3000)) if _DOMAINS[_DOMAIN_OF[code]].quantity_unit else None), exact


def _below_threshold(ledger: Ledger, code: str) -> tuple[str | None, str | None]:
    field, threshold = THRESHOLDS[code]
    if field == "quantity":
        below = "0" if threshold == 1 else f"{threshold - Decimal('0.01')}"
        return below, money(ledger, 20000, 600000)
    quantity = str(ledger.rng.randint(5, 3000)) if _DOMAINS[_DOMAIN_OF[code]].quantity_unit else None
    return quantity, f"{threshold - Decimal('0.01')}"


def _row_storylines(code: str) -> tuple[Callable[[Ledger, Population], None], Callable[[Ledger, Population], None]]:
    def at_threshold(ledger: Ledger, population: Population) -> None:
        penalty = _serious(ledger, population, ledger.day(), code, _at_threshold(ledger, code))
        _expect(ledger, penalty, [])

    def below_threshold(ledger: Ledger, population: Population) -> None:
        penalty = _serious(ledger, population, ledger.day(), code, _below_threshold(ledger, code))
        _expect(ledger, penalty, [])

    at_threshold.__doc__ = f"{code} exactly at the threshold, not transferred: OPEN."
    below_threshold.__doc__ = f"{code} just below the threshold (a fen, or no death): no lead."
    return at_threshold, below_threshold


def tonnage_ignores_amount(ledger: Ledger, population: Population) -> None:
    """Hazardous waste below 3 tonnes with a huge amount: only the quantity counts, no lead."""
    values = (f"{ledger.rng.randint(1, 29) / 10}", money(ledger, 1_000_000, 5_000_000))
    _expect(ledger, _serious(ledger, population, ledger.day(), "ENV_HAZARDOUS_WASTE_DUMPING", values), [])


def amount_ignores_quantity(ledger: Ledger, population: Population) -> None:
    """Illegal mining of thousands of tonnes worth less than 100000 yuan: only the amount counts, no lead."""
    values = (str(ledger.rng.randint(5000, 90000)), money(ledger, 20000, 99900))
    _expect(ledger, _serious(ledger, population, ledger.day(), "NR_ILLEGAL_MINING", values), [])


def transferred_day_4_23h59(ledger: Ledger, population: Population) -> None:
    """Transferred at 23:59:59 of ``date(T) + 4``, the last second allowed: RESOLVED."""
    penalty = _serious(ledger, population, ledger.day(hi=-6))
    due = ledger.due(penalty.at, _TRANSFER_DAYS)
    _expect(ledger, penalty, [_transfer(ledger, penalty, ledger.last_instant_before(due))])


def transferred_day_5_midnight(ledger: Ledger, population: Population) -> None:
    """Transferred at 00:00:00 of ``date(T) + 5``, the deadline itself: OPEN."""
    penalty = _serious(ledger, population, ledger.day(hi=-6))
    _expect(ledger, penalty, [_transfer(ledger, penalty, ledger.due(penalty.at, _TRANSFER_DAYS))])


def filed_before_penalty(ledger: Ledger, population: Population) -> None:
    """The police filed the case before the penalty was decided (lookback unlimited): RESOLVED."""
    rng = ledger.rng
    day = ledger.day(lo=21)
    party, district = _party(ledger, population)
    code = rng.choice(sorted(THRESHOLDS))
    spec = _penalty_spec(ledger, party, district, _DOMAIN_OF[code], day, code, *_above(ledger, code))
    suspect = party if isinstance(party, Person) else population.person(30, 65)
    filed = ledger.at(day - timedelta(days=rng.randint(1, 20)), 9, 17)
    charge = _DOMAINS[_DOMAIN_OF[code]].charge
    file_case(ledger, [suspect], district, filed, charge, admin_case_ref=str(spec[2]["admin_case_no"]))
    _expect(ledger, _decide(ledger, spec, ledger.at(day, 9, 17), party, district), [filed])


def transfer_of_other_case(ledger: Ledger, population: Population) -> None:
    """An earlier case of the same party was transferred, this one not: that transfer does not count, OPEN."""
    first = _serious(ledger, population, ledger.day(hi=-30))
    _expect(ledger, first, [_transfer(ledger, first, _within(ledger, first))])
    code = str(first.record["violation_code"])
    domain = _DOMAIN_OF[code]
    day = ledger.local_day(first.at) + timedelta(days=ledger.rng.randint(7, 25))
    quantity, amount = _above(ledger, code)
    spec = _penalty_spec(ledger, first.party, first.district, domain, day, code, quantity, amount)
    _expect(ledger, _decide(ledger, spec, ledger.at(day, 9, 17), first.party, first.district), [])


def late_upload(ledger: Ledger, population: Population) -> None:
    """Transferred in time, the transfer uploaded weeks later: RESOLVED."""
    penalty = _serious(ledger, population, ledger.day(hi=-6))
    at = _within(ledger, penalty)
    _expect(ledger, penalty, [_transfer(ledger, penalty, at, upload_delay=ledger.rng.randint(10, 30))])


def pending(ledger: Ledger, population: Population) -> None:
    """Decided in the last 4 days before the clock end: PENDING."""
    day = ledger.clock_end_day - timedelta(days=ledger.rng.randint(1, _TRANSFER_DAYS))
    _expect(ledger, _serious(ledger, population, day), [])


#: Storyline name → how it unfolds for one new party.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m10_transferred": transferred,
    "m10_police_filed": police_filed,
    "m10_violation": violation,
    "m10_tonnage_ignores_amount": tonnage_ignores_amount,
    "m10_amount_ignores_quantity": amount_ignores_quantity,
    "m10_transferred_day_4_23h59": transferred_day_4_23h59,
    "m10_transferred_day_5_midnight": transferred_day_5_midnight,
    "m10_filed_before_penalty": filed_before_penalty,
    "m10_transfer_of_other_case": transfer_of_other_case,
    "m10_late_upload": late_upload,
    "m10_pending": pending,
}
for _short, _code in _ROWS.items():
    STORYLINES[f"m10_{_short}_at_threshold"], STORYLINES[f"m10_{_short}_below_threshold"] = _row_storylines(_code)

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m10_transferred": 3, "m10_police_filed": 1, "m10_violation": 1.5}
