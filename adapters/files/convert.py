"""One row of an agency export becomes one canonical record, by its mapping file.

A row that cannot be mapped is data, not a crash: :meth:`RowMapper.map` returns the
reason — naming the mapping file, the column and the value — with as much of the
record as it could map, and the adapter dead-letters it through the intake. The
mapper only reshapes: ID numbers are passed on as text, and validation and
pseudonymisation stay in ``producers.RecordIntake``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from adapters.files.mapping import DATETIME_FIELDS, FieldRule, FormatMapping, target_kind
from jiandu.core.records import RECORD_TYPES, FieldKind
from jiandu.core.timeutil import CST
from jiandu.errors import RecordError

__all__ = ["MappedRow", "RowMapper"]

_FIRST = ("source", "source_record_id", "jurisdiction", *DATETIME_FIELDS)  # mapped first: they name a dead letter
_TRUE = frozenset({"true", "是", "1", "y", "yes"})
_FALSE = frozenset({"false", "否", "0", "n", "no"})
_INT = re.compile(r"[+-]?\d+")
_ID_SHAPE = re.compile(r"\d{17}[\dXx]|\d{15}")  # an ID number's shape; validation comes later, in the intake
_SHOWN = 40

Cell = str | list[str]


@dataclass(frozen=True, slots=True)
class MappedRow:
    """A mapped row: the record, or as much of it as could be mapped and why the rest could not."""

    record: dict[str, object] = field(default_factory=dict)
    problem: str | None = None  # the dead-letter reason; None when the record is complete


class RowMapper:
    """Maps rows of the files one mapping applies to; ``captures`` are the folder pattern's groups."""

    def __init__(self, mapping: FormatMapping, captures: Mapping[str, str]) -> None:
        self._mapping = mapping
        self._constants = {r.target: r.value.format_map(captures) for r in mapping.rules if r.value is not None}
        self._plans = {t: _plan(mapping.rules, t) for t in mapping.record_type.possible}

    @property
    def mapping(self) -> FormatMapping:
        """The mapping this mapper applies."""
        return self._mapping

    def envelope(self) -> dict[str, object]:
        """What every row of the file shares (a fixed type, a constant source): it names the dead
        letter of a row that could not even be read."""
        fixed = self._mapping.record_type.fixed
        record: dict[str, object] = {"type": fixed} if fixed is not None else {}
        record.update((k, v) for k, v in self._constants.items() if k in ("source", "jurisdiction"))
        return record

    def map(self, cells: Mapping[str, object]) -> MappedRow:
        """The canonical record of one row (column name -> cell)."""
        record: dict[str, object] = {}
        try:
            record_type = self._record_type(cells)
            record["type"] = record_type
            for rule, kind in self._plans[record_type]:
                value = self._field(rule, kind, cells)
                if value is not None:
                    record[rule.target] = value
        except RecordError as exc:
            return MappedRow({**self.envelope(), **record}, f"mapping {self._mapping.name}: {exc.reason}")
        return MappedRow(record)

    def _record_type(self, cells: Mapping[str, object]) -> str:
        rule = self._mapping.record_type
        if rule.fixed is not None:
            return rule.fixed
        assert rule.column is not None and rule.codes is not None
        text = _scalar(rule.column, _cell(rule.column, cells, optional=False))
        if text not in rule.codes:
            raise RecordError(f"column {rule.column} value {_shown(text)} has no code in type")
        return rule.codes[text]

    def _field(self, rule: FieldRule, kind: FieldKind | None, cells: Mapping[str, object]) -> object:
        value = self._text(rule, cells)
        if value in ("", []) and rule.default is not None:
            value = rule.default
        if value in ("", []):
            return None  # validation decides: missing required field, or null
        if rule.codes is not None and isinstance(value, str):
            if value not in rule.codes:
                raise RecordError(f"{_where(rule)} value {_shown(value, kind)} has no code in {rule.codes_name}")
            value = rule.codes[value]
        try:
            return _convert(rule, kind, value)
        except ValueError as exc:
            raise RecordError(f"{_where(rule)} value {_shown(value, kind)} {exc}") from None

    def _text(self, rule: FieldRule, cells: Mapping[str, object]) -> Cell:
        if rule.value is not None:
            return self._constants[rule.target]
        if rule.column is not None:
            return _cell(rule.column, cells, optional=rule.optional)
        assert rule.template is not None
        parts = {c: _scalar(c, _cell(c, cells, optional=rule.optional)) for c in rule.columns}
        empty = [c for c, v in parts.items() if v == ""]
        if empty:
            raise RecordError(f"column {empty[0]} is empty (template of {rule.target})")
        return rule.template.format_map(parts)


def _plan(rules: tuple[FieldRule, ...], record_type: str) -> tuple[tuple[FieldRule, FieldKind | None], ...]:
    """The rules that apply to a record type, with the kind of their field; envelope fields first."""
    names = {f.name for f in RECORD_TYPES[record_type].fields} | {"source", "source_record_id", "jurisdiction"}
    usable = [r for r in rules if r.target in names or r.target in DATETIME_FIELDS]
    usable.sort(key=lambda r: _FIRST.index(r.target) if r.target in _FIRST else len(_FIRST))
    return tuple((r, target_kind(record_type, r.target)) for r in usable)


def _cell(column: str, cells: Mapping[str, object], *, optional: bool) -> Cell:
    if column not in cells:
        if optional:
            return ""
        raise RecordError(f"column {column} is missing")
    raw = cells[column]
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw).strip()
    if isinstance(raw, list) and all(isinstance(x, str | int) for x in raw):
        return [str(x).strip() for x in raw if str(x).strip()]
    raise RecordError(f"column {column} holds a {type(raw).__name__}, not a text or a list of texts")


def _scalar(column: str, value: Cell) -> str:
    if isinstance(value, list):
        raise RecordError(f"column {column} holds a list, not a text")
    return value


def _convert(rule: FieldRule, kind: FieldKind | None, value: Cell) -> object:
    """A cell's text in the form validation expects for the field's kind; ValueError says what is wrong."""
    if kind in (FieldKind.PERSON_LIST, FieldKind.PARTY_LIST):
        parts = value if isinstance(value, list) else _split(value, rule.split)
        if kind is FieldKind.PERSON_LIST:
            return [{"id_number": p} for p in parts]
        return [_party(p, rule.party) for p in parts]
    if isinstance(value, list):
        raise ValueError("is a list; the field takes one value")
    if kind is None:
        return _instant(value, rule.formats).isoformat() if rule.formats else value
    return _SCALAR_CONVERTERS.get(kind, _as_is)(value, rule)


def _split(text: str, separators: str) -> list[str]:
    parts = re.split("[" + re.escape(separators) + "]", text)
    return [p.strip() for p in parts if p.strip()]


def _party(text: str, mode: str) -> dict[str, str]:
    person = mode == "person" or (mode == "auto" and _ID_SHAPE.fullmatch(text) is not None)
    return {"id_number": text} if person else {"credit_code": text}


@functools.lru_cache(maxsize=4096)  # an export's dates repeat (one day, one month): strptime is the costly part
def _instant(text: str, formats: tuple[str, ...]) -> datetime:
    """The first format that reads the text; without an offset the time is China Standard Time."""
    for fmt in formats:
        try:
            value = datetime.strptime(text, fmt)  # noqa: DTZ007 - an offset-less time is CST (events.md), set below
        except ValueError:
            continue
        return value if value.tzinfo is not None else value.replace(tzinfo=CST)
    raise ValueError(f"is not a valid date in the format {' or '.join(formats)}")


def _day(text: str, rule: FieldRule) -> date:
    return _instant(text, rule.formats).date()


def _as_is(text: str, rule: FieldRule) -> object:
    return text


def _date(text: str, rule: FieldRule) -> object:
    return _day(text, rule).isoformat() if rule.formats else text


def _period(text: str, rule: FieldRule) -> object:
    return f"{_day(text, rule):%Y-%m}" if rule.formats else text


def _int(text: str, rule: FieldRule) -> object:
    if not _INT.fullmatch(text):
        raise ValueError("is not a whole number")
    return int(text)


def _bool(text: str, rule: FieldRule) -> object:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("is not yes or no (是/否, true/false, 1/0): give the field codes")


def _decimal(text: str, rule: FieldRule) -> object:
    return text.replace(",", "").replace("，", "").replace(" ", "")  # thousands separators; validation checks the rest


def _single_party(text: str, rule: FieldRule) -> object:
    return _party(text, rule.party)


_SCALAR_CONVERTERS = {
    FieldKind.DATE: _date,
    FieldKind.PERIOD: _period,
    FieldKind.INT: _int,
    FieldKind.BOOL: _bool,
    FieldKind.DECIMAL: _decimal,
    FieldKind.PARTY: _single_party,
}


def _where(rule: FieldRule) -> str:
    if rule.column is not None:
        return f"column {rule.column}"
    if rule.template is not None:
        return f"template of {rule.target}"
    return f"constant {rule.target}"


def _shown(value: Cell, kind: FieldKind | None = None) -> str:
    """A value for a reason: never an ID number (person fields are not shown), and never long."""
    if kind in (FieldKind.PERSON, FieldKind.PERSON_LIST, FieldKind.PARTY, FieldKind.PARTY_LIST):
        return "(not shown: a person field)"
    text = value if isinstance(value, str) else "、".join(value)
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")
