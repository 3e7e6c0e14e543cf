"""What a streams worker wrote during a run, read back from its topics after the run.

Producer timestamps (epoch ms, set by the worker's aiokafka producer on this host)
time the stages; the facts, state changelog and leads topics give the counts and
sizes behind the throughput and memory figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.topic_scan import scan_topics
from jiandu.topics import TopicCatalogue

__all__ = ["OutputTimes", "scan_outputs"]

_TICK_KEY = b"__tick__"
_CLOCK_KEY_PREFIX = b"__clock__"
_PERSON_PREFIX = b"P:"


@dataclass(slots=True)
class OutputTimes:
    """Timestamps, counts and sizes of a run's facts, changelog, leads and progress messages."""

    tick_ms: int  # when the benchmark sent the clock_end tick
    facts: int = 0
    first_fact_ms: int = 0
    last_fact_ms: int = 0
    changelog_writes: int = 0
    changelog_bytes: int = 0
    lead_versions: int = 0
    last_output_before_tick_ms: int = 0
    last_clock_report_ms: int = 0
    state_sizes: dict[bytes, int] = field(default_factory=dict)  # entity → size of its latest state

    def visit(self, catalogue: TopicCatalogue, topic: str, records: Sequence[Any]) -> None:
        """Account for one fetched batch of ``topic``."""
        if topic == catalogue.facts:
            self._facts([r for r in records if r.key != _TICK_KEY])
        elif topic == catalogue.progress:
            self.last_clock_report_ms = max([self.last_clock_report_ms, *(r.timestamp for r in records)])
        elif topic == catalogue.state_changelog:
            self.changelog_writes += len(records)
            for r in records:
                self.changelog_bytes += len(r.value or b"")
                self.state_sizes[r.key] = len(r.value or b"")
            self._outputs(records)
        else:
            self.lead_versions += len(records)
            self._outputs(records)

    def _facts(self, records: Sequence[Any]) -> None:
        if not records:
            return
        self.facts += len(records)
        first, last = min(r.timestamp for r in records), max(r.timestamp for r in records)
        self.first_fact_ms = min(self.first_fact_ms, first) if self.first_fact_ms else first
        self.last_fact_ms = max(self.last_fact_ms, last)

    def _outputs(self, records: Sequence[Any]) -> None:
        before = [r.timestamp for r in records if r.timestamp < self.tick_ms]
        self.last_output_before_tick_ms = max([self.last_output_before_tick_ms, *before])

    @property
    def last_work_before_tick_ms(self) -> int:
        """The last fact routed or output written before the benchmark's clock_end tick."""
        return max(self.last_fact_ms, self.last_output_before_tick_ms)

    @property
    def persons_with_state(self) -> int:
        """Person entities (``P:…``) the worker keeps state for."""
        return sum(1 for k in self.state_sizes if k.startswith(_PERSON_PREFIX))

    @property
    def entities_with_state(self) -> int:
        """Every entity with state (persons, organisations, administrative cases); clock keys left out."""
        return sum(1 for k in self.state_sizes if not k.startswith(_CLOCK_KEY_PREFIX))

    @property
    def person_state_bytes(self) -> int:
        """Serialised size of the latest state of every person (what the worker's table holds for them)."""
        return sum(size for k, size in self.state_sizes.items() if k.startswith(_PERSON_PREFIX))


def scan_outputs(bootstrap: str, catalogue: TopicCatalogue, tick_ms: int, *, timeout: float) -> OutputTimes:
    """Read the facts, state changelog, leads and progress topics of a finished run."""
    times = OutputTimes(tick_ms)
    topics = [catalogue.facts, catalogue.state_changelog, catalogue.leads, catalogue.progress]
    scan_topics(bootstrap, topics, lambda topic, records: times.visit(catalogue, topic, records), timeout=timeout)
    return times
