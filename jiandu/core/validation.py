"""Agency record → event: validation and pseudonymisation, done once for every adapter.

A record that cannot become an event raises :class:`RecordError` whose reason
names the field and the rule (``id_number: wrong check character``); it never
contains the raw ID number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from jiandu.core.events import Event, event_id_of
from jiandu.core.identity import Pseudonymiser, validate_credit_code
from jiandu.core.idscan import contains_id_number
from jiandu.core.records import CATEGORIES, COMMON_FIELDS, RECORD_TYPES, FieldKind, FieldSpec
from jiandu.core.timeutil import local_date, parse_date, parse_datetime, to_ms
from jiandu.errors import RecordError

__all__ = ["MAX_DECIMAL", "MAX_TEXT_CHARS", "jurisdiction_outside_source", "to_event"]

_T = TypeVar("_T")

#: The largest value of Avro ``decimal(18,2)``.
MAX_DECIMAL = Decimal("9999999999999999.99")
#: The longest text field: agency codes, numbers and short descriptions, not documents. It bounds the
#: size of every event (Kafka refuses messages over 1 MB) and the cost of scanning for ID numbers.
MAX_TEXT_CHARS = 4096
_CENT = Decimal("0.01")
_MAX_INT = 2**31 - 1  # Avro int
_DIVISION = re.compile(r"\d{6}")
_PERIOD = re.compile(r"(\d{4})-(\d{2})")
#: The unit names an agency's sub-unit (``criminal-2``): a short code, never markup or free text.
_SOURCE = re.compile(r"([a-z]+):([0-9]{6})(?::[A-Za-z0-9_-]{1,32})?")
#: A run of 15 or more digits (an ID number, with or without its check character) has no place in a
#: source: the source is part of every event id, which travels everywhere in clear.
_DIGIT_RUN = re.compile(r"[0-9]{15,}")


_Converter = Callable[[object, FieldSpec, "_Context | None"], object]


class _Context:
    """What field validators need besides the value: the pseudonymiser and the record's date."""

    __slots__ = ("not_after", "pseudonymiser")

    def __init__(self, pseudonymiser: Pseudonymiser, not_after: date) -> None:
        self.pseudonymiser = pseudonymiser
        self.not_after = not_after


def to_event(record: Mapping[str, object], pseudonymiser: Pseudonymiser, ingested_at: int) -> Event:
    """Validate one canonical record and turn it into a pseudonymised event."""
    if not isinstance(record, Mapping):
        raise RecordError("a record must be a JSON object")
    record_type = record.get("type")
    if record_type is None:
        raise RecordError("missing required field type")
    spec = RECORD_TYPES.get(record_type) if isinstance(record_type, str) else None
    if spec is None:
        raise RecordError(f"type: unknown record type {record_type!r}")
    occurred = _required_datetime(record, "occurred_at")
    recorded = _optional_datetime(record, "recorded_at")
    common = {name: _field(record, f, convert, None) for f, name, convert in _PLANS[""]}
    _check_source(str(common["source"]))
    context = _Context(pseudonymiser, local_date(occurred))
    body = {name: _field(record, f, convert, context) for f, name, convert in _PLANS[spec.name]}
    return Event(
        type=spec.name,
        event_id=event_id_of(str(common["source"]), spec.name, str(common["source_record_id"])),
        source=str(common["source"]),
        source_record_id=str(common["source_record_id"]),
        jurisdiction=str(common["jurisdiction"]),
        occurred_at=occurred,
        recorded_at=occurred if recorded is None else recorded,
        ingested_at=ingested_at,
        body=body,
    )


def jurisdiction_outside_source(record: Mapping[str, object]) -> str | None:
    """Why a record's ``jurisdiction`` lies outside its source's division, or None.

    The producing unit's division (``court:210100``, 沈阳市) covers its districts (``210102``): the
    jurisdiction must start with the source's division without its trailing zeros. Malformed values
    are left to validation. An agency or feed policy applies this: a unit speaks only for its area.
    """
    source, jurisdiction = record.get("source"), record.get("jurisdiction")
    match = _SOURCE.fullmatch(source) if isinstance(source, str) else None
    if match is None or not isinstance(jurisdiction, str) or not _DIVISION.fullmatch(jurisdiction):
        return None
    area = match.group(2).rstrip("0")
    if jurisdiction.startswith(area):
        return None
    return f"{jurisdiction} is outside the division of source {source} (codes starting {area})"


def _required_datetime(record: Mapping[str, object], name: str) -> int:
    value = _optional_datetime(record, name)
    if value is None:
        raise RecordError(f"missing required field {name}")
    return value


def _optional_datetime(record: Mapping[str, object], name: str) -> int | None:
    raw = record.get(name)
    if raw is None:
        return None
    try:
        return to_ms(parse_datetime(raw))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise RecordError(f"{name}: impossible or malformed date-time {raw!r}") from None


def _check_source(source: str) -> None:
    match = _SOURCE.fullmatch(source)
    if match is None or match.group(1) not in CATEGORIES:
        raise RecordError(
            f"source: {source!r} is not <category>:<division>[:<unit>] with category one of "
            + ", ".join(CATEGORIES)
            + " and a unit of at most 32 letters, digits, '-' or '_'"
        )
    if _DIGIT_RUN.search(source):
        raise RecordError("source: the unit holds a digit run like an ID number; name the agency unit, not a person")


def _field(record: Mapping[str, object], spec: FieldSpec, convert: _Converter, context: _Context | None) -> object:
    raw = record.get(spec.name)
    if raw is None or raw == "":
        if spec.nullable:
            return None
        if spec.default is not None:
            return spec.default
        raise RecordError(f"missing required field {spec.name}")
    try:
        return convert(raw, spec, context)
    except RecordError as exc:
        raise exc.under(spec.name) from None


def _string(raw: object, spec: FieldSpec, _: _Context | None) -> str:
    """A text field: anything, except a resident ID number (which would travel in clear, ``jiandu.core.idscan``)."""
    if not isinstance(raw, str):
        raise RecordError(f"expected a string, got {type(raw).__name__}")
    if len(raw) > MAX_TEXT_CHARS:
        raise RecordError(f"too long: {len(raw)} characters, at most {MAX_TEXT_CHARS}")
    if contains_id_number(raw):
        raise RecordError("contains an ID number")
    return raw


def _int(raw: object, spec: FieldSpec, _: _Context | None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise RecordError(f"expected an integer, got {raw!r}")
    if raw < 0:
        raise RecordError(f"must not be negative, got {raw}")
    if raw > _MAX_INT:
        raise RecordError(f"too large, got {raw}")
    return raw


def _bool(raw: object, spec: FieldSpec, _: _Context | None) -> bool:
    if not isinstance(raw, bool):
        raise RecordError(f"expected true or false, got {raw!r}")
    return raw


def _date(raw: object, spec: FieldSpec, _: _Context | None) -> date:
    try:
        return parse_date(raw)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise RecordError(f"impossible date {raw!r}") from None


def _period(raw: object, spec: FieldSpec, _: _Context | None) -> str:
    match = _PERIOD.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise RecordError("not a YYYY-MM period")
    return str(raw)


def _division(raw: object, spec: FieldSpec, _: _Context | None) -> str:
    if not isinstance(raw, str) or not _DIVISION.fullmatch(raw):
        raise RecordError(f"not a 6-digit division code: {raw!r}")
    return raw


def _decimal(raw: object, spec: FieldSpec, _: _Context | None) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise RecordError(f"expected a decimal, got {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise RecordError(f"not a decimal: {raw!r}") from None
    if not value.is_finite():
        raise RecordError(f"not a decimal: {raw!r}")
    if value < 0:
        raise RecordError(f"must not be negative, got {raw}")
    if value > MAX_DECIMAL:  # before quantize, which cannot take a value beyond the context's precision (1e308)
        raise RecordError(f"beyond decimal(18,2): {raw}")
    if value != value.quantize(_CENT, rounding="ROUND_DOWN"):
        raise RecordError(f"more than two decimal places: {raw}")
    return value.quantize(_CENT)


def _enum(raw: object, spec: FieldSpec, _: _Context | None) -> str:
    if raw not in spec.symbols:
        raise RecordError(f"{raw!r} is not one of {', '.join(spec.symbols)}")
    return str(raw)


def _person(raw: object, spec: FieldSpec, context: _Context | None) -> str:
    assert context is not None
    if not isinstance(raw, str):
        raise RecordError("expected an ID number string")
    return context.pseudonymiser.person_key(raw, not_after=context.not_after)


def _person_list(raw: object, spec: FieldSpec, context: _Context | None) -> list[str]:
    if not isinstance(raw, list):
        raise RecordError("expected a list of persons")
    return [_each(i, item, lambda x: _person_entry(x, context)) for i, item in enumerate(raw)]


def _person_entry(item: object, context: _Context | None) -> str:
    if not isinstance(item, Mapping) or item.get("id_number") in (None, ""):
        raise RecordError("missing required field id_number")
    try:
        return _person(item["id_number"], _PERSON_SPEC, context)
    except RecordError as exc:
        raise exc.under(".id_number") from None


def _party(raw: object, spec: FieldSpec, context: _Context | None) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise RecordError("expected {id_number} or {credit_code}")
    if raw.get("id_number") not in (None, ""):
        try:
            return {"kind": "PERSON", "key": _person(raw["id_number"], _PERSON_SPEC, context)}
        except RecordError as exc:
            raise exc.under(".id_number") from None
    if raw.get("credit_code") not in (None, ""):
        try:
            return {"kind": "ORG", "key": validate_credit_code(str(raw["credit_code"]))}
        except RecordError as exc:
            raise exc.under(".credit_code") from None
    raise RecordError("needs id_number or credit_code")


def _party_list(raw: object, spec: FieldSpec, context: _Context | None) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise RecordError("expected a list of parties")
    return [_each(i, item, lambda x: _party(x, spec, context)) for i, item in enumerate(raw)]


def _each(index: int, item: object, convert: Callable[[object], _T]) -> _T:
    try:
        return convert(item)
    except RecordError as exc:
        raise exc.under(f"[{index}]") from None


_PERSON_SPEC = FieldSpec("id_number", FieldKind.PERSON, "")

_CONVERTERS: dict[FieldKind, _Converter] = {
    FieldKind.STRING: _string,
    FieldKind.INT: _int,
    FieldKind.BOOL: _bool,
    FieldKind.DATE: _date,
    FieldKind.PERIOD: _period,
    FieldKind.DIVISION: _division,
    FieldKind.DECIMAL: _decimal,
    FieldKind.ENUM: _enum,
    FieldKind.PERSON: _person,
    FieldKind.PERSON_LIST: _person_list,
    FieldKind.PARTY: _party,
    FieldKind.PARTY_LIST: _party_list,
}

#: Per record type (``""``: the fields every record has), each field with its name on Kafka and its
#: converter, looked up once here instead of per field and record (hashing the field kind, an Enum, and
#: computing ``kafka_name`` were ≈ a tenth of validation).
_PLANS: dict[str, tuple[tuple[FieldSpec, str, _Converter], ...]] = {
    name: tuple((f, f.kafka_name, _CONVERTERS[f.kind]) for f in fields)
    for name, fields in [("", COMMON_FIELDS), *((t.name, t.fields) for t in RECORD_TYPES.values())]
}
