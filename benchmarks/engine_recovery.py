"""Recovery after ``kill -9``: a worker restarted on its data directory against one with none.

After the streaming run the worker is killed with SIGKILL. A new worker on the same
data directory opens its partitions' on-disk stores and reads only the changelog
after the offsets they hold; a worker with an empty data directory replays the
whole changelog. Each is timed from its start until it has evaluated a clock tick
on every facts partition (group join included, ≈ 3 s on the embedded broker), and
its peak memory read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procfs import peak_rss_bytes
from benchmarks.stream_workers import Workers
from jiandu.cli.backtest import advance_clock, wait_for_clock
from jiandu.cli.hub import new_intake
from jiandu.errors import JianduError
from jiandu.settings import Settings

__all__ = ["Recovery", "Restart", "measure_recovery"]


@dataclass(frozen=True, slots=True)
class Restart:
    """One restarted worker: seconds from its start until ready, and its peak RSS."""

    seconds: float
    peak_rss: int


@dataclass(frozen=True, slots=True)
class Recovery:
    """The same killed worker's state recovered from its local store, and replayed from the changelog."""

    from_store: Restart
    full_replay: Restart | None  # None: not measured (the caller skipped it)


def measure_recovery(
    settings: Settings, clock: int, work_dir: Path, *, workers: int, timeout: float, full_replay: bool = True
) -> Recovery:
    """Restart on the killed workers' data directory, then (``full_replay``) on an empty one
    (``clock``: past the run's)."""
    from_store = _restart(settings, clock + 1000, workers, work_dir, "restart-store", timeout=timeout)
    if not full_replay:
        return Recovery(from_store, None)
    empty = settings.replace(data_dir=work_dir / "empty-data-dir")
    try:
        replay = _restart(empty, clock + 2000, workers, work_dir, "restart-replay", timeout=timeout)
    except JianduError as exc:  # the comparison is lost, not the run (README: a group wedged on Tansu)
        print(f"full changelog replay not measured: {exc}", flush=True)
        return Recovery(from_store, None)
    return Recovery(from_store, replay)


def _restart(settings: Settings, clock: int, count: int, work_dir: Path, name: str, *, timeout: float) -> Restart:
    workers = Workers(settings, count, work_dir, name)
    started = time.monotonic()
    try:
        workers.start()
        publisher, _ = new_intake(settings, adapter="benchmark")
        with publisher:
            advance_clock(settings, publisher, clock)
        wait_for_clock(settings, clock, workers, timeout=timeout, show_progress=False)
        seconds = time.monotonic() - started
        return Restart(seconds, max(peak_rss_bytes(p) for p in workers.pids))
    finally:
        workers.stop()
