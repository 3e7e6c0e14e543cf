"""Worker memory and recovery time against the number of persons with state.

``python -m benchmarks state [--persons N] [--seed S] [--workers W]`` generates a history
of N persons (≈ 4.2 records each), runs it through the pipeline as ``jiandu backtest``
does (input order stamped, one worker per core, the first routing) on its own embedded
broker, and reports the workers' peak RSS (VmHWM, sampled every 0.5 s while they run) and
the run's rate; then it kills the workers with SIGKILL and times their recovery from
their on-disk stores against a full changelog replay (``engine_recovery``).

The embedded broker keeps every record in memory (≈ 2.5 GB per million records with
their facts and changelog): 1 M persons need ≈ 12 GB free, 3 M ≈ 35 GB. The long runs,
documented in the README: ``--persons 1000000`` (≈ 20 min on 2 cores) and
``--persons 3000000`` (not run on the development machine: too little memory).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from adapters.jsonl import ingest_jsonl
from benchmarks.engine_recovery import measure_recovery
from benchmarks.procfs import peak_rss_bytes
from benchmarks.stream_workers import Workers
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.backtest import advance_clock, wait_for_clock, wait_until_routed
from jiandu.cli.hub import create_topics, new_intake
from jiandu.core.timeutil import CST, to_ms
from jiandu.settings import Settings
from jiandu.simulate import generate_history

__all__ = ["run"]

_START = datetime(2024, 1, 1, tzinfo=CST)
_MB = 1 << 20
_SAMPLE_SECONDS = 0.5


def run(persons: int = 100_000, seed: int = 2024, workers: int = 0) -> dict[str, float]:
    """Generate, stream, sample, kill, recover; the figures."""
    settings = Settings.from_env(os.environ)
    settings = settings.replace(kafka_bootstrap="", pseudonym_key=settings.pseudonym_key or "benchmark-key")
    count = max(1, min(settings.partitions, workers or os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="jiandu-bench-state-") as tmp:
        work = Path(tmp)
        history = generate_history(seed=seed, persons=persons, start=_START)
        path = work / "history.jsonl"
        history.to_jsonl(path)
        clock_end = to_ms(history.clock_end)
        print(f"history: {len(history.records):,} records of {persons:,} persons; {count} worker(s)", flush=True)
        broker = EmbeddedBroker(find_free_port(), log_path=work / "tansu.log")
        broker.start()
        try:
            settings = settings.replace(broker_port=broker.port, data_dir=work / "data", topic_prefix="bench-state")
            timeout = 300 + len(history.records) / 200
            figures = _stream(settings, path, clock_end, count, work, timeout=timeout)
            recovery = measure_recovery(settings, clock_end, work, workers=count, timeout=timeout)
        finally:
            broker.stop()
    return {
        "persons": persons,
        "records": len(history.records),
        **figures,
        "recovery_from_store_s": recovery.from_store.seconds,
        "recovery_full_replay_s": recovery.full_replay.seconds,
        "restarted_worker_peak_rss_mb": recovery.from_store.peak_rss / _MB,
    }


def _stream(
    settings: Settings, path: Path, clock_end: int, count: int, work: Path, *, timeout: float
) -> dict[str, float]:
    create_topics(settings)
    workers = Workers(settings, count, work, "worker").start()
    sampler = _PeakSampler(lambda: workers.pids)
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
        peaks = sampler.stop()
        workers.kill()  # as a crash would: recovery starts from what they left
    finally:
        sampler.stop()
        workers.stop()
    return {
        "events_accepted": report.accepted,
        "run_seconds": seconds,
        "records_per_s": (report.accepted + report.rejected) / seconds,
        "worker_peak_rss_mb": max(peaks.values(), default=0) / _MB,
        "workers_peak_rss_mb_total": sum(peaks.values()) / _MB,
    }


class _PeakSampler(threading.Thread):
    """The largest VmHWM seen per worker pid (VmHWM is a peak already; sampling keeps it past a kill)."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self._pids = pids
        self._stopping = threading.Event()
        self.peaks: dict[int, int] = {}

    def run(self) -> None:
        while not self._stopping.wait(_SAMPLE_SECONDS):
            for pid in self._pids():
                try:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), peak_rss_bytes(pid))
                except (OSError, RuntimeError):  # just exited
                    continue

    def stop(self) -> dict[int, int]:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        return dict(self.peaks)
