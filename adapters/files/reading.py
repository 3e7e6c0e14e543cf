"""Reading agency export files: encoding, fingerprint, and rows with their line numbers.

The encoding rule (Chinese government exports come in all three): a UTF-8 byte-order
mark means UTF-8 with BOM; else a file that is valid UTF-8 throughout is UTF-8;
else it is GB18030 (a superset of GBK and GB2312). Lines are split on the byte
0x0A, which is never part of a multi-byte character in any of the three, so every
row keeps its original bytes (sealed into its dead letter) and its physical line
numbers (what the checkpoint counts). A line that does not decode is a bad row,
never a crash and never silently "repaired".
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from jiandu.core.jsoninput import JsonInputError, parse_json

__all__ = ["FileFingerprint", "Row", "RowLimits", "csv_cells", "csv_header", "fingerprint", "open_export", "read_rows"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RowLimits:
    """How large a row and a cell may be (JIANDU_FILEDROP_MAX_ROW_BYTES, JIANDU_FILEDROP_MAX_FIELD_CHARS).

    A longer line is never held in memory whole: its first ``row_bytes`` are kept (for
    its dead letter) and the rest is skipped up to the next line break.
    """

    row_bytes: int = 262_144
    field_chars: int = 4096


def open_export(path: Path) -> BinaryIO:
    """Open an export for reading, refusing a symbolic link (O_NOFOLLOW): an agency cannot point the hub
    at a file outside its drop folder, even by swapping a link in after the file was listed."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(descriptor, "rb")


@dataclass(frozen=True, slots=True)
class FileFingerprint:
    """What identifies a complete export: its content hash, size and detected encoding."""

    sha256: str
    size: int
    encoding: str  # utf-8-sig | utf-8 | gb18030


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its lines in the file, its original bytes and its cells (or why it has none)."""

    line: int
    last_line: int  # a CSV row with a quoted line break spans several lines
    raw: bytes
    cells: Mapping[str, object] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    raw: bytes
    text: str  # decoded; with replacement characters when not ``valid``
    valid: bool
    length: int = -1  # bytes of a line longer than the row limit (``raw`` is its beginning); -1: within it


def fingerprint(path: Path) -> FileFingerprint:
    """SHA-256, size and encoding of a file, in one streaming pass."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, size, head = True, 0, b""
    with open_export(path) as handle:
        while chunk := handle.read(_CHUNK):
            head = head or chunk[:3]
            digest.update(chunk)
            size += len(chunk)
            utf8 = utf8 and _decodes(decoder, chunk)
    utf8 = utf8 and _decodes(decoder, b"", final=True)
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8" if utf8 else "gb18030"
    return FileFingerprint(digest.hexdigest(), size, encoding)


def read_rows(
    path: Path,
    encoding: str,
    *,
    file_format: str,
    delimiter: str = ",",
    skip_lines: int = 0,
    after_line: int = 0,
    limits: RowLimits | None = None,
) -> Iterator[Row]:
    """The data rows of a CSV (header line after ``skip_lines``) or JSON-lines file.

    Rows ending at or before ``after_line`` are skipped without being parsed: the
    checkpoint is always at a row boundary, so reading starts cleanly after it. A row
    over ``limits`` comes with its problem (and only its beginning as ``raw``).
    """
    limits = limits or RowLimits()
    lines = _lines(path, encoding, limits.row_bytes)
    if file_format == "jsonl":
        rows = _jsonl_rows(lines, max(after_line, skip_lines), encoding)
    else:
        rows = _csv_rows(lines, encoding, delimiter, skip_lines, after_line)
    yield from (_within(row, limits) for row in rows)


def _within(row: Row, limits: RowLimits) -> Row:
    """The row, or the row with the problem of being over a limit (its ``raw`` cut to the row limit)."""
    if row.problem is not None:
        return row
    if len(row.raw) > limits.row_bytes:
        problem = f"row of {len(row.raw)} bytes: more than {limits.row_bytes} (JIANDU_FILEDROP_MAX_ROW_BYTES)"
        return Row(row.line, row.last_line, row.raw[: limits.row_bytes], problem=problem)
    for column, value in row.cells.items():
        size = len(value) if isinstance(value, str) else 0
        if size > limits.field_chars:
            problem = (
                f"column {column}: {size} characters, more than {limits.field_chars} (JIANDU_FILEDROP_MAX_FIELD_CHARS)"
            )
            return Row(row.line, row.last_line, row.raw, problem=problem)
    return row


def csv_header(path: Path, encoding: str, *, skip_lines: int = 0) -> str | None:
    """The text of a CSV file's header line (after ``skip_lines``), or None for a file without one."""
    lines = _lines(path, encoding, RowLimits().row_bytes)
    try:
        return next((line.text for line in lines if line.number > skip_lines), None)
    finally:
        lines.close()


def csv_cells(header: str, row: str, delimiter: str = ",") -> tuple[dict[str, object], str | None]:
    """The cells of one CSV row read again from its text and its file's header line, or why it has none.

    How a dead-lettered row is re-mapped: the same reading as :func:`read_rows`.
    """
    try:
        columns = _header_cells(header, delimiter)
        values = next(csv.reader((line + "\n" for line in row.split("\n")), delimiter=delimiter), [])
    except csv.Error as exc:
        return {}, f"csv: {exc}"
    if len(values) != len(columns):
        return {}, f"csv: the row has {len(values)} cells, the header has {len(columns)}"
    return dict(zip(columns, values, strict=True)), None


def _header_cells(text: str, delimiter: str) -> list[str]:
    return [cell.strip() for cell in next(csv.reader([text], delimiter=delimiter), [])]


def _decodes(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool = False) -> bool:
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError:
        return False
    return True


def _lines(path: Path, encoding: str, max_bytes: int) -> Generator[_Line, None, None]:
    """Every line, none held longer than ``max_bytes`` (a longer one: its beginning, text empty, not valid)."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    with open_export(path) as handle:
        number = 0
        while line := handle.readline(max_bytes + 1):
            number += 1
            if len(line) > max_bytes and not line.endswith(b"\n"):
                yield _Line(number, line[:max_bytes], "", False, len(line) + _skip_line(handle))
                continue
            raw = line.removesuffix(b"\n").removesuffix(b"\r")
            try:
                text, valid = raw.decode(codec), True
            except UnicodeDecodeError:
                text, valid = raw.decode(codec, errors="replace"), False
            yield _Line(number, raw, text.removeprefix("\ufeff") if number == 1 else text, valid)


def _skip_line(handle: BinaryIO) -> int:
    """Read past the rest of a line, chunk by chunk, keeping nothing; how many bytes it had."""
    skipped = 0
    while chunk := handle.readline(_CHUNK):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _too_long(line: _Line) -> str:
    return f"line {line.number} has {line.length} bytes: more than a row may have (JIANDU_FILEDROP_MAX_ROW_BYTES)"


def _jsonl_rows(lines: Iterator[_Line], after_line: int, encoding: str) -> Iterator[Row]:
    for line in lines:
        if line.number <= after_line or (line.length < 0 and not line.text.strip()):
            continue
        yield _json_row(line, encoding)


def _json_row(line: _Line, encoding: str) -> Row:
    if line.length >= 0:
        return Row(line.number, line.number, line.raw, problem=_too_long(line))
    if not line.valid:
        return Row(line.number, line.number, line.raw, problem=f"line {line.number} is not valid {encoding} text")
    try:
        cells = parse_json(line.text)
    except JsonInputError as exc:
        return Row(line.number, line.number, line.raw, problem=str(exc))
    if not isinstance(cells, dict):
        return Row(line.number, line.number, line.raw, problem="a JSON line must be an object of column: value")
    return Row(line.number, line.number, line.raw, cells)


class _Feed:
    """Feeds decoded lines to ``csv.reader`` and remembers which lines each row took."""

    def __init__(self, lines: Iterator[_Line], after_line: int) -> None:
        self._lines = lines
        self._after = after_line
        self.taken: list[_Line] = []

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        while line.number <= self._after:
            line = next(self._lines)
        self.taken.append(line)
        return line.text + "\n"  # the reader needs the line break to keep it inside a quoted cell

    def take(self) -> list[_Line]:
        taken, self.taken = self.taken, []
        return taken


def _csv_rows(lines: Iterator[_Line], encoding: str, delimiter: str, skip_lines: int, after_line: int) -> Iterator[Row]:
    header_line = next((line for line in lines if line.number > skip_lines), None)
    if header_line is None:
        return
    try:
        header, header_problem = _header_cells(header_line.text, delimiter), None
    except csv.Error as exc:  # e.g. a bare carriage return: every row is then a problem, none a crash
        header, header_problem = [], f"csv: the header (line {header_line.number}) cannot be read: {exc}"
    feed = _Feed(lines, after_line)
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _row(feed.take(), header, [], f"csv: {exc}")
            continue
        taken = feed.take()
        if any(line.length >= 0 for line in taken):
            yield _row(taken, header, [], _too_long(next(line for line in taken if line.length >= 0)))
        elif any(v.strip() for v in values):
            problem = header_problem or _csv_problem(taken, header_line, header, values, encoding)
            yield _row(taken, header, values, problem)


def _csv_problem(
    taken: list[_Line], header_line: _Line, header: list[str], values: list[str], encoding: str
) -> str | None:
    bad = [line.number for line in (header_line, *taken) if not line.valid]
    if bad:
        return f"line {bad[0]} is not valid {encoding} text"
    if len(values) != len(header):
        return f"csv: the row has {len(values)} cells, the header (line {header_line.number}) has {len(header)}"
    return None


def _row(taken: list[_Line], header: list[str], values: list[str], problem: str | None) -> Row:
    first, last = (taken[0].number, taken[-1].number) if taken else (0, 0)
    cells = {} if problem else dict(zip(header, values, strict=True))
    return Row(first, last, b"\n".join(line.raw for line in taken), cells, problem)
