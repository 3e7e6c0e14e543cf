"""Lead latency in live mode: trigger record confirmed by the broker → lead seen on the leads topic.

A live worker (clock = wall time − ``JIANDU_CLOCK_GRACE_SECONDS``, ticked every
``JIANDU_LIVE_TICK_SECONDS``) on fresh topics; correction enrolments pre-loaded;
then records at a steady rate — one in twenty an M14 trigger, one in twenty an
M03 trigger, one in twenty an already-overdue M02 trigger, the rest background
lines of the generated history — confirmed with the broker every 20 ms. A thread
tails the leads topic and notes when each trigger's first lead version arrives.

Trigger records occur ``grace + 2 × tick`` before they are sent, so the live clock
has already passed them when they arrive: the figures are the hub's processing
latency, not the clock's designed delay (M03 waits for the clock to reach the
trigger's time). Latency is reported for each model the catalogue has.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import TopicPartition

from benchmarks.latency_hops import HopLatency, hop_latencies
from benchmarks.latency_records import LatencyRecords, Trigger
from benchmarks.procfs import cpu_seconds
from jiandu.broker import KafkaConsumer
from jiandu.cli.backtest import wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.timeutil import utc_now_ms
from jiandu.errors import JianduError
from jiandu.models import load_catalogue
from jiandu.serde import AvroCodec
from jiandu.settings import Settings, kafka_client_config
from producers import RecordIntake
from streams.app import LIVE

__all__ = [
    "LATENCY_MODELS",
    "LatencyPlan",
    "LatencyResult",
    "LeadTail",
    "ModelLatency",
    "measure_latency",
    "percentile",
    "wait_for_live_clock",
]

#: The models whose latency is reported: M14 (custody incident, raised as soon as it is present),
#: M03 (re-offence under correction, evaluated once the clock reaches the trigger) and M02 with a
#: trigger already overdue on arrival (the same immediate path, in every catalogue since 1.0).
LATENCY_MODELS = ("M14", "M03", "M02")
_PATTERN = 20  # of every 20 records: one trigger per model, the rest background
_SLOT_SECONDS = 0.02
_TAIL_FETCH_WAIT_MS = 10
_ENROLLED_DAYS_BEFORE = 30
_DAY_MS = 86_400_000
_IDLE_SAMPLE_SECONDS = 3.0
_MOST_ENROLMENTS = 10_000  # one person per M03 trigger up to this many; beyond, people get several


@dataclass(frozen=True, slots=True)
class LatencyPlan:
    """How hard and how long to load the live worker."""

    rate: float  # records per second offered, triggers and background together
    seconds: float
    drain_seconds: float = 60.0  # how long to wait for the last leads after the load


@dataclass(frozen=True, slots=True)
class ModelLatency:
    """Latency of one model's leads, in milliseconds from the trigger's confirmed submission."""

    model_id: str
    in_catalogue: bool
    triggers: int
    leads: int
    p50_ms: float
    p99_ms: float
    produced_p50_ms: float  # to the lead's producer timestamp: without the tail consumer's own delay
    produced_p99_ms: float
    samples: tuple[tuple[float, float], ...] = ()  # (confirmed at, epoch s; latency, ms) per lead, in send order


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Per-model latency and the load that was actually applied."""

    models: dict[str, ModelLatency]
    offered_rate: float
    achieved_rate: float
    records: int
    enrolments: int
    grace_seconds: int
    tick_seconds: float
    cores_used: dict[str, float]  # CPU seconds per second of load: worker, broker, this process
    worker_idle_cores: float  # the live worker's CPU use with no load (fetch polling, clock ticks)
    hops: HopLatency  # where the latency of every model's leads went (benchmarks.latency_hops)


@dataclass(frozen=True, slots=True)
class _Sent:
    model_id: str
    event_id: str
    confirmed: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class _LoadRun:
    sent: list[_Sent]
    records: int
    seconds: float


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


class LeadTail(threading.Thread):
    """Tails the leads topic from its start; notes the first arrival of each trigger's lead."""

    def __init__(self, client_config: dict[str, Any], topic: str, partitions: int) -> None:
        super().__init__(name="lead-tail", daemon=True)
        self._config, self._topic, self._partitions = client_config, topic, partitions
        self._stop_event = threading.Event()
        self.arrivals: dict[str, tuple[float, int]] = {}  # trigger event id → (received, produced ms)
        self.error: BaseException | None = None

    def run(self) -> None:
        codec = AvroCodec()
        try:
            consumer = KafkaConsumer(**self._config, enable_auto_commit=False, fetch_max_wait_ms=_TAIL_FETCH_WAIT_MS)
        except BaseException as exc:  # reported to the main thread by check()
            self.error = exc
            return
        try:
            parts = [TopicPartition(self._topic, p) for p in range(self._partitions)]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            while not self._stop_event.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    received = time.time()
                    for record in records:
                        trigger = codec.decode(record.value)[1]["trigger_event_id"]
                        self.arrivals.setdefault(trigger, (received, record.timestamp))
        except BaseException as exc:
            self.error = exc
        finally:
            consumer.close()

    def check(self) -> None:
        """Raise in the caller if the tail failed."""
        if self.error is not None:
            raise JianduError(f"the lead tail failed: {self.error!r}") from self.error

    def stop(self) -> None:
        """Stop polling, close the consumer and wait for the thread."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=10)


def measure_latency(
    settings: Settings,
    background: Sequence[bytes],
    plan: LatencyPlan,
    work_dir: Path,
    *,
    timeout: float,
    broker_pid: int | None = None,
) -> LatencyResult:
    """Run a live worker under ``plan``'s load and measure lead latency per model."""
    settings = settings.replace(topic_prefix=f"jiandu-bench-live-{uuid.uuid4().hex[:8]}")
    create_topics(settings)
    catalogue = catalogue_of(settings)
    worker = WorkerProcess(settings, mode=LIVE, log_path=work_dir / f"{settings.topic_prefix}-worker.log")
    tail = LeadTail(kafka_client_config(settings), catalogue.leads, settings.partitions)
    enrolments = min(math.ceil(plan.rate * plan.seconds / _PATTERN) + 1, _MOST_ENROLMENTS)
    try:
        worker.start()
        tail.start()
        wait_for_live_clock(settings, worker, timeout=timeout)
        records = LatencyRecords()
        publisher, intake = new_intake(settings, adapter="benchmark")
        with publisher:
            _preload(settings, worker, intake, records, enrolments, timeout=timeout)
            assert worker.pid is not None
            idle_cores = _idle_cores(worker.pid, max(_IDLE_SAMPLE_SECONDS, settings.live_tick_seconds))
            pids = {"worker": worker.pid, "broker": broker_pid or 0, "benchmark": os.getpid()}
            cpu_before = _cpu_of(pids)
            run = _load(intake, records, background, plan, _backdate_ms(settings))
            cores = {name: (cpu - cpu_before[name]) / run.seconds for name, cpu in _cpu_of(pids).items()}
        _check_triggers_accepted(intake)
        in_catalogue = {m.id for m in load_catalogue()}
        _drain(tail, worker, {s.event_id for s in run.sent if s.model_id in in_catalogue}, plan.drain_seconds)
    finally:
        tail.stop()
        worker.stop()
    models = {m: _model_latency(m, m in in_catalogue, run.sent, tail.arrivals) for m in LATENCY_MODELS}
    triggers = {s.event_id for s in run.sent}
    arrivals = {event_id: arrival for event_id, arrival in tail.arrivals.items() if event_id in triggers}
    hops = hop_latencies(settings.bootstrap, catalogue.facts, arrivals, timeout=timeout)
    return LatencyResult(
        models, plan.rate, run.records / run.seconds, run.records, enrolments,
        settings.clock_grace_seconds, settings.live_tick_seconds, cores, idle_cores, hops,
    )  # fmt: skip


def _idle_cores(pid: int, seconds: float) -> float:
    """CPU seconds per second the worker uses while nothing is sent."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def _cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) if pid else 0.0 for name, pid in pids.items()}


def _backdate_ms(settings: Settings) -> int:
    """How long before sending a trigger occurs: the live clock has passed it on arrival."""
    return int((settings.clock_grace_seconds + 2 * settings.live_tick_seconds) * 1000)


def wait_for_live_clock(settings: Settings, worker: WorkerProcess, *, timeout: float) -> None:
    """Block until every facts partition evaluated a live tick sent from now on (the worker is ready)."""
    clock = utc_now_ms() - settings.clock_grace_seconds * 1000
    wait_for_clock(settings, clock, worker, timeout=timeout, show_progress=False)


def _preload(
    settings: Settings,
    worker: WorkerProcess,
    intake: RecordIntake,
    records: LatencyRecords,
    count: int,
    *,
    timeout: float,
) -> None:
    """Enrol ``count`` people in community correction and wait until the worker evaluated them."""
    enrolled_at = utc_now_ms() - _backdate_ms(settings) - _ENROLLED_DAYS_BEFORE * _DAY_MS
    for n in range(count):
        intake.submit_bytes(orjson.dumps(records.enrolment(enrolled_at)), f"enrolment:{n}")
    intake.confirm()
    wait_until_routed(settings, worker, timeout=timeout, show_progress=False)
    wait_for_live_clock(settings, worker, timeout=timeout)


def _load(
    intake: RecordIntake, records: LatencyRecords, background: Sequence[bytes], plan: LatencyPlan, backdate_ms: int
) -> _LoadRun:
    """Submit records at ``plan.rate`` for ``plan.seconds``, confirming every slot; the triggers sent."""
    lines = itertools.cycle(background)
    sent: list[_Sent] = []
    submitted = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < plan.seconds:
        slot_started = time.monotonic()
        due = int(plan.rate * elapsed) + 1
        at_ms = utc_now_ms() - backdate_ms
        slot: list[Trigger] = []
        for n in range(submitted, due):
            trigger = _trigger_at(n, records, at_ms)
            if trigger is None:
                intake.submit_bytes(next(lines), f"background:{n}")
            else:
                intake.submit_bytes(orjson.dumps(trigger.record), f"trigger:{n}")
                slot.append(trigger)
        submitted = max(submitted, due)
        intake.confirm()
        confirmed = time.time()
        sent.extend(_Sent(t.model_id, t.event_id, confirmed) for t in slot)
        time.sleep(max(0.0, _SLOT_SECONDS - (time.monotonic() - slot_started)))
    return _LoadRun(sent, submitted, time.monotonic() - started)


def _trigger_at(position: int, records: LatencyRecords, at_ms: int) -> Trigger | None:
    step = position % _PATTERN
    if step == 0:
        return records.custody_incident(at_ms)
    if step == _PATTERN // 3:
        return records.reoffence(at_ms)
    if step == 2 * _PATTERN // 3:
        return records.overdue_judgment(at_ms)
    return None


def _check_triggers_accepted(intake: RecordIntake) -> None:
    rejected = [r for r in intake.report.rejections if not r.origin.startswith("background:")]
    if rejected:
        first = rejected[0]
        raise JianduError(f"{len(rejected)} benchmark records were rejected; first: {first.origin}: {first.reason}")


def _drain(tail: LeadTail, worker: WorkerProcess, wanted: set[str], seconds: float) -> None:
    """Wait until every wanted trigger has its lead, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not wanted.issubset(tail.arrivals.keys()):
        tail.check()
        worker.check_alive()
        time.sleep(0.1)
    tail.check()


def _model_latency(
    model_id: str, in_catalogue: bool, sent: list[_Sent], arrivals: dict[str, tuple[float, int]]
) -> ModelLatency:
    mine = [s for s in sent if s.model_id == model_id]
    led = [(s.confirmed, *arrivals[s.event_id]) for s in mine if s.event_id in arrivals]
    received = [(arrived - confirmed) * 1000 for confirmed, arrived, _ in led]
    produced = [produced_ms - confirmed * 1000 for confirmed, _, produced_ms in led]
    return ModelLatency(
        model_id,
        in_catalogue,
        len(mine),
        len(led),
        percentile(received, 50),
        percentile(received, 99),
        percentile(produced, 50),
        percentile(produced, 99),
        tuple((confirmed, ms) for (confirmed, _, _), ms in zip(led, received, strict=True)),
    )
