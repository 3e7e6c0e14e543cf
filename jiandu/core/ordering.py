"""Input order for backtests: every accepted event stamped with its position and the hub clock there.

models.md ("Order and time"): in a backtest, the hub clock is the largest
``occurred_at`` seen *in input order* minus the allowed lateness, and a backtest is
deterministic however Kafka interleaves its 28 event topics. The order only exists
here, where the input is read, so the intake stamps it on each event as Kafka
headers: ``jiandu-seq`` (1, 2, 3, … over the accepted events, in input order) and
the backtest clock just before and just after the event (``jiandu-clock-before``,
``jiandu-clock``; epoch ms, 0 before the first event). The streams router merges the
event topics by ``jiandu-seq`` and the evaluator steps its clock by these stamps, so
every worker sees the history as the input file tells it. Live ingest stamps nothing.
"""

from __future__ import annotations

from jiandu.core.events import Event

__all__ = ["CLOCK_AFTER", "CLOCK_BEFORE", "SEQ", "InputSequence"]

SEQ = "jiandu-seq"
CLOCK_BEFORE = "jiandu-clock-before"
CLOCK_AFTER = "jiandu-clock"


class InputSequence:
    """Numbers accepted events in input order and carries the backtest clock along."""

    def __init__(self, lateness_ms: int) -> None:
        self._lateness = lateness_ms
        self.seq = 0
        self.clock = 0

    def stamp(self, event: Event) -> list[tuple[str, bytes]]:
        """The headers of the next accepted event (call once per event, in input order)."""
        before = self.clock
        self.seq += 1
        self.clock = max(self.clock, event.occurred_at - self._lateness)
        return [(SEQ, b"%d" % self.seq), (CLOCK_BEFORE, b"%d" % before), (CLOCK_AFTER, b"%d" % self.clock)]
