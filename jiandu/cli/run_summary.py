"""What ``jiandu run`` tells the terminal between lead lines: a short summary every half minute.

The record counts are read from the intake's Prometheus counters of this process
(the adapters run here), so the summary and ``/metrics`` cannot disagree; the push
API's duplicates come from its answers (a duplicate is neither accepted nor
rejected, and a summary without them read ``0 accepted, 0 rejected`` for a batch
of twenty already-sent records).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from prometheus_client import Counter as MetricCounter

from jiandu.observability.metrics.intake import RECORDS_ACCEPTED, RECORDS_REJECTED

__all__ = ["PushTotals", "RunSummary"]


class PushTotals:
    """The push API's answers added up: accepted, duplicate (already sent, ignored) and rejected."""

    KEYS = ("accepted", "duplicate", "rejected")

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, answer: dict[str, int]) -> None:
        """Add one batch answer of the push API."""
        with self._lock:
            for key in self.KEYS:
                self._counts[key] += int(answer.get(key, 0))

    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts[key]

    def line(self) -> str:
        """``push API: 104 accepted, 20 duplicates, 3 rejected (dead-lettered)``."""
        accepted, duplicate, rejected = (self[key] for key in self.KEYS)
        return (
            f"push API: {accepted} accepted, {duplicate} duplicate{'' if duplicate == 1 else 's'} (already sent), "
            f"{rejected} rejected (dead-lettered)"
        )


class RunSummary:
    """Counts the lead versions printed and writes the periodic summary line."""

    def __init__(self, push: PushTotals, every_seconds: float) -> None:
        self.push = push
        self.every_seconds = every_seconds
        self.leads: Counter[str] = Counter()
        self._started = time.monotonic()
        self._next = self._started + every_seconds

    def lead(self, status: str) -> None:
        """A lead version was printed."""
        self.leads[status] += 1

    def due(self) -> bool:
        """True once per period."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every_seconds
        return True

    def line(self) -> str:
        """``[0:30] records: 230 accepted, 15 dead-lettered, … · leads: 37 versions (35 OPEN, 2 RESOLVED)``."""
        elapsed = int(time.monotonic() - self._started)
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(self.leads.items()))
        return (
            f"[{elapsed // 60}:{elapsed % 60:02}] records: {_total(RECORDS_ACCEPTED)} accepted, "
            f"{_total(RECORDS_REJECTED)} dead-lettered, {self.push['duplicate']} duplicates ignored · "
            f"leads: {sum(self.leads.values())} versions" + (f" ({statuses})" if statuses else "")
        )


def _total(counter: MetricCounter) -> int:
    """The sum of a labelled counter's children in this process."""
    return int(
        sum(sample.value for family in counter.collect() for sample in family.samples if sample.name.endswith("_total"))
    )
