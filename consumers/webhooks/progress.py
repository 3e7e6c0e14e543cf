"""Which lead-topic offsets may be committed while webhook deliveries finish out of order.

A message is done when every delivery it caused succeeded or was dead-lettered.
Deliveries of different leads finish in any order, so the committable offset of
a partition is the offset of its first message not yet done: a restart
re-delivers from there and never skips a delivery (at least once).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["PartitionProgress"]


@dataclass(slots=True)
class _Message:
    offset: int
    outstanding: int


class PartitionProgress:
    """Outstanding deliveries per message of one partition, in offset order."""

    def __init__(self) -> None:
        self._messages: deque[_Message] = deque()
        self._by_offset: dict[int, _Message] = {}
        self._done_up_to: int | None = None  # next offset to commit

    def add(self, offset: int, deliveries: int) -> None:
        """A message was read that caused ``deliveries`` deliveries (0: nothing to deliver)."""
        message = _Message(offset, deliveries)
        self._messages.append(message)
        self._by_offset[offset] = message
        self._advance()

    def done(self, offset: int) -> None:
        """One delivery of the message at ``offset`` succeeded or was dead-lettered."""
        message = self._by_offset.get(offset)
        if message is None:
            return  # its partition was revoked and re-added since: the message will be read again
        message.outstanding -= 1
        self._advance()

    @property
    def committable(self) -> int | None:
        """The offset to commit (every message before it is done), or None if nothing new is done."""
        return self._done_up_to

    @property
    def outstanding(self) -> int:
        """Messages read and not yet done."""
        return len(self._messages)

    def _advance(self) -> None:
        while self._messages and self._messages[0].outstanding <= 0:
            message = self._messages.popleft()
            del self._by_offset[message.offset]
            self._done_up_to = message.offset + 1
