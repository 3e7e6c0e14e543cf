"""Which severities each lead has been routed with, so that a lead that changes severity stays visible
on every severity topic it was ever on (``jiandu alerts``).

A lead can escalate (M01: MEDIUM, then HIGH when an administrative penalty replaced
prosecution). Without this, the MEDIUM topic would keep the lead's last MEDIUM version,
OPEN, for ever, and its subscribers would never learn that it escalated or was resolved.
The history lives in a small SQLite file under the data directory, written before the
router commits its offsets, so a restart goes on from where it left.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["SeverityHistory"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS lead_severity (lead_id TEXT PRIMARY KEY, severities TEXT NOT NULL)"


class SeverityHistory:
    """Per lead, the severities routed so far (comma-separated; usually one)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # built where the router is built, used where it runs (one thread at a time)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def earlier(self, lead_id: str, severity: str) -> list[str]:
        """The other severities ``lead_id`` was routed with before; records ``severity`` (until :meth:`commit`)."""
        row = self._db.execute("SELECT severities FROM lead_severity WHERE lead_id = ?", (lead_id,)).fetchone()
        known = row[0].split(",") if row else []
        if severity not in known:
            stored = ",".join([*known, severity])
            self._db.execute(
                "INSERT INTO lead_severity (lead_id, severities) VALUES (?, ?) "
                "ON CONFLICT (lead_id) DO UPDATE SET severities = excluded.severities",
                (lead_id, stored),
            )
        return [s for s in known if s != severity]

    def commit(self) -> None:
        """Make what was recorded durable (before the router commits the offsets it came from)."""
        self._db.commit()

    def rollback(self) -> None:
        """Forget what was recorded since the last commit (its copies were not confirmed)."""
        self._db.rollback()

    def close(self) -> None:
        """Close the file."""
        self._db.close()
