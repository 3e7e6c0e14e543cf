"""Worker memory and recovery time against the number of persons with state.

``python -m benchmarks state [--persons N[,N…]] [--seed S] [--workers W]`` generates, for each N,
a history of N persons (≈ 4.2 records each) and runs it through the pipeline as ``jiandu
backtest`` does (input order stamped, one worker per core, the first routing) on its own
embedded broker. It reports each worker's peak RSS (VmHWM) and how the routing worker's RSS
moved over the second half of the run (sampled every 0.5 s; a line every minute while it runs),
then kills the workers with SIGKILL and times their recovery (``engine_recovery``): from their
on-disk stores, which read only the changelog after the offset each store holds (the benchmark
reads those offsets and reports the tail against the whole changelog), and, for comparison, with
the stores deleted, replaying the whole changelog.

The embedded broker keeps every record in memory (≈ 0.8 GB per million records with their
facts and changelog, lz4-compressed): before each N the benchmark checks that the machine has that much
available and skips N, saying so, when it has not. Long runs are documented in the README
(``make bench-state-sweep``: 100 k, 1 M and 3 M persons, in the background with a log).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from adapters.jsonl import ingest_jsonl
from benchmarks.engine_recovery import measure_recovery
from benchmarks.procfs import peak_rss_bytes, rss_bytes
from benchmarks.stream_workers import Workers
from benchmarks.workdir import work_directory
from jiandu.broker import EmbeddedBroker, find_free_port, high_watermarks
from jiandu.cli.backtest import advance_clock, wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.timeutil import CST, to_ms
from jiandu.settings import Settings, kafka_client_config
from jiandu.simulate import generate_history
from streams.state_store import state_dir, stored_offsets

__all__ = ["available_bytes", "broker_bytes_needed", "run"]

_START = datetime(2024, 1, 1, tzinfo=CST)
_MB = 1 << 20
_SAMPLE_SECONDS = 0.5
_REPORT_SECONDS = 60.0
#: What the in-memory broker holds per generated person (events, facts, changelog, ≈ 4.2 records), plus what
#: the benchmark itself needs beside it: 95 MB at 30 k persons with lz4 batches (3.2 kB each; uncompressed,
#: 2,362 MB at 300 k: 7.9 kB each).
_BROKER_BYTES_PER_PERSON = 4_000
_OTHER_BYTES = 3 << 30


def broker_bytes_needed(persons: int) -> int:
    """Memory a run of ``persons`` needs: the in-memory broker's records and the processes beside it."""
    return persons * _BROKER_BYTES_PER_PERSON + _OTHER_BYTES


def available_bytes() -> int:
    """``MemAvailable`` of this machine."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemAvailable line")


def run(
    persons: int = 100_000, seed: int = 2024, workers: int = 0, full_replay_up_to: int = 1_000_000
) -> dict[str, float]:
    """Generate, stream, sample, kill, recover; the figures (an empty dict when memory is short).

    The full changelog replay (the comparison for the recovery from the stores) runs only up to
    ``full_replay_up_to`` persons: it takes ≈ 8 minutes a million persons."""
    needed, available = broker_bytes_needed(persons), available_bytes()
    if needed > available:
        print(
            f"{persons:,} persons skipped: the in-memory broker needs ≈ {needed / 2**30:.0f} GB, "
            f"{available / 2**30:.0f} GB available",
            flush=True,
        )
        return {}
    settings = Settings.from_env(os.environ)
    settings = settings.replace(kafka_bootstrap="", pseudonym_key=settings.pseudonym_key or "benchmark-key")
    count = max(1, min(settings.partitions, workers or os.cpu_count() or 1))
    with work_directory("jiandu-bench-state-") as work:
        path = work / "history.jsonl"
        # in a child process: a history is ≈ 4 kB a person in memory, which this process would keep
        # (freed, but not given back) beside the broker it starts next
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
            records, clock_end = child.submit(_generate, seed, persons, path).result()
        print(f"history: {records:,} records of {persons:,} persons; {count} worker(s)", flush=True)
        broker = EmbeddedBroker(find_free_port(), log_path=work / "tansu.log")
        broker.start()
        try:
            settings = settings.replace(broker_port=broker.port, data_dir=work / "data", topic_prefix="bench-state")
            timeout = 300 + records / 100
            figures = _stream(settings, path, clock_end, count, work, timeout=timeout)
            figures.update(_changelog_tail(settings))
            print("recovery after kill -9 …", flush=True)
            full_replay = persons <= full_replay_up_to
            if not full_replay:
                print(f"full changelog replay skipped above {full_replay_up_to:,} persons", flush=True)
            recovery = measure_recovery(
                settings, clock_end, work, workers=count, timeout=300 + records / 5000, full_replay=full_replay
            )
            if broker.pid is not None:  # what the in-memory broker held at the end (its records)
                figures["broker_peak_rss_mb"] = peak_rss_bytes(broker.pid) / _MB
        finally:
            broker.stop()
    return {
        "persons": persons,
        "records": records,
        **figures,
        "recovery_from_store_s": recovery.from_store.seconds,
        "recovery_from_store_peak_rss_mb": recovery.from_store.peak_rss / _MB,
        "recovery_full_replay_s": recovery.full_replay.seconds if recovery.full_replay else math.nan,
        "recovery_full_replay_peak_rss_mb": recovery.full_replay.peak_rss / _MB if recovery.full_replay else math.nan,
    }


def _generate(seed: int, persons: int, path: Path) -> tuple[int, int]:
    """Write a generated history to ``path``; its number of records and clock end (ms)."""
    history = generate_history(seed=seed, persons=persons, start=_START)
    history.to_jsonl(path)
    return len(history.records), to_ms(history.clock_end)


def _stream(
    settings: Settings, path: Path, clock_end: int, count: int, work: Path, *, timeout: float
) -> dict[str, float]:
    create_topics(settings)
    workers = Workers(settings, count, work, "worker").start()
    sampler = _Sampler(lambda: workers.pids)
    sampler.start()
    try:
        started = time.monotonic()
        publisher, intake = new_intake(settings, adapter="jsonl", in_input_order=True)
        with publisher:
            report = ingest_jsonl([path], intake)
            wait_until_routed(settings, workers, timeout=timeout, show_progress=False)
            advance_clock(settings, publisher, clock_end)
        wait_for_clock(settings, clock_end, workers, timeout=timeout, show_progress=False)
        seconds = time.monotonic() - started
        sampler.stop()
        workers.kill()  # as a crash would: recovery starts from what they left
    finally:
        sampler.stop()
        workers.stop()
    routing, evaluating = sampler.roles()
    return {
        "events_accepted": report.accepted,
        "run_seconds": seconds,
        "records_per_s": (report.accepted + report.rejected) / seconds,
        "routing_worker_peak_rss_mb": routing.peak / _MB,
        "routing_worker_rss_growth_mb_per_min": routing.growth_per_minute() / _MB,
        "evaluating_worker_peak_rss_mb": evaluating.peak / _MB if evaluating else float("nan"),
        "evaluating_worker_rss_growth_mb_per_min": evaluating.growth_per_minute() / _MB if evaluating else float("nan"),
    }


def _changelog_tail(settings: Settings) -> dict[str, float]:
    """Changelog records a restart on the killed workers' stores reads (after each store's offset),
    against the whole changelog that a restart without stores replays."""
    catalogue = catalogue_of(settings)
    config = kafka_client_config(settings, with_bootstrap=False)
    ends = high_watermarks(settings.bootstrap, [catalogue.state_changelog], config)
    held = stored_offsets(state_dir(settings, catalogue))
    tail = sum(end - (held[p] + 1 if p in held else 0) for (_, p), end in ends.items())
    return {"changelog_records": sum(ends.values()), "changelog_tail_after_stores": max(0, tail)}


@dataclass(slots=True)
class _Series:
    """One worker's RSS samples (seconds since start, bytes) and its peak (VmHWM)."""

    peak: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def growth_per_minute(self) -> float:
        """RSS growth over the second half of the run, per minute (a bounded worker: near 0)."""
        if len(self.samples) < 4:
            return float("nan")
        late = self.samples[len(self.samples) // 2 :]
        (t0, r0), (t1, r1) = late[0], late[-1]
        return (r1 - r0) / (t1 - t0) * 60 if t1 > t0 else float("nan")


class _Sampler(threading.Thread):
    """Each worker's RSS over time and its peak, by its place in the worker list (the first routes);
    a line every minute so that a long run shows where it is."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self._pids = pids
        self._stopping = threading.Event()
        self._series: dict[int, _Series] = {}

    def run(self) -> None:
        started = last_report = time.monotonic()
        while not self._stopping.wait(_SAMPLE_SECONDS):
            now = time.monotonic()
            for n, pid in enumerate(self._pids()):
                series = self._series.setdefault(n, _Series())
                try:  # VmHWM is a peak already; sampling keeps it past a kill
                    series.peak = max(series.peak, peak_rss_bytes(pid))
                    series.samples.append((now - started, rss_bytes(pid)))
                except (OSError, RuntimeError):  # just exited
                    continue
            if now - last_report >= _REPORT_SECONDS:
                last_report = now
                rss = ", ".join(f"{s.samples[-1][1] / _MB:,.0f}" for s in self._series.values() if s.samples)
                print(f"  [{now - started:6.0f} s] workers' RSS MB (routing first): {rss}", flush=True)

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)

    def roles(self) -> tuple[_Series, _Series | None]:
        """(the routing worker's series, an evaluating worker's: the one with the highest peak, or None)."""
        routing = self._series.get(0, _Series())
        others = [s for n, s in self._series.items() if n > 0]
        return routing, max(others, key=lambda s: s.peak, default=None)
