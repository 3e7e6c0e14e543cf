"""Mapping files: how one agency export format becomes canonical records (events.md).

Adding an agency format is a new YAML file in ``adapters/mappings/``, not code
(``adapters/mappings/README.md`` is the reference). A mapping is checked completely
when it is loaded — unknown fields, codes that map to no enum symbol, required
fields left out — so a typo stops the adapter at start instead of dead-lettering
every row of a file.

YAML is read with the base loader: every value is text (``01``, ``NO`` and
``2024-03-01`` stay what they look like), and this module converts what it needs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jiandu.core.records import COMMON_FIELDS, RECORD_TYPES, FieldKind, FieldSpec, RecordType
from jiandu.errors import ConfigurationError

__all__ = [
    "DATETIME_FIELDS",
    "FieldRule",
    "FormatMapping",
    "TypeRule",
    "load_mapping",
    "load_mappings",
    "target_kind",
]

#: Canonical fields holding an instant (ISO 8601 in records), not in the record catalogue's field specs.
DATETIME_FIELDS = ("occurred_at", "recorded_at")
_COMMON = {f.name: f for f in COMMON_FIELDS}
_ENVELOPE_REQUIRED = ("source", "source_record_id", "jurisdiction", "occurred_at")
_TOP_KEYS = {"name", "description", "match", "input", "type", "constants", "fields", "codes"}
_RULE_KEYS = {"column", "value", "template", "codes", "format", "split", "party", "default", "optional"}
_DEFAULT_SPLIT = ";；、"
_PARTY_MODES = ("auto", "person", "org")
_BOOL_WORDS = {"true": True, "false": False}
_DATE_KINDS = (FieldKind.DATE, FieldKind.PERIOD)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one canonical field gets its value: from a column, a constant or a template over columns."""

    target: str
    column: str | None = None
    value: str | None = None  # constant; ``{name}`` is a named group of ``match.folder``
    template: str | None = None  # ``{列名}`` placeholders are columns
    codes: Mapping[str, str] | None = None  # agency code -> canonical value
    codes_name: str = ""  # how reasons name the code table
    formats: tuple[str, ...] = ()  # strptime formats of a date or time column
    split: str = _DEFAULT_SPLIT  # separators of a list column
    party: str = "auto"
    default: str | None = None  # used when the cell is empty
    optional: bool = False  # a missing column reads as empty instead of failing the row

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this rule reads."""
        if self.column is not None:
            return (self.column,)
        return _placeholders(self.template) if self.template is not None else ()


@dataclass(frozen=True, slots=True)
class TypeRule:
    """The record type of a row: one fixed type, or a column whose codes name the type."""

    fixed: str | None = None
    column: str | None = None
    codes: Mapping[str, str] | None = None

    @property
    def possible(self) -> tuple[str, ...]:
        """Every record type a row of this format can have."""
        if self.fixed is not None:
            return (self.fixed,)
        return tuple(dict.fromkeys((self.codes or {}).values()))


@dataclass(frozen=True, slots=True)
class FormatMapping:
    """One agency export format, loaded and checked from its mapping file."""

    name: str  # the mapping file's name, as reasons and receipts cite it
    path: Path
    sha256: str
    description: str
    folder: re.Pattern[str]
    files: tuple[str, ...]
    input_format: str | None  # csv | jsonl; None: by the file's suffix
    delimiter: str
    skip_lines: int
    record_type: TypeRule
    rules: tuple[FieldRule, ...]

    def captures(self, folder: str, file_name: str) -> dict[str, str] | None:
        """The folder pattern's named groups when this mapping applies to the file, else None."""
        match = self.folder.fullmatch(folder)
        if match is None or not any(fnmatch.fnmatchcase(file_name, pattern) for pattern in self.files):
            return None
        return {k: v for k, v in match.groupdict().items() if v is not None}

    def format_of(self, file_name: str) -> str:
        """``csv`` or ``jsonl``: declared, else ``.jsonl``/``.ndjson``/``.json`` files are JSON lines."""
        if self.input_format is not None:
            return self.input_format
        return "jsonl" if file_name.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"


def target_kind(record_type: str, target: str) -> FieldKind | None:
    """The field kind of a canonical field of a type; None for ``occurred_at``/``recorded_at``."""
    if target in DATETIME_FIELDS:
        return None
    spec = _fields_of(RECORD_TYPES[record_type]).get(target)
    if spec is None:
        raise KeyError(target)
    return spec.kind


def load_mappings(directory: Path) -> list[FormatMapping]:
    """Every ``*.yaml``/``*.yml`` mapping in a folder, checked; ConfigurationError on the first bad one."""
    if not directory.is_dir():
        raise ConfigurationError(f"mapping folder {directory} does not exist")
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [load_mapping(path) for path in paths]


def load_mapping(path: Path) -> FormatMapping:
    """One mapping file, checked; ConfigurationError naming the file and the problem."""
    try:
        data = path.read_bytes()
        document = yaml.load(data.decode("utf-8"), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"mapping {path.name}: cannot be read: {exc}") from exc
    try:
        return _build(path, hashlib.sha256(data).hexdigest(), document)
    except _Invalid as exc:
        raise ConfigurationError(f"mapping {path.name}: {exc}") from None


class _Invalid(Exception):
    """A problem in a mapping file; load_mapping adds the file's name."""


def _build(path: Path, sha256: str, document: object) -> FormatMapping:
    top = _mapping(document, "the file")
    _no_unknown(top, _TOP_KEYS, "top-level key")
    codes = {
        name: _code_table(table, f"codes.{name}") for name, table in _mapping(top.get("codes", {}), "codes").items()
    }
    folder, files = _match(top.get("match"))
    record_type = _type_rule(top.get("type"), codes)
    fields = _mapping(top.get("fields", {}), "fields")
    constants = _mapping(top.get("constants", {}), "constants")
    rules = [_rule(target, raw, codes) for target, raw in fields.items()]
    rules += [FieldRule(target, value=_text(value, f"constants.{target}")) for target, value in constants.items()]
    _check_rules(rules, record_type, folder)
    delimiter, skip_lines, input_format = _input(top.get("input", {}))
    return FormatMapping(
        name=path.name,
        path=path,
        sha256=sha256,
        description=str(top.get("description", "")),
        folder=folder,
        files=files,
        input_format=input_format,
        delimiter=delimiter,
        skip_lines=skip_lines,
        record_type=record_type,
        rules=tuple(rules),
    )


def _match(raw: object) -> tuple[re.Pattern[str], tuple[str, ...]]:
    match = _mapping(raw, "match")
    _no_unknown(match, {"folder", "files"}, "key of match")
    try:
        folder = re.compile(_text(match.get("folder"), "match.folder"))
    except re.error as exc:
        raise _Invalid(f"match.folder is not a regular expression: {exc}") from None
    files = match.get("files", "*")
    globs = tuple(_text(g, "match.files") for g in (files if isinstance(files, list) else [files]))
    return folder, globs


def _type_rule(raw: object, codes: Mapping[str, Mapping[str, str]]) -> TypeRule:
    if isinstance(raw, str):
        _known_type(raw)
        return TypeRule(fixed=raw)
    rule = _mapping(raw, "type")
    _no_unknown(rule, {"column", "codes"}, "key of type")
    table = _codes_of(rule.get("codes"), "type", codes)
    if table is None or not table:
        raise _Invalid("type: give a record type, or a column and the codes that name the type")
    for name in table.values():
        _known_type(name)
    return TypeRule(column=_text(rule.get("column"), "type.column"), codes=table)


def _rule(target: str, raw: object, codes: Mapping[str, Mapping[str, str]]) -> FieldRule:
    if isinstance(raw, str):
        return FieldRule(target, column=raw)
    spec = _mapping(raw, f"fields.{target}")
    _no_unknown(spec, _RULE_KEYS, f"key of fields.{target}")
    sources = [k for k in ("column", "value", "template") if k in spec]
    if len(sources) != 1:
        raise _Invalid(f"fields.{target}: give exactly one of column, value, template")
    table = _codes_of(spec.get("codes"), target, codes)
    formats = spec.get("format", [])
    party = str(spec.get("party", "auto"))
    if party not in _PARTY_MODES:
        raise _Invalid(f"fields.{target}.party: {party!r} is not one of {', '.join(_PARTY_MODES)}")
    return FieldRule(
        target,
        column=_optional_text(spec, "column", target),
        value=_optional_text(spec, "value", target),
        template=_optional_text(spec, "template", target),
        codes=table,
        codes_name=str(spec["codes"]) if isinstance(spec.get("codes"), str) else target,
        formats=tuple(
            _text(f, f"fields.{target}.format") for f in (formats if isinstance(formats, list) else [formats])
        ),
        split=_text(spec.get("split", _DEFAULT_SPLIT), f"fields.{target}.split"),
        party=party,
        default=_optional_text(spec, "default", target),
        optional=_flag(spec.get("optional", "false"), f"fields.{target}.optional"),
    )


def _check_rules(rules: list[FieldRule], record_type: TypeRule, folder: re.Pattern[str]) -> None:
    targets = [r.target for r in rules]
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise _Invalid(f"field {twice[0]} is given twice (fields and constants)")
    allowed: set[str] = set(DATETIME_FIELDS)
    for name in record_type.possible:
        fields = _fields_of(RECORD_TYPES[name])
        allowed.update(fields)
        required = [*_ENVELOPE_REQUIRED, *(f.name for f in fields.values() if f.required and f.name not in _COMMON)]
        missing = [f for f in required if f not in targets]
        if missing:
            raise _Invalid(f"no rule for required field {missing[0]} of {name}")
    for rule in rules:
        if rule.target not in allowed:
            raise _Invalid(f"{rule.target} is not a field of {' or '.join(record_type.possible)}")
        _check_rule(rule, record_type.possible, folder)


def _check_rule(rule: FieldRule, types: tuple[str, ...], folder: re.Pattern[str]) -> None:
    kinds = {target_kind(t, rule.target) for t in types if rule.target in _fields_of(RECORD_TYPES[t])}
    kinds |= {None} if rule.target in DATETIME_FIELDS else set()
    if rule.value is not None:
        unknown = [p for p in _placeholders(rule.value) if p not in folder.groupindex]
        if unknown:
            raise _Invalid(f"fields.{rule.target}: {{{unknown[0]}}} is not a named group of match.folder")
    if rule.formats and not kinds & {None, *_DATE_KINDS}:
        raise _Invalid(f"fields.{rule.target}: format is for date and time fields only")
    for kind in kinds:
        _check_codes(rule, kind, types)


def _check_codes(rule: FieldRule, kind: FieldKind | None, types: tuple[str, ...]) -> None:
    if rule.codes is None:
        return
    for code, value in rule.codes.items():
        if kind is FieldKind.ENUM:
            symbols = {s for t in types for s in _symbols(t, rule.target)}
            if value not in symbols:
                raise _Invalid(
                    f"codes {rule.codes_name}: {code!r} maps to {value!r}, not one of {', '.join(sorted(symbols))}"
                )
        elif kind is FieldKind.BOOL and value not in _BOOL_WORDS:
            raise _Invalid(f"codes {rule.codes_name}: {code!r} maps to {value!r}; {rule.target} needs true or false")


def _input(raw: object) -> tuple[str, int, str | None]:
    spec = _mapping(raw, "input")
    _no_unknown(spec, {"format", "delimiter", "skip_lines"}, "key of input")
    input_format = spec.get("format")
    if input_format is not None and input_format not in ("csv", "jsonl"):
        raise _Invalid(f"input.format: {input_format!r} is not csv or jsonl")
    delimiter = _text(spec.get("delimiter", ","), "input.delimiter")
    if len(delimiter) != 1:
        raise _Invalid("input.delimiter must be one character (\\t for tab)")
    skip = _text(spec.get("skip_lines", "0"), "input.skip_lines")
    if not skip.isdigit():
        raise _Invalid(f"input.skip_lines: {skip!r} is not a number of lines")
    return delimiter, int(skip), input_format if isinstance(input_format, str) else None


def _codes_of(raw: object, name: str, tables: Mapping[str, Mapping[str, str]]) -> Mapping[str, str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in tables:
            raise _Invalid(f"{name}: no code table {raw!r} under codes")
        return tables[raw]
    return _code_table(raw, f"codes of {name}")


def _code_table(raw: object, name: str) -> dict[str, str]:
    return {str(code).strip(): _text(value, f"{name}.{code}") for code, value in _mapping(raw, name).items()}


def _fields_of(record_type: RecordType) -> dict[str, FieldSpec]:
    return {**_COMMON, **{f.name: f for f in record_type.fields}}


def _symbols(record_type: str, target: str) -> tuple[str, ...]:
    spec = _fields_of(RECORD_TYPES[record_type]).get(target)
    return spec.symbols if spec is not None else ()


def _known_type(name: str) -> None:
    if name not in RECORD_TYPES:
        raise _Invalid(f"type: {name!r} is not a record type of events.md")


def _placeholders(template: str) -> tuple[str, ...]:
    try:
        return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)
    except ValueError as exc:
        raise _Invalid(f"template {template!r}: {exc}") from None


def _mapping(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _Invalid(f"{where} must be a mapping of keys to values")
    return raw


def _no_unknown(spec: Mapping[str, object], known: set[str], what: str) -> None:
    unknown = sorted(set(spec) - known)
    if unknown:
        raise _Invalid(f"unknown {what} {unknown[0]!r}; known: {', '.join(sorted(known))}")


def _text(raw: object, where: str) -> str:
    if not isinstance(raw, str) or raw == "":
        raise _Invalid(f"{where} must be a non-empty text")
    return raw


def _optional_text(spec: Mapping[str, object], key: str, target: str) -> str | None:
    return _text(spec[key], f"fields.{target}.{key}") if key in spec else None


def _flag(raw: object, where: str) -> bool:
    if raw not in _BOOL_WORDS:
        raise _Invalid(f"{where}: {raw!r} is not true or false")
    return _BOOL_WORDS[str(raw)]
