"""Deadline lead latency, live: how long after the live clock passes a lead's due time the lead arrives.

CPL deadlines fall at 00:00 China time, so the live worker runs with a clock grace
chosen to put its clock (wall clock − grace) ``_LEAD_SECONDS`` before today's midnight
(China time) when it starts. M02 judgments dated 11 days before that midnight (their
deadline: that midnight) are ingested while the clock is still before it; their leads
are raised once the clock passes it, by a live tick (every ``JIANDU_LIVE_TICK_SECONDS``).
The latency of each is its arrival at a tail of the leads topic less the wall-clock
moment the live clock reached the due time (due time + grace): designed to be at most
one tick plus the evaluation and the hop to the reader. A lead that arrives before the
due time is a defect, and fails the benchmark.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson

from benchmarks.engine_latency import LeadTail, percentile, wait_for_live_clock
from benchmarks.latency_records import LatencyRecords
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.timeutil import deadline_after, local_date, local_midnight_ms, utc_now_ms
from jiandu.errors import JianduError
from jiandu.settings import Settings, kafka_client_config
from streams.app import LIVE

__all__ = ["DeadlineLatency", "measure_deadline_latency"]

#: How far before the midnight the live clock starts (room for the worker to be ready and the triggers to be in).
_LEAD_SECONDS = 20
_TRIGGERS = 20
_M02_DAYS = 10  # M02's deadline_days: the deadline is 00:00 of the 11th day after the judgment
_WAIT_AFTER_DUE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class DeadlineLatency:
    """Milliseconds from the live clock passing the due time to each lead's arrival."""

    triggers: int
    leads: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    tick_seconds: float


def measure_deadline_latency(
    settings: Settings, work_dir: Path, *, timeout: float, lead_seconds: int = _LEAD_SECONDS
) -> DeadlineLatency:
    """Run a live worker whose clock crosses a midnight (China time) ``lead_seconds`` after it starts and
    time the deadline leads it raises."""
    now = utc_now_ms()
    midnight = local_midnight_ms(local_date(now))  # today's, already past on the wall clock
    grace = (now - midnight) // 1000 + lead_seconds
    settings = settings.replace(topic_prefix=f"jiandu-bench-due-{uuid.uuid4().hex[:8]}", clock_grace_seconds=grace)
    judged_at = local_midnight_ms(local_date(midnight) - timedelta(days=_M02_DAYS + 1)) + 10 * 3_600_000
    if deadline_after(judged_at, _M02_DAYS) != midnight:
        raise JianduError("the M02 judgments would not be due at the chosen midnight: fix the benchmark's dates")
    due_wall = (midnight + grace * 1000) / 1000  # when the live clock reaches the due time
    create_topics(settings)
    catalogue = catalogue_of(settings)
    worker = WorkerProcess(settings, mode=LIVE, log_path=work_dir / f"{settings.topic_prefix}-worker.log")
    tail = LeadTail(kafka_client_config(settings), catalogue.leads, settings.partitions)
    try:
        worker.start()
        tail.start()
        wait_for_live_clock(settings, worker, timeout=timeout)
        records = LatencyRecords()
        triggers = [records.judgment(judged_at) for _ in range(_TRIGGERS)]
        publisher, intake = new_intake(settings, adapter="benchmark")
        with publisher:
            for n, trigger in enumerate(triggers):
                intake.submit_bytes(orjson.dumps(trigger.record), f"deadline:{n}")
            intake.confirm()
        if time.time() >= due_wall:
            raise JianduError("the live clock reached the deadline before the triggers were in: more lead seconds")
        wanted = {t.event_id for t in triggers}
        while time.time() < due_wall + _WAIT_AFTER_DUE_SECONDS and not wanted.issubset(tail.arrivals):
            tail.check()
            worker.check_alive()
            time.sleep(0.05)
    finally:
        tail.stop()
        worker.stop()
    arrived = {event_id: tail.arrivals[event_id][0] for event_id in wanted if event_id in tail.arrivals}
    early = [event_id for event_id, at in arrived.items() if at < due_wall]
    if early:
        raise JianduError(f"{len(early)} deadline leads arrived before their due time (first: {early[0]}): a defect")
    latencies = [(at - due_wall) * 1000 for at in arrived.values()]
    return DeadlineLatency(
        len(triggers),
        len(arrived),
        percentile(latencies, 50),
        percentile(latencies, 99),
        max(latencies, default=float("nan")),
        settings.live_tick_seconds,
    )
