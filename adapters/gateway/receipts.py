"""Event ids the push API has accepted, in a small SQLite file: a re-sent record is answered ``duplicate``.

Agencies retry (a timeout, a lost answer), so the same record arrives again. Its
event id (``<source>/<type>/<source_record_id>``) is the idempotency key: an id
recorded here is not published again. Ids are recorded only after the broker
confirmed the events; a crash between the two means a re-sent record is
published twice, and the streams worker, which ignores an event id it already
holds, stays the safety net.

Ids are kept ``retention_days`` (``JIANDU_GATEWAY_RECEIPT_DAYS``, 30 by default;
0 keeps them forever). An id older than that no longer counts: a record re-sent
after it is accepted and published again, and the streams worker ignores it as a
duplicate by event id (a lead never changes for it). Expired ids are deleted by
:meth:`AcceptedEventIds.start_expiry` in the background, a batch at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from adapters.gateway.retention import BatchPruner
from jiandu.core.timeutil import utc_now_ms

__all__ = ["DAY_MS", "AcceptedEventIds"]

DAY_MS = 86_400_000

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS accepted (
        event_id    TEXT PRIMARY KEY,
        agency      TEXT NOT NULL,
        accepted_at INTEGER NOT NULL  -- epoch milliseconds, UTC
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS accepted_by_time ON accepted (accepted_at)",  # expiry reads the oldest first
)
_CHUNK = 500  # stays below SQLite's limit on bound parameters
_NEVER = -(2**62)  # the cutoff when ids are kept forever
_EXPIRE_BATCH = """
    DELETE FROM accepted WHERE event_id IN
        (SELECT event_id FROM accepted WHERE accepted_at < ? ORDER BY accepted_at LIMIT ?)
"""


class AcceptedEventIds:
    """The set of accepted event ids of the last ``retention_days``, persistent across gateway restarts.

    ``clock`` (epoch milliseconds) is the wall clock unless a test controls it.
    """

    def __init__(self, path: Path, *, retention_days: int = 0, clock: Callable[[], int] = utc_now_ms) -> None:
        if retention_days < 0:
            raise ValueError(f"retention_days={retention_days}: use 0 (keep forever) or more")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention_days = retention_days
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._lock = threading.Lock()
        self._pruner: BatchPruner | None = None

    def cutoff(self) -> int:
        """Ids accepted before this instant (epoch ms) have expired."""
        return self._clock() - self.retention_days * DAY_MS if self.retention_days else _NEVER

    def accepted_among(self, event_ids: Collection[str]) -> set[str]:
        """The ids of ``event_ids`` accepted within the retention."""
        ids, cutoff = list(event_ids), self.cutoff()
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT event_id FROM accepted WHERE event_id IN ({marks}) AND accepted_at >= ?"
                found.update(row[0] for row in self._db.execute(query, [*chunk, cutoff]))
        return found

    def record(self, agency_id: str, event_ids: Iterable[str]) -> None:
        """Remember ids whose events the broker confirmed (an expired id starts a new retention)."""
        now = self._clock()
        rows = [(event_id, agency_id, now) for event_id in event_ids]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO accepted VALUES (?, ?, ?)", rows)

    def expire_batch(self, limit: int) -> int:
        """Delete at most ``limit`` expired ids, the oldest first; returns how many (0 when kept forever)."""
        if not self.retention_days:
            return 0
        with self._lock:
            return self._db.execute(_EXPIRE_BATCH, (self.cutoff(), limit)).rowcount

    def start_expiry(self, *, interval_seconds: float = 3600.0, batch: int = 1000) -> None:
        """Delete expired ids now and every ``interval_seconds``, ``batch`` at a time, in a background thread.

        Does nothing when ids are kept forever. :meth:`close` stops it.
        """
        if self.retention_days and self._pruner is None:
            self._pruner = BatchPruner(
                self.expire_batch, interval_seconds=interval_seconds, batch=batch, what="accepted event ids"
            ).start()

    @property
    def expiry_rounds(self) -> int:
        """Rounds of background expiry finished so far."""
        return self._pruner.rounds if self._pruner else 0

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM accepted").fetchone()[0])

    def close(self) -> None:
        """Stop the background expiry and close the database."""
        if self._pruner is not None:
            self._pruner.stop()
        with self._lock:
            self._db.close()
