"""Which lead versions are new: the rule every consumer of the lead topic applies (archive, alerts, webhooks).

Reprocessing (a worker rebuilt after a broker restart, a crash before a commit)
re-emits lead versions that differ from earlier ones only in wall-clock fields
(``raised_at`` is the hub clock when the worker raised it, ``detected_at`` and
``updated_at`` the wall clock when it published). Such a version is no news: a
consumer stores, routes and delivers nothing for it, so a rebuilt worker replaying a
lead's history (OPEN, then RESOLVED) moves no lead back to a state it left. Content is
the test, not the status: the engine itself re-opens a lead WITHDRAWN because a late
extension moved its deadline, once the new deadline passes (new ``due_at``, new
version); refusing every return to an earlier status lost such leads (measured: 4
M05 leads OPEN on the topic and WITHDRAWN in the archive after a fault-injection run).

:class:`VersionLedger` keeps, per scope (a webhook subscription, or the router) and
lead, the statuses and content digests seen, in SQLite under the data directory,
committed together with the consumer's own progress.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jiandu.core.leads import Lead

__all__ = ["WALL_CLOCK_FIELDS", "VersionLedger", "content_digest", "is_repeat"]

#: Fields a re-emitted version may change without being a new version.
WALL_CLOCK_FIELDS = frozenset({"raised_at", "detected_at", "updated_at"})

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lead_version_seen ("
    " scope TEXT NOT NULL, lead_id TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, digest TEXT NOT NULL,"
    " PRIMARY KEY (scope, lead_id, seq))"
)


def content_digest(lead: Lead | Mapping[str, Any]) -> str:
    """A digest of everything in a version but its wall-clock fields."""
    record = lead.to_avro() if isinstance(lead, Lead) else lead
    content = {k: v for k, v in record.items() if k not in WALL_CLOCK_FIELDS}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def is_repeat(seen: Sequence[str], digest: str) -> bool:
    """True when a version with ``digest`` is no news after the versions ``seen`` (their digests): the same
    content, re-emitted. A version with new content is news even when its status is one the lead had before:
    a lead WITHDRAWN because a late extension moved its deadline is OPEN again once that deadline passes."""
    return digest in seen


class VersionLedger:
    """Per scope and lead, the versions seen (SQLite; :meth:`record` is durable after :meth:`commit`)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # built where the consumer is built, used where it runs (one thread at a time)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def is_repeat(self, scope: str, lead: Lead) -> bool:
        """True when ``lead`` is no new version for ``scope`` (see :func:`is_repeat`)."""
        return is_repeat(self._digests(scope, lead.lead_id), content_digest(lead))

    def record(self, scope: str, lead: Lead) -> None:
        """Remember ``lead`` as seen by ``scope`` (until :meth:`commit`; a repeat is not recorded twice)."""
        seen = self._digests(scope, lead.lead_id)
        digest = content_digest(lead)
        if digest in seen:
            return
        self._db.execute(
            "INSERT INTO lead_version_seen (scope, lead_id, seq, status, digest) VALUES (?, ?, ?, ?, ?)",
            (scope, lead.lead_id, len(seen), lead.status, digest),
        )

    def commit(self) -> None:
        """Make what was recorded durable."""
        self._db.commit()

    def rollback(self) -> None:
        """Forget what was recorded since the last commit."""
        self._db.rollback()

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def _digests(self, scope: str, lead_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT digest FROM lead_version_seen WHERE scope = ? AND lead_id = ? ORDER BY seq", (scope, lead_id)
        ).fetchall()
        return [str(digest) for (digest,) in rows]
