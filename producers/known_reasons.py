"""Every rejection reason a record of a type can get, found by asking the validator itself.

``jiandu_records_rejected_total`` is labelled by reason (``<field>:<rule>``). A series
that first appears already holding a count hides that count from ``rate()`` and
``increase()``, so an adapter exports, for the flows it knows at start (a file-drop
folder and the types its mappings give), every reason at 0. The reasons are not
listed by hand: each field of the type is given a value of each wrong shape its kind
can have, inside an otherwise valid record, and the validator's answer is classified
as the intake classifies it. A list that could drift from the validator would export
zeros for reasons that never occur and miss the ones that do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import cache

from jiandu.core.identity import Pseudonymiser, make_id_number
from jiandu.core.records import COMMON_FIELDS, RECORD_TYPES, FieldKind, FieldSpec
from jiandu.core.validation import to_event
from jiandu.errors import RecordError
from jiandu.observability.labels import reason_label
from producers.rules import field_and_rule

__all__ = ["reason_labels"]

_PERSON = make_id_number("210102", date(1980, 1, 1), 11)
_BAD_IDS: tuple[object, ...] = (
    _PERSON[:-1] + ("0" if _PERSON[-1] != "0" else "1"),  # check character
    _PERSON[:10],  # length
    _PERSON[:-2] + "A1",  # characters
    "210102" + "19801340" + "0110",  # an impossible birth date (its own check character is wrong too)
    make_id_number("210102", date(2099, 1, 1), 11),  # born after the record
)
_BAD_CREDIT_CODES: tuple[object, ...] = ("12345", "9121010" + "IOZSV" + "000000", "91210102MA0" + "0000000")

_VALID: Mapping[FieldKind, Callable[[FieldSpec], object]] = {
    FieldKind.STRING: lambda _: "x",
    FieldKind.INT: lambda _: 1,
    FieldKind.BOOL: lambda _: True,
    FieldKind.DATE: lambda _: "2024-01-01",
    FieldKind.PERIOD: lambda _: "2024-01",
    FieldKind.DIVISION: lambda _: "210102",
    FieldKind.DECIMAL: lambda _: "1.00",
    FieldKind.ENUM: lambda spec: spec.symbols[0],
    FieldKind.PERSON: lambda _: _PERSON,
    FieldKind.PERSON_LIST: lambda _: [{"id_number": _PERSON}],
    FieldKind.PARTY: lambda _: {"id_number": _PERSON},
    FieldKind.PARTY_LIST: lambda _: [{"id_number": _PERSON}],
}
_PARTIES: tuple[object, ...] = (
    "x",
    {},
    *({"id_number": bad} for bad in _BAD_IDS),
    *({"credit_code": bad} for bad in _BAD_CREDIT_CODES),
)
_WRONG: Mapping[FieldKind, tuple[object, ...]] = {
    FieldKind.STRING: (1,),
    FieldKind.INT: ("x", True, -1, 2**40),
    FieldKind.BOOL: ("yes",),
    FieldKind.DATE: ("2024-13-01",),
    FieldKind.PERIOD: ("2024-13",),
    FieldKind.DIVISION: ("21",),
    FieldKind.DECIMAL: ([], "x", "-1", "1.001", "1e20"),
    FieldKind.ENUM: ("__none__",),
    FieldKind.PERSON: (1, *_BAD_IDS),
    FieldKind.PERSON_LIST: ("x", ["x"], *([{"id_number": bad}] for bad in _BAD_IDS)),
    FieldKind.PARTY: _PARTIES,
    FieldKind.PARTY_LIST: ("x", *([party] for party in _PARTIES)),
}
_ENVELOPE: dict[str, object] = {
    "source": "court:210102",
    "source_record_id": "r1",
    "jurisdiction": "210102",
    "occurred_at": "2024-06-01T00:00:00+08:00",
}
_ENVELOPE_WRONG: dict[str, tuple[object, ...]] = {
    "source": (1, "bogus", "court:210102:" + "1" * 17),
    "source_record_id": (1,),
    "jurisdiction": ("21",),
    "occurred_at": ("x",),
    "recorded_at": ("x",),
    "type": ("no.such_type",),
}
#: Reasons any record can get whatever its type: not JSON, not an object, no type.
_WHOLE_RECORD = (reason_label(None, "json"), reason_label(None, "json_object"), reason_label("type", "required"))
_KEY = Pseudonymiser(b"known-reasons")


def reason_labels(record_type: str) -> frozenset[str]:
    """The ``reason`` label values :class:`producers.RecordIntake` can count for a record of ``record_type``."""
    return _reason_labels(record_type)


@cache
def _reason_labels(record_type: str) -> frozenset[str]:
    spec = RECORD_TYPES[record_type]
    valid = {**_ENVELOPE, "type": record_type, **{f.name: _VALID[f.kind](f) for f in spec.fields}}
    if (problem := _reason(valid)) is not None:  # every reason found below must be the changed field's
        raise ValueError(f"{record_type}: the base record is invalid ({problem}); fix producers/known_reasons.py")
    found = set(_WHOLE_RECORD)
    for field in (*COMMON_FIELDS, *spec.fields, "occurred_at", "recorded_at", "type"):
        name = field if isinstance(field, str) else field.name
        kind_wrong = _ENVELOPE_WRONG.get(name) or (() if isinstance(field, str) else _WRONG[field.kind])
        for wrong in (None, *kind_wrong):
            record = {**valid, name: wrong} if wrong is not None else {k: v for k, v in valid.items() if k != name}
            if (label := _reason(record)) is not None:
                found.add(label)
    return frozenset(found)


def _reason(record: Mapping[str, object]) -> str | None:
    try:
        to_event(record, _KEY, ingested_at=0)
    except RecordError as exc:
        return reason_label(*field_and_rule(exc.reason))
    return None
