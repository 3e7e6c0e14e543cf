"""The hub clock and the deadline scheduler of one worker, per facts partition.

Each partition's clock only moves forward. It advances from stamps the router
puts on facts (backtest: event time minus lateness) and from ticks (live: wall
clock minus grace; backtest: the final ``clock_end``). Entities with a pending
deadline sit in a heap per partition until the clock passes their wake-up time.

Each entity is in the heap once, at its earliest wake-up: an entity is evaluated on
every fact it gets, and a heap entry per evaluation grew the worker by the number of
facts whose deadlines had not passed yet (most of a backtest's history), ≈ 100 bytes each.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

__all__ = ["PartitionClocks"]

#: Superseded heap entries tolerated beyond one per scheduled entity before the heap is rebuilt.
_SUPERSEDED_SLACK = 1024


@dataclass(slots=True)
class _Partition:
    clock: int = 0
    wakes: list[tuple[int, bytes]] = field(default_factory=list)  # heap; superseded entries are skipped
    scheduled: dict[bytes, int] = field(default_factory=dict)  # entity → the wake-up it is due at
    ready: bool = False  # heap rebuilt from the recovered state

    def rebuild(self) -> None:
        """The heap without its superseded entries."""
        self.wakes = [(wake, entity) for entity, wake in self.scheduled.items()]
        heapq.heapify(self.wakes)


class PartitionClocks:
    """Clocks and wake-up heaps of the partitions this worker owns."""

    def __init__(self) -> None:
        self._parts: dict[int, _Partition] = {}

    def part(self, partition: int) -> _Partition:
        """The partition's record (created on first use)."""
        return self._parts.setdefault(partition, _Partition())

    def ready(self, partition: int) -> bool:
        """True once the partition's clock and wake-ups were rebuilt from the table (see ``_Partition.ready``)."""
        part = self._parts.get(partition)
        return part is not None and part.ready

    def clock(self, partition: int) -> int:
        """The partition's hub clock, epoch ms."""
        return self.part(partition).clock

    def advance(self, partition: int, clock: int) -> bool:
        """Move the clock forward (never back); True if it moved."""
        p = self.part(partition)
        if clock > p.clock:
            p.clock = clock
            return True
        return False

    def schedule(self, partition: int, wake_at: int, entity: bytes) -> None:
        """Look at ``entity`` again once the clock reaches ``wake_at``.

        An entity already due at or before ``wake_at`` stays as it is: when that comes, the caller
        looks at it and schedules its next wake-up (``due`` returns it once either way).
        """
        p = self.part(partition)
        current = p.scheduled.get(entity)
        if current is not None and current <= wake_at:
            return
        p.scheduled[entity] = wake_at
        heapq.heappush(p.wakes, (wake_at, entity))
        if len(p.wakes) > 2 * len(p.scheduled) + _SUPERSEDED_SLACK:  # wake-ups moved earlier many times
            p.rebuild()

    def due(self, partition: int) -> list[bytes]:
        """Entities whose wake-up time the clock has reached (each once), no longer scheduled."""
        p = self.part(partition)
        found: list[bytes] = []
        while p.wakes and p.wakes[0][0] <= p.clock:
            wake, entity = heapq.heappop(p.wakes)
            if p.scheduled.get(entity) == wake:  # else superseded by an earlier wake-up, already returned
                del p.scheduled[entity]
                found.append(entity)
        return found

    def next_wake(self) -> int | None:
        """The earliest wake-up scheduled in any partition (possibly superseded by an earlier one: then the
        caller looks too early, never too late)."""
        return min((p.wakes[0][0] for p in self._parts.values() if p.wakes), default=None)

    def scheduled_before(self, before: int) -> list[bytes]:
        """The entities scheduled at a wake-up before ``before`` in any partition, without looking at the
        others: each heap is walked from its root and a subtree left as soon as its root is not before it
        (a child is never earlier than its parent). The work grows with what is found, not with the heap."""
        found: list[bytes] = []
        for p in self._parts.values():
            heap, scheduled = p.wakes, p.scheduled
            stack = [0] if heap else []
            while stack:
                i = stack.pop()
                wake, entity = heap[i]
                if wake >= before:
                    continue
                if scheduled.get(entity) == wake:  # (else superseded)
                    found.append(entity)
                stack.extend(child for child in (2 * i + 1, 2 * i + 2) if child < len(heap))
        return found

    def pending(self, partition: int) -> int:
        """Entities with a scheduled wake-up (a pending deadline) in a partition."""
        return len(self.part(partition).scheduled)

    def heap_size(self, partition: int) -> int:
        """Entries in the partition's wake-up heap, superseded ones included (bounded by the entities)."""
        return len(self.part(partition).wakes)

    def forget(self, partitions: set[int]) -> None:
        """Drop partitions this worker no longer owns."""
        for n in partitions:
            self._parts.pop(n, None)

    def partitions(self) -> list[int]:
        """Partitions known to this worker."""
        return sorted(self._parts)
