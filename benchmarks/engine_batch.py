"""The batch "data collision" baseline: the same history and models in memory, no Kafka.

It does what the streaming path does to a record before the models see it — parse
the JSON line, validate, pseudonymise (``to_event``, as ``producers/intake.py``) —
then ``jiandu.models.batch.evaluate_history`` at the clock end. Avro encoding,
Kafka and the per-entity state table are what the stream adds on top.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import time
from collections.abc import Sequence
from dataclasses import dataclass

from jiandu.core.events import Event
from jiandu.core.identity import Pseudonymiser
from jiandu.core.leads import Lead
from jiandu.core.timeutil import utc_now_ms
from jiandu.core.validation import to_event
from jiandu.errors import RecordError
from jiandu.models import ModelEngine, load_catalogue
from jiandu.models.batch import evaluate_history

__all__ = ["BatchResult", "profile_batch", "run_batch"]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What the batch evaluation produced and how long each stage took."""

    records: int
    events: int
    leads: list[Lead]
    validate_seconds: float
    evaluate_seconds: float
    cpu_seconds: float  # this process's CPU time for both

    @property
    def cpu_us_per_event(self) -> float:
        """CPU time per valid event, µs: what the batch costs whatever else the machine runs."""
        return self.cpu_seconds / self.events * 1e6

    @property
    def seconds(self) -> float:
        """Validation, pseudonymisation and evaluation together."""
        return self.validate_seconds + self.evaluate_seconds

    @property
    def events_per_second(self) -> float:
        """Valid events through validation and every model, per second."""
        return self.events / self.seconds

    def open_lead_ids(self) -> set[str]:
        """Ids of the leads OPEN at the clock end."""
        return {lead.lead_id for lead in self.leads if lead.status == "OPEN"}


def run_batch(lines: Sequence[bytes], pseudonym_key: bytes, clock_end: int) -> BatchResult:
    """Validate, pseudonymise and evaluate every line; timed per stage."""
    engine = ModelEngine(load_catalogue())
    started, cpu_started = time.perf_counter(), time.process_time()
    events = events_of(lines, Pseudonymiser(pseudonym_key))
    validated = time.perf_counter()
    leads = evaluate_history(engine, events, clock_end, utc_now_ms())
    evaluated, cpu = time.perf_counter(), time.process_time() - cpu_started
    return BatchResult(len(lines), len(events), leads, validated - started, evaluated - validated, cpu)


def events_of(lines: Sequence[bytes], pseudonymiser: Pseudonymiser) -> list[Event]:
    """The valid events of JSON lines, in order (invalid lines are skipped, as the intake dead-letters them)."""
    ingested_at = utc_now_ms()
    events = []
    for line in lines:
        try:
            events.append(to_event(json.loads(line), pseudonymiser, ingested_at))
        except (RecordError, json.JSONDecodeError, UnicodeDecodeError):
            continue
    return events


def profile_batch(lines: Sequence[bytes], pseudonym_key: bytes, clock_end: int, *, top: int = 25) -> str:
    """cProfile of one batch run: the ``top`` functions by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, lines, pseudonym_key, clock_end)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()
