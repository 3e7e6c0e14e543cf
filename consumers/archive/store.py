"""The lead archive: every lead version and every officer action, in SQLite or PostgreSQL.

Both backends run the same SQL (``_sql.py`` and ``migrations/*.sql``), written in the subset that
SQLite, PostgreSQL and the PostgreSQL-compatible domestic databases (KingbaseES) share, with ``?``
placeholders that the PostgreSQL backend turns into ``%s``. Every call is one transaction.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from consumers.archive import _sql, quality
from consumers.archive.model import (
    CONFIRMING,
    Action,
    AuditEntry,
    AuditFilter,
    AuditPage,
    LeadFilter,
    LeadHistory,
    QueryResult,
    SealedIdentity,
    StatisticsRow,
    StoredSession,
)
from consumers.lead_versions import content_digest, is_repeat
from jiandu.core.leads import Lead
from jiandu.core.timeutil import format_cst
from jiandu.errors import ConfigurationError, InputError

__all__ = ["LeadArchive", "PostgresArchive", "SqliteArchive", "open_archive"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_JSON_COLUMNS = ("evidence", "details")
_MIGRATION_LOCK = 0x6A69616E6475  # "jiandu": the advisory lock key of migrations (PostgreSQL)
#: Columns a re-emitted version may differ in (wall clock and where it was read) without being new.
_NOT_CONTENT = frozenset(
    {"version", "raised_at", "raised_month", "detected_at", "archived_at"}
    | {"source_topic", "source_partition", "source_offset"}
)


class LeadArchive(Protocol):
    """What the archiver, the console and the statistics read and write."""

    def store_version(self, lead: Lead, topic: str, partition: int, offset: int) -> bool: ...
    def store_versions(self, versions: Sequence[tuple[Lead, str, int, int]]) -> int: ...
    def record_action(self, action: Action) -> bool: ...
    def audit(
        self, who: str, what: str, lead_id: str | None, *, allowed: bool, at: int | None = None, detail: str = ""
    ) -> None: ...
    def audit_count(self, who: str, what: str, since: int) -> int: ...
    def store_identities(self, identities: Sequence[SealedIdentity]) -> int: ...
    def sealed_identity(self, person_key: str) -> SealedIdentity | None: ...
    def sealed_identities(self) -> Iterator[SealedIdentity]: ...
    def record_arrivals(self, arrivals: Sequence[quality.Arrival]) -> list[quality.Arrival]: ...
    def scorecard(self, month: str) -> list[quality.SourceScore]: ...
    def audit_entries(self, filters: AuditFilter | None = None, *, page: int = 1, page_size: int = 50) -> AuditPage: ...
    def query(self, filters: LeadFilter | None = None, *, page: int = 1, page_size: int = 50) -> QueryResult: ...
    def lead(self, lead_id: str) -> LeadHistory | None: ...
    def statistics(self, filters: LeadFilter | None = None) -> list[StatisticsRow]: ...
    def clear_versions(self) -> None: ...
    def open_session(self, key: str, username: str, at: int) -> None: ...
    def stored_session(self, key: str) -> StoredSession | None: ...
    def session_seen(self, key: str, at: int) -> None: ...
    def end_sessions(self, *, key: str | None = None, username: str | None = None) -> int: ...
    def end_sessions_except(self, usernames: Iterable[str]) -> int: ...
    def purge_sessions(self, *, seen_before: int, opened_before: int) -> int: ...
    def session_count(self) -> int: ...
    def close(self) -> None: ...


class _SqlArchive:
    """The archive over a DB-API connection; subclasses say how to connect and spell placeholders."""

    placeholder = "?"

    def __init__(self, connection: Any) -> None:
        self._conn = connection
        self.migrate()

    # -- plumbing --------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        cur = self._begin()
        try:
            yield cur
        except BaseException:
            self._conn.rollback()
            raise
        else:
            self._conn.commit()
        finally:
            cur.close()

    def _begin(self) -> Any:
        return self._conn.cursor()

    def _run(self, cur: Any, text: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(self._sql(text), tuple(params))
        return cur

    def _rows(self, cur: Any, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._run(cur, text, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    # -- schema ----------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, in order, each in its own transaction; returns them.

        Several processes may start on one database at once (console replicas, the archiver): each
        migration is applied by one of them, the others find it done (see :meth:`_migrating`)."""
        applied = []
        with self._migrating():
            with self._transaction() as cur:
                self._run(cur, _sql.CREATE_MIGRATIONS)
            for path in sorted(_MIGRATIONS.glob("[0-9]*.sql")):
                version = int(path.name.split("_", 1)[0])
                with self._transaction() as cur:
                    if self._rows(cur, "SELECT 1 AS x FROM schema_migrations WHERE version = ?", (version,)):
                        continue
                    for statement in _statements(path.read_text(encoding="utf-8")):
                        self._run(cur, statement)
                    self._run(cur, _sql.RECORD_MIGRATION, (version, path.name, _now()))
                applied.append(version)
        return applied

    @contextlib.contextmanager
    def _migrating(self) -> Iterator[None]:
        """Held while migrating. SQLite needs nothing more: each transaction begins IMMEDIATE (one writer)."""
        yield

    def schema_version(self) -> int:
        """The highest migration applied."""
        with self._transaction() as cur:
            rows = self._rows(cur, "SELECT MAX(version) AS v FROM schema_migrations")
        return int(rows[0]["v"] or 0)

    # -- writing ---------------------------------------------------------------------------------

    def store_version(self, lead: Lead, topic: str, partition: int, offset: int) -> bool:
        """Store one lead version; False when it was already stored (a re-read message)."""
        return self.store_versions([(lead, topic, partition, offset)]) == 1

    def store_versions(self, versions: Sequence[tuple[Lead, str, int, int]]) -> int:
        """Store a batch of versions in one transaction; returns how many were new."""
        stored = 0
        with self._transaction() as cur:
            for lead, topic, partition, offset in versions:
                stored += self._store(cur, _version_row(lead, topic, partition, offset))
        return stored

    def _store(self, cur: Any, row: dict[str, Any]) -> int:
        """Insert a version unless it is no news (``consumers.lead_versions``): a re-read message, or a version
        re-emitted by reprocessing (equal to a stored one but for its wall-clock fields). A lead keeps the raised
        time of its first stored version. The latest row follows the topic even for a re-emitted version, so a
        rebuilt worker that replays a lead's history ends where the topic ends; its history gains nothing."""
        history = self._rows(cur, "SELECT * FROM lead_versions WHERE lead_id = ? ORDER BY version", (row["lead_id"],))
        digest = _row_digest(row)
        same_time = [h for h in history if h["version"] == row["version"]]
        if same_time and _row_digest(same_time[0]) == digest:
            return 0  # a message read again
        if history:
            row = {**row, "raised_at": history[0]["raised_at"], "raised_month": history[0]["raised_month"]}
        repeat = is_repeat([_row_digest(h) for h in history], digest)
        if same_time and not repeat:
            # another version published in the same millisecond (a worker moving its clock through a batch
            # publishes several versions of a lead with one timestamp): the later message gets the next one
            row = {**row, "version": max(h["version"] for h in history) + 1}
        if not repeat:
            self._run(cur, _sql.insert("lead_versions", row), list(row.values()))
        latest = self._rows(cur, "SELECT * FROM leads WHERE lead_id = ?", (row["lead_id"],))
        if not latest:
            self._run(cur, _sql.insert("leads", row), list(row.values()))
        elif latest[0]["version"] <= row["version"] and _row_digest(latest[0]) != digest:
            # messages of a lead arrive in order: one with the latest's millisecond is the later one
            row = {**row, "version": max(row["version"], latest[0]["version"] + 1)}
            columns = [c for c in row if c != "lead_id"]
            self._run(cur, _sql.update_lead(columns), [row[c] for c in columns] + [row["lead_id"]])
        return 0 if repeat else 1

    def record_action(self, action: Action) -> bool:
        """Store an officer's action and its audit entry; False when ``action_id`` was already stored."""
        action.validate()
        with self._transaction() as cur:
            if self._rows(cur, "SELECT 1 AS x FROM actions WHERE action_id = ?", (action.action_id,)):
                return False
            row = action.row()
            self._run(cur, _sql.insert("actions", row), list(row.values()))
            self._audit(cur, action.officer, f"action:{action.action}", action.lead_id, True, action.at)
        return True

    def audit(
        self, who: str, what: str, lead_id: str | None, *, allowed: bool, at: int | None = None, detail: str = ""
    ) -> None:
        """Record who did or tried what on which lead, and whether it was allowed (``detail``: a reveal's purpose)."""
        with self._transaction() as cur:
            self._audit(cur, who, what, lead_id, allowed, _now() if at is None else at, detail)

    def _audit(
        self, cur: Any, who: str, what: str, lead_id: str | None, allowed: bool, at: int, detail: str = ""
    ) -> None:
        row = {"audit_id": _audit_id(), "who": who, "what": what, "lead_id": lead_id, "at": at}
        row["allowed"], row["detail"] = int(allowed), detail or None
        self._run(cur, _sql.insert("audit_log", row), list(row.values()))

    def audit_count(self, who: str, what: str, since: int) -> int:
        """How many allowed audit rows of ``who`` doing ``what`` since ``since`` (epoch ms)."""
        text = "SELECT COUNT(*) AS n FROM audit_log WHERE who = ? AND what = ? AND at >= ? AND allowed = 1"
        with self._transaction() as cur:
            return int(self._rows(cur, text, (who, what, since))[0]["n"])

    def store_identities(self, identities: Sequence[SealedIdentity]) -> int:
        """Keep each person's newest seal (a re-read older one changes nothing); returns how many changed."""
        changed = 0
        with self._transaction() as cur:
            for ident in identities:
                changed += self._store_identity(cur, ident)
        return changed

    def _store_identity(self, cur: Any, ident: SealedIdentity) -> int:
        row = {
            "person_key": ident.person_key,
            "key_id": ident.key_id,
            "sealed": base64.b64encode(ident.sealed).decode(),
            "sealed_at": ident.sealed_at,
            "stored_at": _now(),
        }
        known = self._rows(cur, "SELECT sealed_at FROM sealed_identities WHERE person_key = ?", (ident.person_key,))
        if not known:
            self._run(cur, _sql.insert("sealed_identities", row), list(row.values()))
            return 1
        if known[0]["sealed_at"] >= ident.sealed_at:
            return 0
        update = "UPDATE sealed_identities SET key_id = ?, sealed = ?, sealed_at = ?, stored_at = ?"
        update += " WHERE person_key = ?"
        self._run(cur, update, (row["key_id"], row["sealed"], row["sealed_at"], row["stored_at"], ident.person_key))
        return 1

    def record_arrivals(self, arrivals: Sequence[quality.Arrival]) -> list[quality.Arrival]:
        """Count events and dead letters for the data-quality scorecard, each once; returns those counted now."""
        with self._transaction() as cur:
            return quality.apply_arrivals(cur, self._rows, self._run, arrivals)

    def scorecard(self, month: str) -> list[quality.SourceScore]:
        """Every agency source's data-quality scorecard for ``month`` (``YYYY-MM``, China time)."""
        with self._transaction() as cur:
            return quality.read_scorecard(cur, self._rows, month)

    def sealed_identities(self) -> Iterator[SealedIdentity]:
        """Every person's seal, by person key, a thousand rows a transaction (key rotation reads them all)."""
        after = ""
        while True:
            with self._transaction() as cur:
                text = "SELECT * FROM sealed_identities WHERE person_key > ? ORDER BY person_key LIMIT 1000"
                rows = self._rows(cur, text, (after,))
            if not rows:
                return
            for r in rows:
                yield SealedIdentity(r["person_key"], r["key_id"], base64.b64decode(r["sealed"]), int(r["sealed_at"]))
            after = rows[-1]["person_key"]

    def sealed_identity(self, person_key: str) -> SealedIdentity | None:
        """The person's sealed ID number, or None when no adapter sealed one (yet)."""
        with self._transaction() as cur:
            rows = self._rows(cur, "SELECT * FROM sealed_identities WHERE person_key = ?", (person_key,))
        if not rows:
            return None
        r = rows[0]
        return SealedIdentity(r["person_key"], r["key_id"], base64.b64decode(r["sealed"]), int(r["sealed_at"]))

    def clear_versions(self) -> None:
        """Forget every lead version (``jiandu archive rebuild``); actions and the audit log stay."""
        with self._transaction() as cur:
            self._run(cur, "DELETE FROM leads")
            self._run(cur, "DELETE FROM lead_versions")

    # -- console sessions (shared by every console replica) ----------------------------------------

    def open_session(self, key: str, username: str, at: int) -> None:
        """Store a new console session (``key``: the SHA-256 of its id) opened and seen at ``at`` (epoch ms)."""
        row = {"session_key": key, "username": username, "opened_at": at, "seen_at": at}
        with self._transaction() as cur:
            self._run(cur, _sql.insert("console_sessions", row), list(row.values()))

    def stored_session(self, key: str) -> StoredSession | None:
        """The console session of ``key``, or None when there is none (never opened, ended or purged)."""
        with self._transaction() as cur:
            rows = self._rows(cur, "SELECT * FROM console_sessions WHERE session_key = ?", (key,))
        return StoredSession(rows[0]["username"], int(rows[0]["opened_at"]), int(rows[0]["seen_at"])) if rows else None

    def session_seen(self, key: str, at: int) -> None:
        """Record a request of the session at ``at`` (never moves its last-seen time back)."""
        with self._transaction() as cur:
            self._run(
                cur, "UPDATE console_sessions SET seen_at = ? WHERE session_key = ? AND seen_at < ?", (at, key, at)
            )

    def end_sessions(self, *, key: str | None = None, username: str | None = None) -> int:
        """End one session (``key``) or every session of ``username``; how many ended."""
        column, value = ("session_key", key) if key is not None else ("username", username)
        if value is None:
            raise ValueError("end_sessions needs a key or a username")
        with self._transaction() as cur:
            return int(self._run(cur, f"DELETE FROM console_sessions WHERE {column} = ?", (value,)).rowcount)

    def end_sessions_except(self, usernames: Iterable[str]) -> int:
        """End the sessions of every user not in ``usernames`` (removed from the users file); how many ended."""
        kept, ended = set(usernames), 0
        with self._transaction() as cur:
            held = [r["username"] for r in self._rows(cur, "SELECT DISTINCT username FROM console_sessions")]
            for name in held:
                if name not in kept:
                    ended += int(self._run(cur, "DELETE FROM console_sessions WHERE username = ?", (name,)).rowcount)
        return ended

    def purge_sessions(self, *, seen_before: int, opened_before: int) -> int:
        """Delete the sessions idle since before ``seen_before`` or opened before ``opened_before``; how many."""
        text = "DELETE FROM console_sessions WHERE seen_at < ? OR opened_at < ?"
        with self._transaction() as cur:
            return int(self._run(cur, text, (seen_before, opened_before)).rowcount)

    def session_count(self) -> int:
        """How many console sessions are stored (live or not purged yet)."""
        with self._transaction() as cur:
            return int(self._rows(cur, "SELECT COUNT(*) AS n FROM console_sessions")[0]["n"])

    # -- reading ---------------------------------------------------------------------------------

    def query(self, filters: LeadFilter | None = None, *, page: int = 1, page_size: int = 50) -> QueryResult:
        """Latest versions matching ``filters``, newest raised first, one page; with totals by status and model."""
        _check_page(page, page_size)
        where, params = _sql.where(filters or LeadFilter())
        with self._transaction() as cur:
            total = self._rows(cur, f"SELECT COUNT(*) AS n FROM leads{where}", params)[0]["n"]
            rows = self._rows(cur, _sql.page(where), [*params, page_size, (page - 1) * page_size])
            by_status = self._counts(cur, "status", where, params)
            by_model = self._counts(cur, "model_id", where, params)
        return QueryResult([_decoded(r) for r in rows], int(total), by_status, by_model)

    def _counts(self, cur: Any, column: str, where: str, params: Sequence[Any]) -> dict[str, int]:
        text = f"SELECT {column} AS k, COUNT(*) AS n FROM leads{where} GROUP BY {column} ORDER BY {column}"
        return {r["k"]: int(r["n"]) for r in self._rows(cur, text, params)}

    def lead(self, lead_id: str) -> LeadHistory | None:
        """The latest version of a lead, every version (oldest first) and every action on it."""
        with self._transaction() as cur:
            latest = self._rows(cur, "SELECT * FROM leads WHERE lead_id = ?", (lead_id,))
            if not latest:
                return None
            versions = self._rows(cur, "SELECT * FROM lead_versions WHERE lead_id = ? ORDER BY version", (lead_id,))
            actions = self._rows(cur, "SELECT * FROM actions WHERE lead_id = ? ORDER BY at, action_id", (lead_id,))
        return LeadHistory(_decoded(latest[0]), [_decoded(v) for v in versions], [Action.from_row(a) for a in actions])

    def audit_entries(self, filters: AuditFilter | None = None, *, page: int = 1, page_size: int = 50) -> AuditPage:
        """Audit rows matching ``filters``, newest first, one page; with the total over all pages."""
        _check_page(page, page_size)
        where, params = _sql.audit_where(filters or AuditFilter())
        with self._transaction() as cur:
            total = self._rows(cur, f"SELECT COUNT(*) AS n FROM audit_log{where}", params)[0]["n"]
            rows = self._rows(cur, _sql.audit_page(where), [*params, page_size, (page - 1) * page_size])
        return AuditPage([_audit_entry(r) for r in rows], int(total))

    def statistics(self, filters: LeadFilter | None = None) -> list[StatisticsRow]:
        """Leads raised, worked (any action) and confirmed, by model, jurisdiction and month raised."""
        where, params = _sql.where(filters or LeadFilter(), alias="l.")
        confirming = sorted(CONFIRMING)
        with self._transaction() as cur:
            rows = self._rows(cur, _sql.statistics(where, len(confirming)), [*confirming, *params])
        return [
            StatisticsRow(
                r["model_id"],
                r["jurisdiction"],
                r["month"],
                int(r["raised"]),
                int(r["worked"] or 0),
                int(r["confirmed"] or 0),
            )
            for r in rows
        ]


class SqliteArchive(_SqlArchive):
    """The default archive: one SQLite file (``<JIANDU_DATA_DIR>/archive.sqlite3``)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit at the driver, explicit BEGIN in _begin: DDL and DML then share one transaction
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
        super().__init__(conn)

    def _begin(self) -> Any:
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        return cur


class PostgresArchive(_SqlArchive):
    """The archive in PostgreSQL (or a database that follows it), e.g. ``postgresql://user@host/jiandu``."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            conn = psycopg.connect(url, autocommit=False, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise ConfigurationError(f"JIANDU_ARCHIVE_URL: cannot connect to the archive database: {exc}") from exc
        super().__init__(conn)

    @contextlib.contextmanager
    def _migrating(self) -> Iterator[None]:
        """A session advisory lock: replicas starting together on a new database would otherwise race to
        create the same tables (PostgreSQL then fails one with a unique violation in its catalogue)."""
        with self._transaction() as cur:
            self._run(cur, "SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
        try:
            yield
        finally:
            with self._transaction() as cur:
                self._run(cur, "SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))


def open_archive(url: str, data_dir: Path) -> SqliteArchive | PostgresArchive:
    """The archive a ``JIANDU_ARCHIVE_URL`` names: empty for SQLite in ``data_dir``, ``sqlite:///FILE``, or
    ``postgresql://…``."""
    if not url:
        return SqliteArchive(data_dir / "archive.sqlite3")
    if url.startswith("sqlite:///"):
        return SqliteArchive(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresArchive(url)
    raise ConfigurationError(
        "JIANDU_ARCHIVE_URL must be empty (SQLite in JIANDU_DATA_DIR), sqlite:///FILE or postgresql://…"
    )


def _version_row(lead: Lead, topic: str, partition: int, offset: int) -> dict[str, Any]:
    evidence = [
        {"event_id": e.event_id, "type": e.type, "source": e.source, "occurred_at": e.occurred_at}
        for e in lead.evidence
    ]
    return {
        "lead_id": lead.lead_id,
        "version": lead.updated_at,
        **{c: getattr(lead, c) for c in _sql.LEAD_COLUMNS},
        "raised_month": format_cst(lead.raised_at)[:7],
        "evidence": json.dumps(evidence, ensure_ascii=False),
        "details": json.dumps(dict(lead.details), ensure_ascii=False, sort_keys=True),
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "archived_at": _now(),
    }


def _row_digest(row: dict[str, Any]) -> str:
    """What a version says, without its wall-clock and provenance columns."""
    return content_digest({k: v for k, v in row.items() if k not in _NOT_CONTENT})


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(v) if k in _JSON_COLUMNS else v for k, v in row.items()}


def _audit_id() -> str:
    """Unique, and ordered as written (nanosecond clock first): rows of the same millisecond list in order."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


def _check_page(page: int, page_size: int) -> None:
    if page < 1 or not 1 <= page_size <= 1000:
        raise InputError(f"page {page}, page size {page_size}: pages start at 1 and hold 1..1000 rows")


def _audit_entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        row["audit_id"],
        row["who"],
        row["what"],
        row["lead_id"],
        int(row["at"]),
        bool(row["allowed"]),
        row["detail"] or "",
    )


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _now() -> int:
    return int(time.time() * 1000)
