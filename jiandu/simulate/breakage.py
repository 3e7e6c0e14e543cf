"""How agencies break records: one function per kind of defect the hub must dead-letter.

Each breaker returns a broken copy (or, for malformed JSON, the raw line) and
leaves the record it is given untouched, so that the valid record can still be
sent as the agency's corrected re-send.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

from jiandu.core.identity import id_check_character, normalise_id_number
from jiandu.core.records import RECORD_TYPES, FieldKind

__all__ = ["DEFECTS", "applicable_defects", "break_record"]

Record = dict[str, Any]

#: The kinds of invalid line.
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


def applicable_defects(record: Record) -> tuple[str, ...]:
    """The kinds of defect a record can be given (an ID-number defect needs an ``id_number``)."""
    spec = RECORD_TYPES[record["type"]]
    has_enum = any(f.kind is FieldKind.ENUM for f in spec.fields)
    return tuple(
        kind
        for kind in DEFECTS
        if (kind not in _WITH_PERSON or "id_number" in record) and (kind != "bad_enum" or has_enum)
    )


def break_record(rng: random.Random, record: Record, kind: str) -> Record | str:
    """A copy of ``record`` with a defect of ``kind``."""
    return _BREAK[kind](rng, record)


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


_BREAK: dict[str, Callable[[random.Random, Record], Record | str]] = {
    "wrong_check_character": _wrong_check_character,
    "bad_length": _bad_length,
    "impossible_birth_date": _impossible_birth_date,
    "missing_field": _missing_field,
    "bad_enum": _bad_enum,
    "malformed_json": _malformed_json,
    "impossible_date": _impossible_date,
}
