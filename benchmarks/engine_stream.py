"""The streaming run: a history through ingest → Kafka → streams worker → leads, with stage times.

It drives the pipeline with the backtest machinery (``jiandu.cli.backtest``): fresh
topic prefix, a worker subprocess in backtest mode, ingest, ``wait_until_routed``,
``advance_clock`` to the clock end, ``wait_for_clock``, ``read_leads``. Start-up is
kept out of the timed part: the worker must first evaluate a clock tick (its
evaluator owns its partitions) and route a warm-up slice of the history (its router
does too, whether or not it is a consumer group of its own).

The streaming part runs from the first record of the rest submitted to the worker's
last clock report, less the benchmark's own detection delay between the last work
before its clock tick and the tick (routing offsets are committed about every
second; ``wait_until_routed`` polls). Stage times come from producer timestamps on
the worker's topics (same host clock as ``time.time()``).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from adapters.jsonl import ingest_jsonl
from benchmarks.engine_recovery import Recovery, measure_recovery
from benchmarks.procfs import cpu_seconds, peak_rss_bytes
from benchmarks.stream_outputs import OutputTimes, scan_outputs
from benchmarks.stream_workers import Workers
from consumers import read_leads
from jiandu.cli.backtest import advance_clock, wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.leads import Lead
from jiandu.settings import Settings, kafka_client_config
from producers import IntakeReport, KafkaPublisher
from streams.app import BACKTEST

__all__ = ["IdleWorker", "StreamResult", "idle_worker", "run_stream"]

_READY_CLOCK = 1  # a clock tick far in the past: it proves the worker runs and changes nothing
_SHORTEST_SECONDS = 1e-3
_WARM_UP_LINES = 50
_WARM_UP_PERMILLE = 5  # the warm-up slice: 0.5 % of the history, at least 50 lines


@dataclass(frozen=True, slots=True)
class IdleWorker:
    """A worker that joined, evaluated one clock tick and did nothing else: the memory and CPU baseline."""

    peak_rss: int
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class StreamResult:
    """One streaming run: counts, leads, wall-clock marks (epoch s), output times and resources."""

    prefix: str
    intake: IntakeReport
    warm_up_events: int  # accepted before the timed part
    leads: dict[str, Lead]
    started: float  # before creating the topics
    ingest_started: float  # the timed part: the history after the warm-up slice
    ingested: float  # every record confirmed by the broker
    clock_reached: float  # as the benchmark saw it
    finished: float  # leads read back
    outputs: OutputTimes
    workers: int  # streams workers (the first routes)
    worker_peak_rss: int  # the largest of the workers'
    worker_cpu_seconds: float  # the whole life of the worker processes, together
    broker_cpu_seconds: float  # during the streaming part; 0 without a broker pid
    ingest_cpu_seconds: float  # this process (the intake and its producer's threads) ingesting the timed part
    recovery: Recovery | None  # after a kill -9 at the end (None: not measured)

    @property
    def records(self) -> int:
        """Lines submitted: accepted events and dead letters."""
        return self.intake.accepted + self.intake.rejected

    @property
    def events(self) -> int:
        """Events accepted onto the event topics."""
        return self.intake.accepted

    @property
    def timed_events(self) -> int:
        """Events accepted in the timed part (after the warm-up slice)."""
        return self.intake.accepted - self.warm_up_events

    @property
    def events_per_second(self) -> float:
        """The sustained rate: timed events per second of the streaming part."""
        return self.timed_events / self.streaming_seconds

    @property
    def idle_before_tick_seconds(self) -> float:
        """The benchmark's detection delay before its clock_end tick (not counted as streaming)."""
        busy_until = max(self.outputs.last_work_before_tick_ms, self.ingested * 1000)
        return max(self.outputs.tick_ms - busy_until, 0) / 1000

    @property
    def streaming_seconds(self) -> float:
        """From the first record submitted to the last clock report, less the detection delay."""
        wall = self.outputs.last_clock_report_ms / 1000 - self.ingest_started
        return max(wall - self.idle_before_tick_seconds, _SHORTEST_SECONDS)

    @property
    def router_lag_seconds(self) -> float:
        """How long after the last record was confirmed the router wrote its last fact (NaN: no facts)."""
        return self.outputs.last_fact_ms / 1000 - self.ingested if self.outputs.facts else math.nan

    @property
    def evaluator_lag_seconds(self) -> float:
        """How long after the router's last fact the evaluator's work was done, clock_end included (NaN: no facts)."""
        if not self.outputs.facts:
            return math.nan
        return (self.outputs.last_clock_report_ms - self.outputs.last_fact_ms) / 1000 - self.idle_before_tick_seconds

    def open_lead_ids(self) -> set[str]:
        """Ids of the leads OPEN at the clock end."""
        return {lead_id for lead_id, lead in self.leads.items() if lead.status == "OPEN"}


def _fresh(settings: Settings, name: str) -> Settings:
    return settings.replace(topic_prefix=f"jiandu-bench-{name}-{uuid.uuid4().hex[:8]}")


def _await_ready(
    settings: Settings, worker: WorkerProcess | Workers, publisher: KafkaPublisher, *, timeout: float
) -> None:
    """Block until the worker has joined its group and evaluated a clock tick on every facts partition."""
    advance_clock(settings, publisher, _READY_CLOCK)
    wait_for_clock(settings, _READY_CLOCK, worker, timeout=timeout, show_progress=False)


def idle_worker(settings: Settings, work_dir: Path, *, timeout: float) -> IdleWorker:
    """Start a backtest worker on empty topics, wait until it is ready, read its memory and CPU."""
    settings = _fresh(settings, "idle")
    create_topics(settings)
    worker = WorkerProcess(settings, mode=BACKTEST, log_path=work_dir / f"{settings.topic_prefix}-worker.log")
    try:
        worker.start()
        publisher, _ = new_intake(settings, adapter="benchmark")
        with publisher:
            _await_ready(settings, worker, publisher, timeout=timeout)
        assert worker.pid is not None
        return IdleWorker(peak_rss_bytes(worker.pid), cpu_seconds(worker.pid))
    finally:
        worker.stop()


def _split(history: Path, work_dir: Path) -> tuple[Path, Path]:
    """The history's first lines (the warm-up slice) and the rest, as two files in upload order."""
    lines = history.read_bytes().splitlines(keepends=True)
    cut = max(_WARM_UP_LINES, len(lines) * _WARM_UP_PERMILLE // 1000)
    warm_up, rest = work_dir / f"{history.stem}-warm-up.jsonl", work_dir / f"{history.stem}-rest.jsonl"
    warm_up.write_bytes(b"".join(lines[:cut]))
    rest.write_bytes(b"".join(lines[cut:]))
    return warm_up, rest


def run_stream(
    settings: Settings,
    history: Path,
    clock_end: int,
    work_dir: Path,
    *,
    timeout: float,
    broker_pid: int | None = None,
    workers: int = 1,
    recovery: bool = True,
) -> StreamResult:
    """Ingest ``history`` into ready backtest workers, tick the clock to ``clock_end``, read the leads."""
    settings = _fresh(settings, "stream")
    warm_up, rest = _split(history, work_dir)
    broker_cpu = (lambda: cpu_seconds(broker_pid)) if broker_pid else (lambda: 0.0)
    started = time.time()
    create_topics(settings)
    worker = Workers(settings, workers, work_dir, f"{settings.topic_prefix}-worker")
    try:
        worker.start()
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:
            _await_ready(settings, worker, publisher, timeout=timeout)
            warm_up_events = ingest_jsonl([warm_up], intake).accepted
            wait_until_routed(settings, worker, timeout=timeout, show_progress=False)
            ingest_started, broker_cpu_started, ingest_cpu_started = time.time(), broker_cpu(), time.process_time()
            report = ingest_jsonl([rest], intake)
            ingested, ingest_cpu = time.time(), time.process_time() - ingest_cpu_started
            wait_until_routed(settings, worker, timeout=timeout, show_progress=False)
            tick_ms = int(time.time() * 1000)
            advance_clock(settings, publisher, clock_end)
        wait_for_clock(settings, clock_end, worker, timeout=timeout, show_progress=False)
        clock_reached, broker_busy = time.time(), broker_cpu() - broker_cpu_started
        peak, cpu = max(peak_rss_bytes(p) for p in worker.pids), sum(cpu_seconds(p) for p in worker.pids)
        worker.kill()  # as a crash would: the recovery measurement restarts from what it left
    finally:
        worker.stop()
    catalogue = catalogue_of(settings)
    leads = read_leads(kafka_client_config(settings), catalogue.leads, timeout=timeout)
    finished = time.time()
    outputs = scan_outputs(settings.bootstrap, catalogue, tick_ms, timeout=timeout)
    restart = measure_recovery(settings, clock_end, work_dir, workers=workers, timeout=timeout) if recovery else None
    return StreamResult(
        prefix=settings.topic_prefix,
        intake=report,
        warm_up_events=warm_up_events,
        leads=leads,
        started=started,
        ingest_started=ingest_started,
        ingested=ingested,
        clock_reached=clock_reached,
        finished=finished,
        outputs=outputs,
        workers=workers,
        worker_peak_rss=peak,
        worker_cpu_seconds=cpu,
        broker_cpu_seconds=broker_busy,
        ingest_cpu_seconds=ingest_cpu,
        recovery=restart,
    )
