"""Event ids the push API has accepted: a re-sent record is answered ``duplicate``, on any gateway replica.

Agencies retry (a timeout, a lost answer), so the same record arrives again, maybe at
another replica behind the load balancer. Its event id
(``<source>/<type>/<source_record_id>``) is the idempotency key. Where the ids live:

- a SQLite file in the data dir (the default: one gateway on one host);
- PostgreSQL (``JIANDU_GATEWAY_RECEIPTS_URL``), shared by every gateway replica, in
  table ``gateway_accepted`` keyed by (topic prefix, event id). It may be the archive's
  database: the table is the gateway's own.

**Accepted at most once, on the topic at least once.** A request's records are
published and confirmed by the broker (acks=all, and the journal) first; only then
are their ids *claimed*: one atomic insert-if-absent per request
(:meth:`AcceptedEventIds.claim`, ``INSERT … ON CONFLICT DO UPDATE … WHERE expired
RETURNING``). A record is answered ``accepted`` only when its id is among those the
claim returned, so two replicas racing on one record answer ``accepted`` once and
``duplicate`` once, and the id of a record answered ``accepted`` always names an
event the broker already holds. The loser's copy on the topic is a harmless duplicate
(the streams worker ignores an event id it holds). A crash between the confirmation
and the claim leaves an event without a receipt: the agency got no answer, re-sends,
and that copy is accepted (on the topic twice, accepted once). A database that cannot
be reached is :class:`ReceiptsUnavailable`: a 503, nothing answered accepted.

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
from typing import Any, Protocol

from adapters.gateway.retention import BatchPruner
from jiandu.core.timeutil import utc_now_ms
from jiandu.errors import ConfigurationError, ReceiptsUnavailable

__all__ = ["DAY_MS", "AcceptedEventIds", "open_receipts"]

DAY_MS = 86_400_000

_CHUNK = 500  # stays below SQLite's limit on bound parameters
_NEVER = -(2**62)  # the cutoff when ids are kept forever


class _Database(Protocol):
    """One dialect's statements over one connection; every call is its own atomic transaction."""

    where: str

    def among(self, ids: list[str], cutoff: int) -> set[str]: ...
    def claim(self, agency_id: str, ids: list[str], now: int, cutoff: int) -> set[str]: ...
    def expire(self, cutoff: int, limit: int) -> int: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


class AcceptedEventIds:
    """The set of accepted event ids of the last ``retention_days``, persistent across gateway restarts.

    Built by :func:`open_receipts`. ``clock`` (epoch milliseconds) is the wall clock unless a test controls it.
    """

    def __init__(self, database: _Database, *, retention_days: int = 0, clock: Callable[[], int] = utc_now_ms) -> None:
        if retention_days < 0:
            raise ValueError(f"retention_days={retention_days}: use 0 (keep forever) or more")
        self._db = database
        self.retention_days = retention_days
        self._clock = clock
        self._lock = threading.Lock()  # one connection, shared with the expiry thread
        self._pruner: BatchPruner | None = None

    @property
    def where(self) -> str:
        """Where the ids are kept, for a log line (a URL without its password)."""
        return self._db.where

    def cutoff(self) -> int:
        """Ids accepted before this instant (epoch ms) have expired."""
        return self._clock() - self.retention_days * DAY_MS if self.retention_days else _NEVER

    def accepted_among(self, event_ids: Collection[str]) -> set[str]:
        """The ids of ``event_ids`` accepted within the retention."""
        with self._lock:
            return self._db.among(sorted(event_ids), self.cutoff())

    def claim(self, agency_id: str, event_ids: Iterable[str]) -> set[str]:
        """Record ids whose events the broker confirmed; returns those this call accepted.

        Atomic per id against every other claimant: an id already accepted within the retention
        (by this gateway or another replica) is not returned; an expired one starts a new retention.
        """
        ids = sorted(set(event_ids))  # one lock order for every replica: concurrent claims cannot deadlock
        if not ids:
            return set()
        with self._lock:
            return self._db.claim(agency_id, ids, self._clock(), self.cutoff())

    def expire_batch(self, limit: int) -> int:
        """Delete at most ``limit`` expired ids, the oldest first; returns how many (0 when kept forever)."""
        if not self.retention_days:
            return 0
        with self._lock:
            return self._db.expire(self.cutoff(), limit)

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
            return self._db.count()

    def close(self) -> None:
        """Stop the background expiry and close the database."""
        if self._pruner is not None:
            self._pruner.stop()
        with self._lock:
            self._db.close()


def open_receipts(
    url: str, path: Path, *, namespace: str, retention_days: int = 0, clock: Callable[[], int] = utc_now_ms
) -> AcceptedEventIds:
    """The accepted ids a ``JIANDU_GATEWAY_RECEIPTS_URL`` names: empty for SQLite at ``path``, or
    ``postgresql://…`` shared by every replica (``namespace``: the topic prefix, each prefix its own hub)."""
    if not url:
        database: _Database = _Sqlite(path)
    elif url.startswith(("postgresql://", "postgres://")):
        database = _Postgres(url, namespace)
    else:
        raise ConfigurationError(
            "JIANDU_GATEWAY_RECEIPTS_URL must be empty (SQLite in JIANDU_DATA_DIR) or postgresql://…"
        )
    return AcceptedEventIds(database, retention_days=retention_days, clock=clock)


class _Sqlite:
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
    _CLAIM = """
        INSERT INTO accepted VALUES (?, ?, ?)
        ON CONFLICT (event_id) DO UPDATE SET agency = excluded.agency, accepted_at = excluded.accepted_at
        WHERE accepted.accepted_at < ?
        RETURNING event_id
    """
    _EXPIRE = """
        DELETE FROM accepted WHERE event_id IN
            (SELECT event_id FROM accepted WHERE accepted_at < ? ORDER BY accepted_at LIMIT ?)
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.where = str(path)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        for statement in self._SCHEMA:
            self._conn.execute(statement)

    def among(self, ids: list[str], cutoff: int) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT event_id FROM accepted WHERE event_id IN ({marks}) AND accepted_at >= ?"
            found.update(row[0] for row in self._conn.execute(query, [*chunk, cutoff]))
        return found

    def claim(self, agency_id: str, ids: list[str], now: int, cutoff: int) -> set[str]:
        claimed: set[str] = set()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for event_id in ids:
                claimed.update(row[0] for row in self._conn.execute(self._CLAIM, (event_id, agency_id, now, cutoff)))
        return claimed

    def expire(self, cutoff: int, limit: int) -> int:
        return self._conn.execute(self._EXPIRE, (cutoff, limit)).rowcount

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM accepted").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class _Postgres:
    _SCHEMA = (
        """
        CREATE TABLE IF NOT EXISTS gateway_accepted (
            namespace   TEXT NOT NULL,     -- the topic prefix: each prefix is its own hub
            event_id    TEXT NOT NULL,
            agency      TEXT NOT NULL,
            accepted_at BIGINT NOT NULL,   -- epoch milliseconds, UTC
            PRIMARY KEY (namespace, event_id)
        )
        """,
        "CREATE INDEX IF NOT EXISTS gateway_accepted_by_time ON gateway_accepted (namespace, accepted_at)",
    )
    _SCHEMA_LOCK = 0x6A69616E6475  # replicas starting together create the table once (CREATE … IF NOT EXISTS races)
    _CLAIM = """
        INSERT INTO gateway_accepted (namespace, event_id, agency, accepted_at)
        SELECT %s, id, %s, %s FROM unnest(%s::text[]) WITH ORDINALITY AS ids(id, n) ORDER BY n
        ON CONFLICT (namespace, event_id) DO UPDATE
            SET agency = EXCLUDED.agency, accepted_at = EXCLUDED.accepted_at
            WHERE gateway_accepted.accepted_at < %s
        RETURNING event_id
    """
    _AMONG = "SELECT event_id FROM gateway_accepted WHERE namespace = %s AND event_id = ANY(%s) AND accepted_at >= %s"
    _EXPIRE = """
        DELETE FROM gateway_accepted WHERE namespace = %s AND event_id IN
            (SELECT event_id FROM gateway_accepted WHERE namespace = %s AND accepted_at < %s
             ORDER BY accepted_at LIMIT %s)
    """

    def __init__(self, url: str, namespace: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._url = url
        self._namespace = namespace
        self.where = _without_password(url)
        self._conn: Any = None
        conn = self._connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._SCHEMA_LOCK,))
            for statement in self._SCHEMA:
                conn.execute(statement)

    def among(self, ids: list[str], cutoff: int) -> set[str]:
        return {row[0] for row in self._run(self._AMONG, (self._namespace, ids, cutoff))}

    def claim(self, agency_id: str, ids: list[str], now: int, cutoff: int) -> set[str]:
        return {row[0] for row in self._run(self._CLAIM, (self._namespace, agency_id, now, ids, cutoff))}

    def expire(self, cutoff: int, limit: int) -> int:
        conn = self._connection()
        try:
            return int(conn.execute(self._EXPIRE, (self._namespace, self._namespace, cutoff, limit)).rowcount)
        except self._psycopg.OperationalError as exc:
            raise self._lost(exc) from exc

    def count(self) -> int:
        rows = self._run("SELECT count(*) FROM gateway_accepted WHERE namespace = %s", (self._namespace,))
        return int(rows[0][0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _run(self, query: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """One statement in its own transaction (autocommit); a lost connection reconnects on the next call."""
        conn = self._connection()
        try:
            return list(conn.execute(query, params).fetchall())
        except self._psycopg.OperationalError as exc:
            raise self._lost(exc) from exc

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = self._psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            except self._psycopg.OperationalError as exc:
                raise ReceiptsUnavailable(
                    f"cannot reach the gateway's database of accepted ids at {self.where} ({exc}); "
                    "nothing was answered accepted: check JIANDU_GATEWAY_RECEIPTS_URL and the database"
                ) from exc
        return self._conn

    def _lost(self, exc: Exception) -> ReceiptsUnavailable:
        if self._conn is not None:
            self._conn.close()
        return ReceiptsUnavailable(
            f"the gateway's database of accepted ids at {self.where} failed ({exc}); nothing was answered accepted"
        )


def _without_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``: safe to log."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
