"""Console sessions in the shared archive database, on both backends: what one replica opens or ends, every
replica sees; idle timeout and lifetime; last-seen writes throttled; expired rows purged; concurrent start."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consumers.archive import PostgresArchive, SqliteArchive
from consumers.console.sessions import Session, SessionStore
from tests.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]

Archive = SqliteArchive | PostgresArchive


@pytest.fixture(params=["sqlite", "postgresql"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Archive]]:
    """Opens connections to one fresh archive database (each as a console replica would); closes them after."""
    if request.param == "sqlite":
        url = str(tmp_path / "archive.sqlite3")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database()
    opened: list[Archive] = []

    def open_one() -> Archive:
        opened.append(SqliteArchive(url) if request.param == "sqlite" else PostgresArchive(url))
        return opened[-1]

    try:
        yield open_one
    finally:
        for archive in opened:
            archive.close()


def _stored_seen(archive: Archive, session_id: str) -> int:
    stored = archive.stored_session(hashlib.sha256(session_id.encode()).hexdigest())
    assert stored is not None
    return stored.seen_at


def test_sessions_end_when_idle_and_after_their_lifetime(connect: Callable[[], Archive]) -> None:
    now = [1000.0]
    store = SessionStore(connect(), idle_seconds=60, lifetime_seconds=300, clock=lambda: now[0])
    session = Session("wang", store.open("wang"), 0)
    for _ in range(5):
        now[0] += 50
        assert store.touch(session), "kept alive by use"
    now[0] += 61
    assert not store.touch(session), "idle too long"
    session, opened = Session("wang", store.open("wang"), 0), now[0]
    while now[0] - opened <= 300:
        now[0] += 50
        store.touch(session)
    assert not store.touch(session), "past its absolute lifetime however busy"
    assert not store.touch(Session("li", store.open("wang"), 0)), "a session belongs to its user"


def test_what_one_replica_opens_or_ends_holds_on_the_others(connect: Callable[[], Archive]) -> None:
    a, b, c = (SessionStore(connect()) for _ in range(3))
    laptop = Session("wang", a.open("wang"), 0)
    phone = Session("wang", a.open("wang"), 0)
    other = Session("li", b.open("li"), 0)
    assert b.touch(laptop) and c.touch(laptop) and c.touch(other), "a sign-in on A holds on B and C"
    b.end(laptop.session_id)
    assert not a.touch(laptop) and not c.touch(laptop), "a sign-out on B ends the session on A and C"
    assert a.touch(phone), "only that session"
    assert c.end_user("wang") == 1 and not a.touch(phone) and b.touch(other)
    assert a.keep_only(["wang"]) == 1 and not c.touch(other), "a removed user's sessions end everywhere"
    assert len(a) == len(b) == 0


def test_last_seen_is_written_at_most_once_a_minute_and_never_goes_back(connect: Callable[[], Archive]) -> None:
    now = [1000.0]
    archive = connect()
    store = SessionStore(archive, idle_seconds=1800, clock=lambda: now[0])
    lagging = SessionStore(connect(), idle_seconds=1800, clock=lambda: now[0] - 30)  # a replica's clock behind
    assert store.touch_seconds == 60
    session = Session("wang", store.open("wang"), 0)
    for _ in range(59):
        now[0] += 1
        assert store.touch(session)
    assert _stored_seen(archive, session.session_id) == 1_000_000, "no write within the minute"
    now[0] += 1
    assert store.touch(session) and _stored_seen(archive, session.session_id) == 1_060_000
    now[0] += 100
    assert lagging.touch(session) and _stored_seen(archive, session.session_id) == 1_130_000
    archive.session_seen(hashlib.sha256(session.session_id.encode()).hexdigest(), 1_100_000)
    assert _stored_seen(archive, session.session_id) == 1_130_000, "a late write does not move it back"
    short = SessionStore(archive, idle_seconds=60, clock=lambda: now[0])
    assert short.touch_seconds == 6, "a short idle timeout is not undone by a minute without writes"


def test_the_database_holds_no_session_id_and_expired_rows_are_purged(connect: Callable[[], Archive]) -> None:
    now = [1000.0]
    archive = connect()
    store = SessionStore(archive, idle_seconds=60, lifetime_seconds=300, clock=lambda: now[0])
    idle, busy = store.open("wang"), store.open("li")
    assert archive.stored_session(idle) is None, "the id in the cookie is not a key of the table"
    for _ in range(3):
        now[0] += 50
        assert store.touch(Session("li", busy, 0))
    assert store.purge() == 1 and len(store) == 1, "the idle session's row is gone, the busy one stays"
    now[0] += 200
    store.open("zhao")  # a sign-in purges (at most once a minute): li's session is past its lifetime
    assert len(store) == 1 and not store.touch(Session("li", busy, 0))


def test_replicas_starting_together_on_a_new_database_migrate_it_once(connect: Callable[[], Archive]) -> None:
    errors: list[BaseException] = []
    archives: list[Archive] = []

    def start() -> None:
        try:
            archives.append(connect())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(archives) == 4 and {a.schema_version() for a in archives} == {5}
    assert archives[0].migrate() == []
