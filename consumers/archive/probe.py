"""Readiness of the archive database: does it answer a trivial query?

The probe runs on the metrics thread while the archiver or the console use their own
connection, so it keeps a connection of its own (reopened after a failure): SQLite
read-only, never creating the file; PostgreSQL with a short connect timeout. A failure
is reported without the URL, which may hold a password.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ArchiveProbe"]

_QUERY = "SELECT COUNT(*) FROM schema_migrations"
_TIMEOUT_SECONDS = 3


class ArchiveProbe:
    """``problem()``: None while the archive named by ``JIANDU_ARCHIVE_URL`` answers, else why not."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self._url = url
        self._sqlite = _sqlite_path(url, data_dir)
        self._conn: Any = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self._sqlite is None else "sqlite"

    def problem(self) -> str | None:
        """None when the database answered ``SELECT COUNT(*) FROM schema_migrations``."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._query()
            except Exception as exc:  # any driver error is an answer: not ready
                self._close()
                reason = _masked(_first_line(exc), self._url)
                return f"the {self.backend} archive does not answer: {type(exc).__name__}: {reason}"
        return None

    def close(self) -> None:
        """Close the probe's connection."""
        with self._lock:
            self._close()

    def _connect(self) -> Any:
        if self._sqlite is not None:
            uri = f"{self._sqlite.resolve().as_uri()}?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=_TIMEOUT_SECONDS, check_same_thread=False)
        import psycopg

        return psycopg.connect(self._url, autocommit=True, connect_timeout=_TIMEOUT_SECONDS)

    def _query(self) -> None:
        cursor = self._conn.cursor()
        try:
            cursor.execute(_QUERY)
            cursor.fetchone()
        finally:
            cursor.close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()


def _sqlite_path(url: str, data_dir: Path) -> Path | None:
    """The SQLite file of an archive URL (as :func:`consumers.archive.store.open_archive` reads it), or None."""
    if not url:
        return data_dir / "archive.sqlite3"
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def _masked(text: str, url: str) -> str:
    """``text`` without the URL or its password (a driver may quote a malformed connection string)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in filter(None, (url, password)):
        text = text.replace(secret, "***")
    return text
