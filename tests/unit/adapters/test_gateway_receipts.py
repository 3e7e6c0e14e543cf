"""Accepted event ids expire after the retention: exactly by the clock, deleted in batches in the background.

Each behaviour holds on both databases: SQLite (one gateway) and PostgreSQL (shared by replicas), where
concurrent claims of one id accept it once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.gateway import AcceptedEventIds, open_receipts
from adapters.gateway.receipts import DAY_MS
from adapters.gateway.retention import BatchPruner
from jiandu.errors import ReceiptsUnavailable
from tests.unit.consumers.test_archive_pg import PostgresServer, postgres_server

__all__ = ["postgres_server"]

START = 1_700_000_000_000


class Clock:
    """Epoch milliseconds the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


Opener = Callable[..., AcceptedEventIds]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_ids(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens accepted ids on one database (the same one on every call of a test)."""
    url = ""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database()

    def opener(**options: object) -> AcceptedEventIds:
        return open_receipts(url, tmp_path / "r.sqlite3", namespace="test", **options)  # type: ignore[arg-type]

    yield opener


def test_an_id_counts_for_the_retention_and_not_a_millisecond_longer(open_ids: Opener) -> None:
    clock = Clock()
    receipts = open_ids(retention_days=30, clock=clock)
    assert receipts.claim("court", ["a", "b"]) == {"a", "b"}
    assert receipts.claim("court", ["a", "c"]) == {"c"}, "an id accepted within the retention is not claimed again"
    clock.now += 30 * DAY_MS
    assert receipts.accepted_among({"a", "b", "x"}) == {"a", "b"}
    clock.now += 1
    assert receipts.accepted_among({"a", "b"}) == set(), "expired: a re-send is accepted again"
    assert receipts.claim("court", ["a"]) == {"a"}, "accepted again: a new retention starts"
    assert receipts.accepted_among({"a", "b"}) == {"a"}
    assert receipts.expire_batch(10) == 2 and len(receipts) == 1, "b and c expired, a was accepted again"
    receipts.close()


def test_zero_days_keeps_ids_forever(open_ids: Opener) -> None:
    clock = Clock()
    receipts = open_ids(clock=clock)
    receipts.claim("court", ["a"])
    clock.now += 10_000 * DAY_MS
    assert receipts.accepted_among({"a"}) == {"a"} and receipts.expire_batch(10) == 0
    receipts.start_expiry(interval_seconds=0.01)
    assert receipts.expiry_rounds == 0, "nothing to expire, no thread"
    receipts.close()
    with pytest.raises(ValueError, match="retention_days=-1"):
        open_ids(retention_days=-1)


def test_expired_ids_are_deleted_oldest_first_a_batch_at_a_time(open_ids: Opener) -> None:
    clock = Clock()
    receipts = open_ids(retention_days=1, clock=clock)
    for day in range(5):
        receipts.claim("court", [f"old-{day}-{i}" for i in range(3)])
        clock.now += DAY_MS // 2
    clock.now = START + 2 * DAY_MS + 1  # the ids recorded at 0, 0.5 and 1 day are more than a day old
    assert receipts.expire_batch(2) == 2
    assert receipts.expire_batch(100) == 7 and receipts.expire_batch(100) == 0
    assert sorted(receipts.accepted_among({f"old-{d}-{i}" for d in range(5) for i in range(3)})) == [
        f"old-{d}-{i}" for d in (3, 4) for i in range(3)
    ]
    receipts.close()


def test_background_expiry_deletes_in_batches_while_requests_keep_being_answered(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    clock = Clock()
    receipts = open_receipts("", path, namespace="test", retention_days=30, clock=clock)
    receipts.close()
    with sqlite3.connect(path) as db:  # 20 000 rows 31 days old, as a long-running gateway would have
        old = START - 31 * DAY_MS
        db.executemany("INSERT INTO accepted VALUES (?, 'court', ?)", ((f"old-{i}", old) for i in range(20_000)))
    receipts = open_receipts("", path, namespace="test", retention_days=30, clock=clock)
    receipts.claim("court", ["fresh"])
    waits: list[float] = []
    done = threading.Event()

    def lookups() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert receipts.accepted_among({"fresh", "old-1"}) <= {"fresh", "old-1"}
            waits.append(time.perf_counter() - started)

    reader = threading.Thread(target=lookups)
    reader.start()
    receipts.start_expiry(interval_seconds=3600, batch=500)
    deadline = time.monotonic() + 20
    while receipts.expiry_rounds < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    done.set()
    reader.join()
    assert len(receipts) == 1 and receipts.accepted_among({"fresh"}) == {"fresh"}
    assert len(waits) > 5 and max(waits) < 0.5, "a lookup waits for one batch at most, never for the whole purge"
    receipts.close()


def test_a_failing_round_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def flaky(batch: int) -> int:
        calls.append(batch)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return 0

    pruner = BatchPruner(flaky, interval_seconds=0.01, what="test rows").start()
    deadline = time.monotonic() + 5
    while pruner.rounds < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    pruner.stop()
    assert len(calls) >= 2 and "deleting expired test rows failed: database is locked" in caplog.text


def test_replicas_racing_on_the_same_ids_accept_each_once(postgres_server: PostgresServer) -> None:
    url = postgres_server.database()
    replicas = [open_receipts(url, Path("unused"), namespace="test") for _ in range(3)]
    other_hub = open_receipts(url, Path("unused"), namespace="another-prefix")
    ids = [f"court:210102/court.judgment_effective/{i}" for i in range(300)]
    won: list[set[str]] = [set() for _ in replicas]
    start = threading.Barrier(len(replicas))

    def claim_all(n: int) -> None:
        start.wait()
        for first in range(0, len(ids), 25):  # overlapping requests, each replica in its own order
            batch = ids[first : first + 50] if n % 2 else list(reversed(ids[first : first + 50]))
            won[n] |= replicas[n].claim("court", batch)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(len(w) for w in won) == len(ids), "every id accepted exactly once across the replicas"
    assert set().union(*won) == set(ids)
    assert other_hub.claim("court", ids[:3]) == set(ids[:3]), "another topic prefix is another hub"
    for receipts in (*replicas, other_hub):
        receipts.close()


def test_a_lost_connection_is_receipts_unavailable_then_reconnects(postgres_server: PostgresServer) -> None:
    url = postgres_server.database()
    receipts = open_receipts(url, Path("unused"), namespace="test")
    with psycopg.connect(url, autocommit=True) as admin:  # as a database restart would
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                      "AND datname = current_database()")  # fmt: skip
    with pytest.raises(ReceiptsUnavailable, match="nothing was answered accepted"):
        receipts.claim("court", ["a"])
    assert receipts.claim("court", ["a"]) == {"a"}, "the next request connects again"
    with pytest.raises(ReceiptsUnavailable, match="JIANDU_GATEWAY_RECEIPTS_URL"):
        open_receipts(postgres_server.url("no_such_database"), Path("unused"), namespace="test")
    receipts.close()
