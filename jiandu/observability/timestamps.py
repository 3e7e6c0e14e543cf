"""A gauge of "when did it last happen", exported both as a timestamp and as an age.

Prometheus can compute an age itself (``time() - x_timestamp_seconds``), but an
operator reading ``/metrics`` by hand, and a dashboard, want the age directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["TimestampGauge"]


class TimestampGauge(Collector):
    """``<name>_timestamp_seconds`` and ``<name>_age_seconds`` per label set."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], *, register: bool = True) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self._times: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        if register:
            REGISTRY.register(self)

    def mark(self, *labels: str, at: float | None = None) -> None:
        """Record that it happened now (or at ``at``, Unix seconds)."""
        with self._lock:
            self._times[tuple(labels)] = time.time() if at is None else at

    def value(self, *labels: str) -> float | None:
        """The recorded time, if any."""
        with self._lock:
            return self._times.get(tuple(labels))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        stamps, ages = self._families()
        with self._lock:
            items = list(self._times.items())
        for labels, at in items:
            stamps.add_metric(list(labels), at)
            ages.add_metric(list(labels), max(0.0, now - at))
        yield stamps
        yield ages

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        labels = self.labelnames
        return (
            GaugeMetricFamily(f"{self.name}_timestamp_seconds", f"{self.documentation} (Unix time).", labels=labels),
            GaugeMetricFamily(f"{self.name}_age_seconds", f"{self.documentation}: seconds ago.", labels=labels),
        )
