"""Invalid lines, planted on purpose: each kind of defect the hub must dead-letter.

The raw material is background records (hotel stays, pensions, civil suits,
administrative penalties), so no planted lead ever depends on an invalid line.
Some defects are followed by the agency's corrected re-send under the same
``source_record_id``: a rejected record does not use up its event id.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import date, datetime

from jiandu.core.identity import id_check_character, normalise_id_number
from jiandu.core.records import RECORD_TYPES, FieldKind
from jiandu.simulate.background import admin_penalty, civil_filing, lodging, pension
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Population

__all__ = ["DEFECTS", "plant_defects"]

#: The kinds of invalid line, planted in turn.
DEFECTS = (
    "wrong_check_character",
    "bad_length",
    "impossible_birth_date",
    "missing_field",
    "bad_enum",
    "malformed_json",
    "impossible_date",
)
_WITH_PERSON = ("wrong_check_character", "bad_length", "impossible_birth_date")
_IMPOSSIBLE_BIRTHS = ("19870230", "19911301", "19760431", "19850000", "18991231", "20990101")
_IMPOSSIBLE_DAYS = ("02-30", "02-31", "04-31", "06-31", "13-01", "00-10")
_ENUM_LABELS = {"PRIVATE_LENDING": "民间借贷", "LABOR_DISPUTE": "劳动争议", "TAX": "税务", "MARKET": "市场监管"}


def plant_defects(ledger: Ledger, population: Population, count: int) -> None:
    """Add ``count`` invalid lines, cycling through :data:`DEFECTS`."""
    rng = ledger.rng
    for index in range(count):
        kind = DEFECTS[index % len(DEFECTS)]
        record, at = _raw_material(ledger, population, kind, ledger.day(hi=-4))
        ledger.add(_BREAK[kind](rng, record), at, source=str(record["source"]), defect=kind)
        ledger.planted[f"invalid_{kind}"] += 1
        if rng.random() < 0.4:
            ledger.add(record, at, upload_delay=rng.randint(1, 3))
            ledger.planted["corrected_resend"] += 1


def _raw_material(ledger: Ledger, population: Population, kind: str, day: date) -> tuple[Record, datetime]:
    """A background record (never needed by a planted lead) and when it occurred."""
    rng = ledger.rng
    person = rng.choice(population.people)
    if kind in _WITH_PERSON:
        choices = ("lodging", "pension")
    elif kind == "bad_enum":
        choices = ("civil", "admin")
    else:
        choices = ("lodging", "pension", "civil", "admin")
    choice = rng.choice(choices)
    at = ledger.at(day, 9, 17)
    if choice == "pension" and (day - person.birth).days > 60 * 365:
        spec = pension(ledger, person, day.replace(day=1), "3120.00")
    elif choice in ("lodging", "pension"):
        spec, at = lodging(ledger, person), ledger.at(day, 12, 24)
    elif choice == "civil":
        lender = rng.choice(population.organisations)
        spec = civil_filing(ledger, person.home, day, "PRIVATE_LENDING",
                            [{"credit_code": lender.credit_code}], [{"id_number": person.written(rng)}])
    else:
        organisation = rng.choice(population.organisations)
        spec = admin_penalty(ledger, {"credit_code": organisation.credit_code}, organisation.home, day)
    record_type, source, fields = spec
    return ledger.make(record_type, source, at, fields), at


def _person_number(record: Record) -> str:
    """The record's ID number in normalised form (a 15-digit legacy number is upgraded first)."""
    return normalise_id_number(str(record["id_number"]))


def _wrong_check_character(rng: random.Random, record: Record) -> Record:
    number = _person_number(record)
    wrong = rng.choice([c for c in "0123456789X" if c != number[-1]])
    return {**copy.deepcopy(record), "id_number": number[:-1] + wrong}


def _bad_length(rng: random.Random, record: Record) -> Record:
    number = _person_number(record)
    broken = rng.choice((number[:-1], number + str(rng.randint(0, 9)), number[:16]))
    return {**copy.deepcopy(record), "id_number": broken}


def _impossible_birth_date(rng: random.Random, record: Record) -> Record:
    number = _person_number(record)
    first17 = number[:6] + rng.choice(_IMPOSSIBLE_BIRTHS) + number[14:17]
    return {**copy.deepcopy(record), "id_number": first17 + id_check_character(first17)}


def _missing_field(rng: random.Random, record: Record) -> Record:
    spec = RECORD_TYPES[record["type"]]
    required = [f.name for f in spec.fields if f.required] + ["occurred_at", "jurisdiction", "source_record_id"]
    name = rng.choice(required)
    broken = copy.deepcopy(record)
    if rng.random() < 0.3:
        broken[name] = None
    else:
        del broken[name]
    return broken


def _bad_enum(rng: random.Random, record: Record) -> Record:
    spec = RECORD_TYPES[record["type"]]
    name = rng.choice([f.name for f in spec.fields if f.kind is FieldKind.ENUM])
    value = str(record[name])
    wrong = rng.choice((value.lower(), _ENUM_LABELS.get(value, "其他"), f"{value}_OLD"))
    return {**copy.deepcopy(record), name: wrong}


def _malformed_json(rng: random.Random, record: Record) -> str:
    text = json.dumps(record, ensure_ascii=False)
    variant = rng.randrange(3)
    if variant == 0:  # the upload was cut off mid-line
        return text[: rng.randint(len(text) // 3, len(text) - 2)]
    if variant == 1:  # a hand-made export with a trailing comma
        return text[:-1] + ", }"
    return text.replace('"', "'")  # a Python dict printed instead of JSON


def _impossible_date(rng: random.Random, record: Record) -> Record:
    occurred = str(record["occurred_at"])
    broken = f"{occurred[:5]}{rng.choice(_IMPOSSIBLE_DAYS)}{occurred[10:]}"
    return {**copy.deepcopy(record), "occurred_at": broken}


_BREAK = {
    "wrong_check_character": _wrong_check_character,
    "bad_length": _bad_length,
    "impossible_birth_date": _impossible_birth_date,
    "missing_field": _missing_field,
    "bad_enum": _bad_enum,
    "malformed_json": _malformed_json,
    "impossible_date": _impossible_date,
}
