"""The router's merge of the event topics back into input order (backtests).

A backtest's intake numbers the accepted events 1, 2, 3, … in input order
(``jiandu-seq``, :mod:`jiandu.core.ordering`). Kafka hands them over per topic
partition, 28 topics × N partitions interleaved however the fetches fall; this
releases them strictly by number, holding back each until every lower one has been
released. Within one topic partition the numbers only grow, so what is released is
a prefix of every partition's fetched records, and their offsets can be committed.

While the router trails the intake, a partition of a rare record type covers far more
numbers per fetch than a busy one and runs ahead: its records would pile up here
without bound (1.2 GB in a worker at 1 M persons). :meth:`InputOrder.ahead` names the
partitions fetched more than ``window`` numbers ahead, for the router to pause until
the merge catches up; none of them holds the next number, so pausing them cannot stall it.
Many partitions each within the window can still hold a lot between them (112 event
partitions at 1 M persons): past ``max_held`` records, every partition fetched beyond the
next number is named, which bounds what is held by count, whatever the mix of types.
What is held is only what the router needs of a record (its position and stamped value),
not the consumer record with its headers: ≈ half the memory per held record.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from jiandu.core.ordering import CLOCK_AFTER, CLOCK_BEFORE, SEQ

__all__ = ["InputOrder", "Position", "Stamped", "stamps_of"]

#: (value, clock before, clock after) of one event, as ``StreamsWorker.route`` takes it.
Stamped = tuple[bytes, int, int]
#: (topic, partition, offset) of one event: what its routing lets the router commit.
Position = tuple[str, int, int]


def stamps_of(record: Any) -> tuple[int, int, int]:
    """(seq, clock before, clock after) from a consumer record's headers; zeros when unstamped."""
    headers = record.headers
    if (  # as the intake writes them (``InputSequence.stamp``): read in place, no dict per record
        headers is not None
        and len(headers) == 3
        and headers[0][0] == SEQ
        and headers[1][0] == CLOCK_BEFORE
        and headers[2][0] == CLOCK_AFTER
    ):
        return int(headers[0][1]), int(headers[1][1]), int(headers[2][1])
    found = {name: value for name, value in (headers or ()) if name in (SEQ, CLOCK_BEFORE, CLOCK_AFTER)}
    if SEQ not in found:
        return 0, 0, 0
    return int(found[SEQ]), int(found.get(CLOCK_BEFORE, b"0")), int(found.get(CLOCK_AFTER, b"0"))


class InputOrder:
    """Releases stamped records in ``jiandu-seq`` order (unstamped ones at once)."""

    def __init__(self) -> None:
        self.next_seq = 1
        self._held: list[tuple[int, int, Position, Stamped]] = []  # (seq, arrival, position, stamped)
        self._arrivals = 0
        self._fetched: dict[tuple[str, int], int] = {}  # topic partition → highest number fetched

    def add(self, records: Iterable[Any]) -> list[tuple[Position, Stamped]]:
        """Take fetched records; return those now releasable, in input order: their positions and stamps."""
        released: list[tuple[Position, Stamped]] = []
        for record in records:
            seq, before, after = stamps_of(record)
            position = (record.topic, record.partition, record.offset)
            if not seq:
                released.append((position, (record.value, 0, 0)))
            elif seq >= self.next_seq:  # a lower one was released already: fetched again after a rebalance
                self._fetched[(record.topic, record.partition)] = seq
                self._arrivals += 1
                heapq.heappush(self._held, (seq, self._arrivals, position, (record.value, before, after)))
        while self._held and self._held[0][0] <= self.next_seq:
            seq, _, position, stamped = heapq.heappop(self._held)
            if seq == self.next_seq:
                self.next_seq += 1
                released.append((position, stamped))
        return released

    def ahead(self, window: int, max_held: int) -> set[tuple[str, int]]:
        """Topic partitions whose fetched records reach more than ``window`` numbers past the next one;
        once more than ``max_held`` records are held, every partition fetched past the next number."""
        reach = self.next_seq + (window if len(self._held) <= max_held else 0)
        return {tp for tp, seq in self._fetched.items() if seq > reach}

    @property
    def held(self) -> int:
        """Records waiting for a lower number."""
        return len(self._held)
