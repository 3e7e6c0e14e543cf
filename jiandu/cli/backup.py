"""``jiandu backup --out DIR``: a consistent copy of a single-node hub's data directory, taken while it runs.

What a restore needs is all under ``JIANDU_DATA_DIR``: the journal (every accepted
event, dead letter, adapter checkpoint and officer action, and what the alert router and
the webhook deliverer remember, with the webhook dead letters: the embedded broker is
filled from it, the worker's state rebuilt from the events) and the SQLite databases
(lead archive, the push API's accepted event ids, dead-letter resubmissions). Logs are
left out; file-drop receipts live beside the processed files in the drop folder. With a
replicated Kafka (``JIANDU_KAFKA_BOOTSTRAP``) the consumers' and adapters' state is in its
topics, not here.

Order matters, because "accepted" must never be ahead of what is durable: the
databases are copied first (SQLite through its online backup API, so a live database
is copied consistently), the journal last. The journal copy then holds at least every
event the copied accepted ids claim; anything newer in it is re-sent work, which the
hub ignores by event id. A segment being written while it is copied may end in a torn
block: the reader ignores it, and it was not yet acknowledged when the copy started.

Restore: copy the backup into an empty data directory and start the hub on it
(``jiandu broker`` or ``jiandu run``); the broker replays the journal before it
reports ready. A PostgreSQL archive (``JIANDU_ARCHIVE_URL``) or gateway database
(``JIANDU_GATEWAY_RECEIPTS_URL``) is backed up with ``pg_dump`` before this command,
for the same reason.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from jiandu.errors import InputError
from jiandu.settings import Settings

__all__ = ["add_parser", "back_up", "command"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SKIPPED_SUFFIXES = (".log", "-wal", "-shm", "-journal")


def add_parser(sub: Any) -> None:
    """Register ``backup`` on the main parser's sub-parsers."""
    backup = sub.add_parser(
        "backup", help="copy the data directory consistently while the hub runs (restore: copy back)"
    )
    backup.add_argument("--out", type=Path, required=True, help="a new or empty directory")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu backup``."""
    manifest = back_up(settings.data_dir, args.out, journal=settings.journal_dir)
    print(
        f"backup of {settings.data_dir} → {args.out}: {manifest['databases']} databases, {manifest['files']} files, "
        f"{manifest['journal_segments']} journal segments ({manifest['journal_bytes']:,} bytes)"
    )
    return 0


def back_up(data_dir: Path, out: Path, *, journal: Path) -> dict[str, Any]:
    """Copy ``data_dir`` to ``out``: databases and files first, the journal last; returns the manifest written."""
    if not data_dir.is_dir():
        raise InputError(f"cannot back up {data_dir}: no such directory (JIANDU_DATA_DIR)")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: back up into a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    databases = files = 0
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if journal in path.parents or path.name.endswith(_SKIPPED_SUFFIXES) or out in path.parents:
            continue
        target = out / path.relative_to(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(path):
            _copy_database(path, target)
            databases += 1
        else:
            shutil.copy2(path, target)
            files += 1
    segments = sorted(journal.glob("*.avro")) if journal.is_dir() else []
    for segment in segments:
        (out / "journal").mkdir(exist_ok=True)
        shutil.copy2(segment, out / "journal" / segment.name)
    manifest.update(
        databases=databases,
        files=files,
        journal_segments=len(segments),
        journal_bytes=sum(s.stat().st_size for s in segments),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    (out / "backup-manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while another process writes the database."""
    live, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()
