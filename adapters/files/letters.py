"""Dead-letter payloads of file-drop rows: the row with everything mapping it again needs.

A row the file drop cannot map, or whose record fails validation, is dead-lettered
(sealed, like every dead-letter payload) as a small JSON document rather than the
row's bare bytes, so that ``jiandu dlq resubmit`` can map it again — typically after
an agency changed a code and the operator fixed the mapping file::

    {"format": "csv-row", "mapping": "court-judgments.yaml", "mapping_sha256": "…",
     "encoding": "gb18030", "folder": "court_210102", "file": "刑事判决生效_20240301.csv",
     "header": "序号,案号,…", "line": 7, "row": "1,(2024)辽0102刑初9号,…"}

``jsonl-row`` payloads have a null header. ``row`` is the row's text as read (its
lines joined by ``\\n``); its original bytes are that text encoded in ``encoding``
(UTF-8 for ``utf-8-sig``). A row that is not valid text keeps its bytes in
``row_base64`` instead. ``mapping_sha256`` is the mapping as it was when the row
was dead-lettered; :class:`Remapper` maps with the file as it reads now.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass

from adapters.files.convert import RowMapper
from adapters.files.mapping import FormatMapping
from adapters.files.reading import Row, csv_cells
from jiandu.core.jsoninput import JsonInputError, parse_json
from jiandu.errors import ConfigurationError

__all__ = ["ROW_FORMATS", "Remapped", "Remapper", "RowPayload", "RowPayloads"]

ROW_FORMATS = ("csv-row", "jsonl-row")


@dataclass(frozen=True, slots=True)
class RowPayload:
    """A dead-lettered row of a file-drop export, as its payload describes it."""

    format: str  # csv-row | jsonl-row
    mapping: str
    mapping_sha256: str
    encoding: str
    folder: str
    file: str
    line: int
    header: str | None
    row: bytes  # the original bytes of the row (may hold raw ID numbers: never log them)

    @property
    def origin(self) -> str:
        """Where the row was: ``<folder>/<file>:<line>``."""
        return f"{self.folder}/{self.file}:{self.line}"

    @classmethod
    def parse(cls, payload: bytes) -> RowPayload | None:
        """The row payload in a dead letter's opened bytes; None when the letter holds anything else."""
        try:
            document = json.loads(payload)
            if not isinstance(document, dict) or document.get("format") not in ROW_FORMATS:
                return None
            header = document.get("header")
            return cls(
                format=_text(document, "format"),
                mapping=_text(document, "mapping"),
                mapping_sha256=_text(document, "mapping_sha256"),
                encoding=_text(document, "encoding"),
                folder=_text(document, "folder"),
                file=_text(document, "file"),
                line=int(document["line"]),
                header=header if isinstance(header, str) else None,
                row=_row(document),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None

    def cells(self, mapping: FormatMapping) -> tuple[dict[str, object], str | None]:
        """The row's cells read as the file drop reads them (the mapping gives the CSV delimiter), or why not."""
        codec = _codec(self.encoding)
        try:
            text = self.row.decode(codec)
        except UnicodeDecodeError:
            return {}, f"line {self.line} is not valid {self.encoding} text"
        if self.format == "csv-row":
            return csv_cells(self.header or "", text, mapping.delimiter)
        try:
            cells = parse_json(text.removeprefix("\ufeff"))
        except JsonInputError as exc:
            return {}, str(exc)
        if not isinstance(cells, dict):
            return {}, "a JSON line must be an object of column: value"
        return cells, None


class RowPayloads:
    """Builds the payloads of one file's rows; what the rows share is encoded once."""

    def __init__(
        self,
        mapping: FormatMapping,
        *,
        folder: str,
        file: str,
        encoding: str,
        file_format: str,
        header: str | None,
    ) -> None:
        shared = {
            "format": f"{file_format}-row",
            "mapping": mapping.name,
            "mapping_sha256": mapping.sha256,
            "encoding": encoding,
            "folder": folder,
            "file": file,
            "header": header,
        }
        self._prefix = json.dumps(shared, ensure_ascii=False)[:-1].encode() + b', "line": '
        self._codec = _codec(encoding)

    def of(self, row: Row) -> bytes:
        """The payload of one row: its original bytes as text when they are text, else in base64."""
        try:
            text = row.raw.decode(self._codec)
            exact = text.encode(self._codec) == row.raw
        except UnicodeError:
            exact = False
        if exact:
            body = b', "row": ' + json.dumps(text, ensure_ascii=False).encode()
        else:
            body = b', "row_base64": "' + base64.b64encode(row.raw) + b'"'
        return self._prefix + str(row.line).encode() + body + b"}"


@dataclass(frozen=True, slots=True)
class Remapped:
    """A dead-lettered row mapped again: the record, or as much of it as could be mapped and why not."""

    record: dict[str, object]
    problem: str | None = None
    rule: str = "mapping"  # how the intake counts the problem: mapping, or unreadable (the row cannot be read)


class Remapper:
    """Maps dead-lettered rows again, each through the mapping file its payload names, as that file reads now."""

    def __init__(self, mappings: Iterable[FormatMapping]) -> None:
        self._mappings = {m.name: m for m in mappings}
        self._mappers: dict[tuple[str, str], RowMapper | None] = {}

    def require(self, payloads: Iterable[RowPayload]) -> None:
        """ConfigurationError naming the mapping files the payloads need and that are not loaded."""
        missing = sorted({p.mapping for p in payloads} - self._mappings.keys())
        if missing:
            loaded = ", ".join(sorted(self._mappings)) or "none"
            raise ConfigurationError(
                f"dead letters name mapping file(s) {', '.join(missing)}, which are not loaded (loaded: {loaded}): "
                "pass --mappings with the folder or file that holds them"
            )

    def remap(self, payload: RowPayload) -> Remapped:
        """The record of a dead-lettered row under its mapping as it reads now."""
        self.require([payload])
        mapper = self._mapper(payload)
        if mapper is None:
            return Remapped(
                {},
                f"mapping {payload.mapping} no longer applies to folder {payload.folder!r} file {payload.file!r}: "
                "fix its match, or the row cannot be mapped again",
            )
        cells, problem = payload.cells(mapper.mapping)
        if problem is not None:
            return Remapped(mapper.envelope(), problem, "unreadable")
        mapped = mapper.map(cells)
        return Remapped(mapped.record, mapped.problem)

    def _mapper(self, payload: RowPayload) -> RowMapper | None:
        key = (payload.mapping, f"{payload.folder}/{payload.file}")
        if key not in self._mappers:
            mapping = self._mappings[payload.mapping]
            captures = mapping.captures(payload.folder, payload.file)
            self._mappers[key] = RowMapper(mapping, captures) if captures is not None else None
        return self._mappers[key]


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _text(document: dict[str, object], key: str) -> str:
    value = document[key]
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _row(document: dict[str, object]) -> bytes:
    encoding = _text(document, "encoding")
    if "row" in document:
        return _text(document, "row").encode(_codec(encoding))
    return base64.b64decode(_text(document, "row_base64"), validate=True)
