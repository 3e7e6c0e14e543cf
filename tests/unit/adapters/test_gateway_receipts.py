"""Accepted event ids expire after the retention: exactly by the clock, deleted in batches in the background."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from adapters.gateway import AcceptedEventIds
from adapters.gateway.receipts import DAY_MS
from adapters.gateway.retention import BatchPruner

START = 1_700_000_000_000


class Clock:
    """Epoch milliseconds the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


def test_an_id_counts_for_the_retention_and_not_a_millisecond_longer(tmp_path: Path) -> None:
    clock = Clock()
    receipts = AcceptedEventIds(tmp_path / "r.sqlite3", retention_days=30, clock=clock)
    receipts.record("court", ["a", "b"])
    clock.now += 30 * DAY_MS
    assert receipts.accepted_among({"a", "b", "c"}) == {"a", "b"}
    clock.now += 1
    assert receipts.accepted_among({"a", "b"}) == set(), "expired: a re-send is accepted again"
    receipts.record("court", ["a"])  # accepted again: a new retention starts
    assert receipts.accepted_among({"a", "b"}) == {"a"}
    assert receipts.expire_batch(10) == 1 and len(receipts) == 1, "only b was expired"
    receipts.close()


def test_zero_days_keeps_ids_forever(tmp_path: Path) -> None:
    clock = Clock()
    receipts = AcceptedEventIds(tmp_path / "r.sqlite3", clock=clock)
    receipts.record("court", ["a"])
    clock.now += 10_000 * DAY_MS
    assert receipts.accepted_among({"a"}) == {"a"} and receipts.expire_batch(10) == 0
    receipts.start_expiry(interval_seconds=0.01)
    assert receipts.expiry_rounds == 0, "nothing to expire, no thread"
    receipts.close()
    with pytest.raises(ValueError, match="retention_days=-1"):
        AcceptedEventIds(tmp_path / "r2.sqlite3", retention_days=-1)


def test_expired_ids_are_deleted_oldest_first_a_batch_at_a_time(tmp_path: Path) -> None:
    clock = Clock()
    receipts = AcceptedEventIds(tmp_path / "r.sqlite3", retention_days=1, clock=clock)
    for day in range(5):
        receipts.record("court", [f"old-{day}-{i}" for i in range(3)])
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
    receipts = AcceptedEventIds(path, retention_days=30, clock=clock)
    receipts.close()
    with sqlite3.connect(path) as db:  # 20 000 rows 31 days old, as a long-running gateway would have
        old = START - 31 * DAY_MS
        db.executemany("INSERT INTO accepted VALUES (?, 'court', ?)", ((f"old-{i}", old) for i in range(20_000)))
    receipts = AcceptedEventIds(path, retention_days=30, clock=clock)
    receipts.record("court", ["fresh"])
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
