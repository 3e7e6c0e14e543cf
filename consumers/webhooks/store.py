"""Dead-lettered webhook deliveries, kept in SQLite under the data directory until re-delivered."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FailedDelivery", "FailedDeliveryStore"]

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
    """The webhook dead letters; a row is removed once a re-delivery succeeded."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def add(self, failed: FailedDelivery) -> None:
        """Keep a failed delivery (a second failure of the same version replaces the first, adding attempts)."""
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
