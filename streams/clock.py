"""The hub clock and the deadline scheduler of one worker, per facts partition.

Each partition's clock only moves forward. It advances from stamps the router
puts on facts (backtest: event time minus lateness) and from ticks (live: wall
clock minus grace; backtest: the final ``clock_end``). Entities with a pending
deadline sit in a heap per partition until the clock passes their wake-up time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

__all__ = ["PartitionClocks"]


@dataclass(slots=True)
class _Partition:
    clock: int = 0
    wakes: list[tuple[int, bytes]] = field(default_factory=list)
    ready: bool = False  # heap rebuilt from the recovered state


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
        """Look at ``entity`` again once the clock reaches ``wake_at``."""
        heapq.heappush(self.part(partition).wakes, (wake_at, entity))

    def due(self, partition: int) -> list[bytes]:
        """Entities whose wake-up time the clock has reached (each once)."""
        p = self.part(partition)
        found: dict[bytes, None] = {}
        while p.wakes and p.wakes[0][0] <= p.clock:
            found[heapq.heappop(p.wakes)[1]] = None
        return list(found)

    def pending(self, partition: int) -> int:
        """Scheduled wake-ups (the pending deadlines) of a partition."""
        return len(self.part(partition).wakes)

    def forget(self, partitions: set[int]) -> None:
        """Drop partitions this worker no longer owns."""
        for n in partitions:
            self._parts.pop(n, None)

    def partitions(self) -> list[int]:
        """Partitions known to this worker."""
        return sorted(self._parts)
