"""``jiandu backtest``: the whole pipeline over a history, on fresh isolated topics.

ingest → Kafka → streams worker (backtest clock) → wait until every event is
processed → advance the clock to ``clock_end`` → read the final state of every lead.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson
from kafka import TopicPartition

from adapters.jsonl import ingest_jsonl
from consumers import read_leads
from jiandu.broker import KafkaConsumer, delete_topics, group_offsets, high_watermarks
from jiandu.cli.hub import broker_for, catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.identity import Pseudonymiser
from jiandu.core.leads import Lead
from jiandu.core.timeutil import format_cst, utc_now_ms
from jiandu.errors import JianduError
from jiandu.models import ModelEngine
from jiandu.models.batch import evaluate_history, valid_events
from jiandu.serde import AvroCodec
from jiandu.settings import Settings, kafka_client_config
from producers import IntakeReport, KafkaPublisher
from streams.app import BACKTEST
from streams.router import router_group

__all__ = [
    "BacktestResult",
    "advance_clock",
    "collide",
    "run_backtest",
    "summary",
    "wait_for_clock",
    "wait_until_routed",
    "write_leads",
]


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """What a backtest produced."""

    intake: IntakeReport
    leads: dict[str, Lead]
    seconds: float


def run_backtest(
    settings: Settings,
    inputs: Sequence[Path],
    clock_end: int,
    out: Path,
    *,
    work_dir: Path,
    show_progress: bool = False,
    timeout: float = 3600.0,
) -> BacktestResult:
    """Run a backtest and write ``out``; everything it started is stopped and its topics deleted."""
    started = time.monotonic()
    # fresh topics, deleted afterwards: nothing of a backtest belongs in the hub's journal
    settings = settings.replace(topic_prefix=f"jiandu-bt-{uuid.uuid4().hex[:10]}", journal="off")
    with broker_for(settings, log_dir=work_dir, fresh_port=True) as settings:
        catalogue = catalogue_of(settings)
        create_topics(settings)
        worker = _Workers(settings, work_dir).start()
        stopping: threading.Thread | None = None
        try:
            publisher, intake = new_intake(settings, adapter="jsonl", in_input_order=True)
            with publisher:
                report = ingest_jsonl(inputs, intake, show_progress=show_progress)
                wait_until_routed(settings, worker, timeout=timeout, show_progress=show_progress)
                advance_clock(settings, publisher, clock_end)
            wait_for_clock(settings, clock_end, worker, timeout=timeout, show_progress=show_progress)
            # The workers delivered every lead before they reported the clock: stop them while the
            # leads are read back (a Faust worker takes ≈ 2 s to shut down).
            stopping = threading.Thread(target=worker.stop, name="stop-workers")
            stopping.start()
            leads = read_leads(kafka_client_config(settings), catalogue.leads)
        finally:
            if stopping is not None:
                stopping.join()
            worker.stop()
            if not settings.embedded:
                delete_topics(
                    settings.bootstrap,
                    [s.name for s in catalogue.specs()],
                    kafka_client_config(settings, with_bootstrap=False),
                )
    write_leads(leads.values(), out)
    return BacktestResult(report, leads, time.monotonic() - started)


class _Alive(Protocol):
    def check_alive(self) -> None: ...


class _Workers:
    """The backtest's streams workers: one per core, at most one per facts partition.

    The models are CPU-bound Python: with two cores, two workers (each evaluating half the
    partitions) finished a 117 k record backtest faster than one, once ingest no longer
    needs a core. Only the first routes: one router merges the event topics back into
    input order (the intake stamps it) and feeds every facts partition in that order, so
    the output does not depend on how many workers run or how Kafka interleaves topics.
    """

    def __init__(self, settings: Settings, work_dir: Path) -> None:
        count = max(1, min(settings.partitions, settings.backtest_workers or os.cpu_count() or 1))
        settings = settings.replace(data_dir=work_dir / "state")  # the workers' stores go with the work dir
        self.processes = [
            WorkerProcess(
                settings,
                mode=BACKTEST,
                log_path=work_dir / f"{settings.topic_prefix}-worker{'' if n == 0 else f'-{n}'}.log",
                route=n == 0,
            )
            for n in range(count)
        ]

    def start(self) -> _Workers:
        for process in self.processes:
            process.start()
        return self

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def stop(self) -> None:
        """Stop all (in parallel: each takes ≈ 2 s); idempotent."""
        stopping = [threading.Thread(target=process.stop) for process in self.processes]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()


def collide(engine: ModelEngine, settings: Settings, inputs: Sequence[Path], clock_end: int) -> list[Lead]:
    """The batch collision: the same declarations over the whole history in memory, no Kafka."""
    pseudonymiser = Pseudonymiser(settings.pseudonym_key_bytes)
    now = utc_now_ms()
    lines = (line for path in inputs for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return evaluate_history(engine, valid_events(lines, pseudonymiser, now), clock_end, now)


def write_leads(leads: collections.abc.Iterable[Lead], out: Path) -> None:
    """One JSON object per lead, ordered by model and lead id."""
    with out.open("wb") as f:
        for lead in sorted(leads, key=lambda x: (x.model_id, x.trigger_event_id, x.lead_id)):
            f.write(orjson.dumps(lead.to_json()) + b"\n")


def wait_until_routed(settings: Settings, worker: _Alive, *, timeout: float, show_progress: bool) -> None:
    """Block until the routers (consumer group ``router_group``) committed every event partition up to its end."""
    catalogue = catalogue_of(settings)
    config = kafka_client_config(settings, with_bootstrap=False)
    ends = high_watermarks(settings.bootstrap, catalogue.event_topics(), config)
    total = sum(ends.values())
    deadline = time.monotonic() + timeout
    with group_offsets(settings.bootstrap, router_group(catalogue), list(ends), config) as committed:
        while True:
            worker.check_alive()
            offsets = committed()
            done = sum(min(offsets.get(tp, 0), end) for tp, end in ends.items())
            if show_progress:
                sys.stderr.write(f"\r  streams: {done:,}/{total:,} events processed")
            if done >= total:
                break
            if time.monotonic() > deadline:
                raise JianduError(f"the streams worker processed {done} of {total} events within {timeout:.0f} s")
            time.sleep(0.25)
    if show_progress:
        sys.stderr.write("\n")


def advance_clock(settings: Settings, publisher: KafkaPublisher, clock: int) -> None:
    """Send a clock tick to every facts partition (after everything routed before it)."""
    codec = AvroCodec()
    tick = codec.encode("routed", {"entity": "", "clock": clock, "event": None})
    topic = catalogue_of(settings).facts
    for partition in range(settings.partitions):
        publisher.send(topic, "__tick__", tick, partition=partition)
    publisher.confirm()


def wait_for_clock(settings: Settings, clock: int, worker: _Alive, *, timeout: float, show_progress: bool) -> None:
    """Block until every facts partition reported a hub clock at or past ``clock``."""
    codec = AvroCodec()
    catalogue = catalogue_of(settings)
    consumer = KafkaConsumer(**kafka_client_config(settings), enable_auto_commit=False, fetch_max_wait_ms=20)
    consumer.assign([TopicPartition(catalogue.progress, 0)])
    consumer.seek_to_beginning()
    reached: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(reached) < settings.partitions:
            worker.check_alive()
            if time.monotonic() > deadline:
                raise JianduError(f"hub clock did not reach {format_cst(clock)} within {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    report = codec.decode(record.value)[1]
                    if report["clock"] >= clock:
                        reached.add(report["partition"])
    finally:
        consumer.close()
    if show_progress:
        sys.stderr.write(f"  clock: {format_cst(clock)} reached on {settings.partitions} partitions\n")


def summary(leads: collections.abc.Iterable[Lead]) -> str:
    """Per-model counts of leads by status."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for lead in leads:
        counts[lead.model_id][lead.status] += 1
    lines = ["model  OPEN  RESOLVED  WITHDRAWN"]
    for model_id in sorted(counts):
        c = counts[model_id]
        lines.append(f"{model_id:5}  {c['OPEN']:4}  {c['RESOLVED']:8}  {c['WITHDRAWN']:9}")
    return "\n".join(lines)
