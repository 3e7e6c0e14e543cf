"""The deliverer's local state in SQLite under the data directory: dead letters, and settled deliveries.

Dead-lettered deliveries stay until re-delivered. *Settled* deliveries (answered 2xx, or
dead-lettered) are recorded the moment they settle, with the lead-topic message they came from,
so that a deliverer restarted after a crash does not send again what a receiver already
confirmed, though its message's offset was not committed yet (the offset waits for the slowest
lead of the partition): only what was in flight at the crash is sent again. A row is forgotten
once the committed offset has passed its message, which is then never read again by the group.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FailedDelivery", "FailedDeliveryStore", "MessagePosition", "store_problem"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_delivery (
    subscription TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    version INTEGER NOT NULL,          -- the lead version's updated_at (epoch ms)
    delivery_id TEXT NOT NULL,
    body BLOB NOT NULL,                -- the JSON body as it was sent
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    failed_at INTEGER NOT NULL,        -- epoch ms (UTC)
    PRIMARY KEY (subscription, lead_id, version)
)
"""
_SETTLED_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS settled_delivery (
    delivery_id TEXT NOT NULL PRIMARY KEY,
    topic TEXT NOT NULL,               -- the lead-topic message that caused it
    partition INTEGER NOT NULL,
    message_offset INTEGER NOT NULL,
    settled_at INTEGER NOT NULL        -- epoch ms (UTC)
)
""",
    "CREATE INDEX IF NOT EXISTS settled_delivery_message ON settled_delivery (topic, partition, message_offset)",
)


@dataclass(frozen=True, slots=True)
class MessagePosition:
    """Where a lead-topic message is."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that failed every attempt."""

    subscription: str
    lead_id: str
    version: int
    delivery_id: str
    body: bytes = field(repr=False)
    attempts: int
    last_error: str
    failed_at: int


class FailedDeliveryStore:
    """The webhook dead letters (a row is removed once a re-delivery succeeded) and the settled deliveries."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed; only a power cut may lose the last
        # ones, which costs a repeated delivery (at least once), not a lost one
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in (_SCHEMA, *_SETTLED_SCHEMA):
            self._db.execute(statement)

    def add(self, failed: FailedDelivery) -> None:
        """Keep a failed delivery (a second failure of the same version replaces the first, adding attempts)."""
        self._add(failed)

    def settle(self, delivery_id: str, message: MessagePosition, failed: FailedDelivery | None = None) -> None:
        """Record that a delivery is over (delivered, or dead-lettered as ``failed``), in one transaction."""
        with self._transaction():
            if failed is not None:
                self._add(failed)
            self._db.execute(
                "INSERT OR REPLACE INTO settled_delivery VALUES (?, ?, ?, ?, ?)",
                (delivery_id, message.topic, message.partition, message.offset, int(time.time() * 1000)),
            )

    def is_settled(self, delivery_id: str) -> bool:
        """True when the delivery settled and its message was not yet passed by a committed offset."""
        row = self._db.execute("SELECT 1 FROM settled_delivery WHERE delivery_id = ?", (delivery_id,)).fetchone()
        return row is not None

    def forget_settled(self, topic: str, partition: int, committed: int) -> int:
        """The group committed ``committed`` on a partition: forget the deliveries of the messages before it."""
        cursor = self._db.execute(
            "DELETE FROM settled_delivery WHERE topic = ? AND partition = ? AND message_offset < ?",
            (topic, partition, committed),
        )
        return cursor.rowcount

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _add(self, failed: FailedDelivery) -> None:
        self._db.execute(
            "INSERT INTO failed_delivery VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subscription, lead_id, version) DO UPDATE SET "
            "attempts = attempts + excluded.attempts, last_error = excluded.last_error, failed_at = excluded.failed_at",
            (
                failed.subscription,
                failed.lead_id,
                failed.version,
                failed.delivery_id,
                failed.body,
                failed.attempts,
                failed.last_error,
                failed.failed_at,
            ),
        )

    def failed(self, *, subscription: str | None = None, lead_id: str | None = None) -> list[FailedDelivery]:
        """Failed deliveries, by subscription, lead and version (the order to re-deliver them in)."""
        rows = self._db.execute(
            "SELECT * FROM failed_delivery WHERE (?1 IS NULL OR subscription = ?1) AND (?2 IS NULL OR lead_id = ?2) "
            "ORDER BY subscription, lead_id, version",
            (subscription, lead_id),
        )
        return [FailedDelivery(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Dead letters per subscription (only subscriptions that have some)."""
        rows = self._db.execute("SELECT subscription, COUNT(*) FROM failed_delivery GROUP BY subscription")
        return {subscription: int(n) for subscription, n in rows}

    def remove(self, failed: FailedDelivery) -> None:
        """A re-delivery succeeded."""
        self._db.execute(
            "DELETE FROM failed_delivery WHERE subscription = ? AND lead_id = ? AND version = ?",
            (failed.subscription, failed.lead_id, failed.version),
        )

    def __iter__(self) -> Iterator[FailedDelivery]:
        return iter(self.failed())

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> FailedDeliveryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def store_problem(path: Path) -> str | None:
    """Readiness of the store at ``path``: None when it opens and answers, else why not.

    A connection of its own, read-only and short-lived: the probe runs on the metrics thread
    while the deliverer writes on its own connection (WAL lets both through).
    """
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            db.execute("SELECT COUNT(*) FROM failed_delivery").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"webhook store {path}: {exc}"
    return None
