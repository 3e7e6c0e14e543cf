"""The batch "data collision" baseline: the same history and models in memory, no Kafka.

It does what the streaming path does to a record before the models see it — parse
the JSON line, validate, pseudonymise (``to_event``, as ``producers/intake.py``) —
then ``jiandu.models.batch.evaluate_history`` at the clock end. Avro encoding,
Kafka and the per-entity state table are what the stream adds on top.
"""

from __future__ import annotations

import cProfile
import heapq
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
from jiandu.models import EntityState, ModelEngine, fact_of, load_catalogue
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
    evaluate_cpu_seconds: float = float("nan")  # of which the models' evaluation (evaluate_history)
    replay_cpu_seconds: float = float("nan")  # the models evaluated as the evaluator does (replay_as_evaluator)

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
    validated, validated_cpu = time.perf_counter(), time.process_time()
    leads = evaluate_history(engine, events, clock_end, utc_now_ms())
    evaluated, evaluated_cpu = time.perf_counter(), time.process_time()
    replay_as_evaluator(engine, events)
    replay = time.process_time() - evaluated_cpu
    return BatchResult(
        len(lines),
        len(events),
        leads,
        validated - started,
        evaluated - validated,
        evaluated_cpu - cpu_started,
        evaluated_cpu - validated_cpu,
        replay,
    )


def replay_as_evaluator(engine: ModelEngine, events: Sequence[Event]) -> None:
    """The models' work of the stream without Kafka: each new fact evaluates the models that read its type
    at the clock of the facts before it (largest event time so far), and the clock's passing a wake-up
    evaluates the models waiting for it, as ``streams.app`` does. What this costs against the batch's one
    evaluation per entity is the floor of the stream / batch ratio whatever Kafka and Faust cost."""
    states: dict[str, EntityState] = {}
    wakes: dict[str, dict[str, int | None]] = {}
    reads = {model.id: frozenset(model.event_types()) for model in engine.models}
    heap: list[tuple[int, str]] = []
    clock = 0

    def evaluate(entity: str, changed: set[str] | None) -> None:
        result = engine.evaluate(entity, states[entity], clock, 0, changed)
        pending = wakes.setdefault(entity, {})
        pending.update(result.wakes)
        if due := [w for w in pending.values() if w is not None]:
            heapq.heappush(heap, (min(due), entity))

    for event in events:
        entities = engine.route(event)
        fact = fact_of(event) if entities else None
        for entity in entities:
            if states.setdefault(entity, EntityState()).add(fact):  # type: ignore[arg-type]
                evaluate(entity, {event.type})
        clock = max(clock, event.occurred_at)
        while heap and heap[0][0] <= clock:
            entity = heapq.heappop(heap)[1]
            models = {m for m, w in wakes[entity].items() if w is not None and w <= clock}
            if models:
                evaluate(entity, {t for m in models for t in reads[m]})


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
