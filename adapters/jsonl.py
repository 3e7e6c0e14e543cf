"""JSON-lines files in the canonical record format (events.md)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from jiandu.errors import InputError
from producers import IntakeReport, RecordIntake

__all__ = ["MAX_LINE_BYTES", "ingest_jsonl", "read_lines"]

_CONFIRM_EVERY = 5_000


#: The longest line read whole; a longer one arrives cut to this (and so fails as "not valid JSON").
MAX_LINE_BYTES = 1 << 20


def read_lines(path: Path, *, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line, streamed; InputError if the file cannot be read.

    Memory is bounded by ``max_bytes``, not by the file: a longer line yields its first ``max_bytes``
    (which do not parse: the record is dead-lettered with its beginning) and the rest is skipped.
    """
    try:
        with path.open("rb") as handle:
            number = 0
            while line := handle.readline(max_bytes + 1):
                number += 1
                if len(line) > max_bytes and not line.endswith(b"\n"):
                    while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                        pass
                    yield number, line[:max_bytes]
                    continue
                line = line.rstrip(b"\n").rstrip(b"\r")
                if line.strip():
                    yield number, line
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def ingest_jsonl(paths: Iterable[Path], intake: RecordIntake, *, show_progress: bool = False) -> IntakeReport:
    """Submit every line of every file; confirm with the broker in batches."""
    started = time.monotonic()
    submitted = 0
    for path in paths:
        for number, line in read_lines(path):
            intake.submit_bytes(line, f"{path.name}:{number}")
            submitted += 1
            if submitted % _CONFIRM_EVERY == 0:
                intake.confirm()
                if show_progress:
                    _progress(submitted, started)
    report = intake.confirm()
    if show_progress:
        _progress(submitted, started, end="\n")
    return report


def _progress(submitted: int, started: float, end: str = "\r") -> None:
    rate = submitted / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"  ingest: {submitted:,} records, {rate:,.0f} records/s{end}")
    sys.stderr.flush()
