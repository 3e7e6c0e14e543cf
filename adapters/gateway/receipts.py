"""Event ids the push API has accepted, in a small SQLite file: a re-sent record is answered ``duplicate``.

Agencies retry (a timeout, a lost answer), so the same record arrives again. Its
event id (``<source>/<type>/<source_record_id>``) is the idempotency key: an id
recorded here is not published again. Ids are recorded only after the broker
confirmed the events; a crash between the two means a re-sent record is
published twice, and the streams worker, which ignores an event id it already
holds, stays the safety net.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterable
from pathlib import Path

from jiandu.core.timeutil import utc_now_ms

__all__ = ["AcceptedEventIds"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    event_id    TEXT PRIMARY KEY,
    agency      TEXT NOT NULL,
    accepted_at INTEGER NOT NULL  -- epoch milliseconds, UTC
) WITHOUT ROWID
"""
_CHUNK = 500  # stays below SQLite's limit on bound parameters


class AcceptedEventIds:
    """The set of accepted event ids, persistent across gateway restarts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def accepted_among(self, event_ids: Collection[str]) -> set[str]:
        """The ids of ``event_ids`` that were accepted before."""
        ids = list(event_ids)
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT event_id FROM accepted WHERE event_id IN ({marks})", chunk)
                found.update(row[0] for row in rows)
        return found

    def record(self, agency_id: str, event_ids: Iterable[str]) -> None:
        """Remember ids whose events the broker confirmed."""
        now = utc_now_ms()
        rows = [(event_id, agency_id, now) for event_id in event_ids]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO accepted VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM accepted").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
