"""The intake's Prometheus counters: received, accepted and rejected per adapter, source and type.

Every label value goes through :mod:`jiandu.observability.labels` (never an ID
number, a bounded set of values). The intake handles about ten thousand records a
second, so the labelled children of each (source, type) as sent are resolved once
and kept: ``Counter.labels`` validates and looks the labels up under a lock on
every call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import Counter

from jiandu.core.records import RECORD_TYPES
from jiandu.observability.labels import reason_label, source_label, type_label
from jiandu.observability.metrics.intake import RECORDS_ACCEPTED, RECORDS_RECEIVED, RECORDS_REJECTED
from producers.known_reasons import reason_labels

__all__ = ["Flow", "IntakeCounters", "declare_flow"]

_KNOWN_TYPES = frozenset(RECORD_TYPES)
_MAX_FLOWS = 4_096  # (source, type) pairs as sent; garbage sources must not grow the cache without end


class Flow:
    """The counters of one (adapter, source label, type label), resolved once."""

    __slots__ = ("accepted", "received", "source", "type")

    def __init__(self, adapter: str, source: str, record_type: str) -> None:
        self.source = source
        self.type = record_type
        self.received: Counter = RECORDS_RECEIVED.labels(adapter, source, record_type)
        self.accepted: Counter = RECORDS_ACCEPTED.labels(adapter, source, record_type)


class IntakeCounters:
    """Resolves a record's :class:`Flow` from its ``source`` and ``type`` fields, and counts rejections."""

    def __init__(self, adapter: str) -> None:
        self.adapter = adapter
        self._flows: dict[tuple[str | None, str | None], Flow] = {}

    def flow(self, record: object) -> Flow:
        """The counters of the record's source and type as sent (``invalid`` labels when malformed)."""
        fields = record if isinstance(record, Mapping) else {}
        source, record_type = fields.get("source"), fields.get("type")
        key = (source if isinstance(source, str) else None, record_type if isinstance(record_type, str) else None)
        flow = self._flows.get(key)
        if flow is None:
            if len(self._flows) >= _MAX_FLOWS:
                self._flows.clear()
            flow = self._flows[key] = Flow(self.adapter, source_label(key[0]), type_label(key[1], _KNOWN_TYPES))
        return flow

    def rejected(self, flow: Flow, field: str | None, rule: str) -> None:
        """Count a dead letter the broker confirmed, by reason ``<field>:<rule>``."""
        RECORDS_REJECTED.labels(self.adapter, flow.source, flow.type, reason_label(field, rule)).inc()


def declare_flow(adapter: str, source: str, record_type: str, rules: Iterable[str] = ()) -> None:
    """Export a flow an adapter knows before its first record at 0: received, accepted and every reason.

    A series that first appears already holding a count hides that count from ``rate()``
    and ``increase()``. ``rules``: the adapter's own reasons without a field
    (the file drop's ``mapping`` and ``unreadable``).
    """
    labels = (adapter, source_label(source), type_label(record_type, _KNOWN_TYPES))
    RECORDS_RECEIVED.labels(*labels)
    RECORDS_ACCEPTED.labels(*labels)
    reasons = reason_labels(record_type) if record_type in _KNOWN_TYPES else frozenset()
    for reason in (*reasons, *(reason_label(None, rule) for rule in rules)):
        RECORDS_REJECTED.labels(*labels, reason)
