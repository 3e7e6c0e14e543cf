"""What a streams worker tells Prometheus: events, processing time, lag, clocks, deadlines, state, leads.

Counters are updated where the work happens (in bulk per batch: a labelled counter
per event would cost more than routing it). Gauges are refreshed by a timer on the
worker's event loop (:meth:`WorkerMetrics.refresh`), never from the exporter's
thread, so no structure is read while the loop changes it.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

from jiandu.core.leads import Lead
from jiandu.observability.labels import jurisdiction_label, type_label
from jiandu.observability.metrics import streams as m
from streams.clock import PartitionClocks

__all__ = ["PendingDeadlines", "WorkerMetrics"]


class PendingDeadlines:
    """Per entity, each model's earliest pending wake-up (entities with none are not kept), and per model
    how many entities have one, kept as they change: the gauges are refreshed every few seconds, and
    counting them over every entity stalled the event loop in proportion to the persons held."""

    def __init__(self) -> None:
        self._by_entity: dict[bytes, dict[str, int]] = {}
        self._counts: collections.Counter[str] = collections.Counter()

    def update(self, entity: bytes, wakes: Mapping[str, int | None]) -> None:
        """The wake-ups of the models just evaluated on ``entity``."""
        if not wakes:
            return
        pending = self._by_entity.get(entity) or {}
        for model_id, wake in wakes.items():
            if wake is None:
                if pending.pop(model_id, None) is not None:
                    self._counts[model_id] -= 1
            else:
                if model_id not in pending:
                    self._counts[model_id] += 1
                pending[model_id] = wake
        if pending:
            self._by_entity[entity] = pending
        else:
            self._by_entity.pop(entity, None)

    def of(self, entity: bytes) -> Mapping[str, int]:
        """Each model's earliest pending wake-up on ``entity`` (empty: none)."""
        return self._by_entity.get(entity) or {}

    def forget(self, entities: Iterable[bytes]) -> None:
        """Entities of partitions this worker no longer owns."""
        for entity in entities:
            for model_id in self._by_entity.pop(entity, None) or ():
                self._counts[model_id] -= 1

    def counts(self) -> collections.Counter[str]:
        """Entities with a pending wake-up, per model."""
        return +self._counts  # (without the models at zero)

    def overdue(self, entities: Iterable[bytes], before: int) -> collections.Counter[str]:
        """Of ``entities`` (those whose earliest wake-up is before ``before``, epoch ms), per model, how
        many have a wake-up before it."""
        overdue: collections.Counter[str] = collections.Counter()
        for entity in entities:
            for model_id, wake in self.of(entity).items():
                if wake < before:
                    overdue[model_id] += 1
        return overdue

    def entities(self) -> Iterable[bytes]:
        """The entities with a pending wake-up."""
        return list(self._by_entity)


class WorkerMetrics:
    """The worker's series; one per process."""

    def __init__(self, model_ids: Iterable[str], event_types: Iterable[str]) -> None:
        self.model_ids = sorted(model_ids)
        self._known_types = frozenset(event_types)
        self._events = {t: m.EVENTS_PROCESSED.labels(t) for t in self._known_types}
        self._route_seconds = m.PROCESSING_SECONDS.labels("route")
        self._evaluate_seconds = m.PROCESSING_SECONDS.labels("evaluate")
        self._handed_over = m.FACTS_MESSAGES_APPLIED.labels("handed_over")
        self._fetched = m.FACTS_MESSAGES_APPLIED.labels("fetched")
        self.pending = PendingDeadlines()

    def routed(self, types: collections.Counter[str], seconds: float) -> None:
        """A routed batch: events per type and the time it took."""
        for record_type, count in types.items():
            counter = self._events.get(record_type) or m.EVENTS_PROCESSED.labels(type_label(record_type))
            counter.inc(count)
        self._route_seconds.observe(seconds)

    def evaluated(self, facts: int, seconds: float, *, handed_over: bool) -> None:
        """An applied facts message."""
        if facts:
            m.FACTS_APPLIED.inc(facts)
        (self._handed_over if handed_over else self._fetched).inc()
        self._evaluate_seconds.observe(seconds)

    def published(self, leads: Iterable[tuple[Lead, str | None]], ingested: Mapping[str, int], now_ms: int) -> None:
        """Lead versions sent, each with the lead's status before it: the changes of status (raised,
        resolved, withdrawn) per model, severity and jurisdiction; for a new lead raised by a record of
        this message, the time since that record's ingestion."""
        for lead, before in leads:
            if lead.status == before:
                continue
            m.LEADS.labels(lead.model_id, lead.severity, jurisdiction_label(lead.jurisdiction), lead.status).inc()
            ingested_at = ingested.get(lead.trigger_event_id) if before is None else None
            if ingested_at:
                m.LEAD_LATENCY.labels(lead.model_id).observe(max(0.0, (now_ms - ingested_at) / 1000))

    def refresh(
        self,
        clocks: PartitionClocks,
        lags: Mapping[tuple[str, str, int], int],
        overdue_before: int,
        states: tuple[int, int],
        dead_letters: int | None,
    ) -> None:
        """Set the gauges (on the event loop)."""
        now = time.time()
        for partition in clocks.partitions():
            clock = clocks.clock(partition) / 1000
            if clock:
                m.HUB_CLOCK.labels(str(partition)).set(clock)
                m.HUB_CLOCK_BEHIND.labels(str(partition)).set(max(0.0, now - clock))
        for (group, topic, partition), lag in lags.items():
            m.CONSUMER_LAG.labels(group, topic, str(partition)).set(lag)
        pending = self.pending.counts()
        overdue = self.pending.overdue(clocks.scheduled_before(overdue_before), overdue_before)
        for model_id in self.model_ids:
            m.PENDING_DEADLINES.labels(model_id).set(pending.get(model_id, 0))
            m.PENDING_DEADLINES_OVERDUE.labels(model_id).set(overdue.get(model_id, 0))
        m.STATE_ENTITIES.set(states[0])
        m.STATE_BYTES.set(states[1])
        if dead_letters is not None:
            m.DEAD_LETTER_MESSAGES.set(dead_letters)

    @staticmethod
    def forget_partitions(partitions: Iterable[int], topic: str, group: str) -> None:
        """Drop the series of partitions that moved to another worker."""
        for partition in partitions:
            for gauge in (m.HUB_CLOCK, m.HUB_CLOCK_BEHIND):
                _remove(gauge, str(partition))
            _remove(m.CONSUMER_LAG, group, topic, str(partition))


def _remove(metric: Any, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
