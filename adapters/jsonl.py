"""JSON-lines files in the canonical record format (events.md)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from jiandu.errors import InputError
from producers import IntakeReport, RecordIntake

__all__ = ["ingest_jsonl", "read_lines"]

_CONFIRM_EVERY = 5_000


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line; InputError if the file cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(data.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if line.strip():
            yield number, line


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
