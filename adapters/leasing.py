"""Which sources this adapter replica works, and where their checkpoints live: what a poller or a drop needs.

A REST source or a drop folder (a *unit*) is owned by one replica at a time and taken
over when its owner dies; its checkpoint lives where the next owner reads it. The
hub's commands use :class:`producers.leases.SourceLease` (a Kafka consumer-group
lease, checkpoints on a compacted topic); :class:`SoleOwner` holds every unit itself,
with checkpoints in memory: a feed that is new every run (the simulated agencies of a
demo) and tests of the adapters' own logic.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Checkpoints", "Lease", "SoleOwner", "WorkGate"]


class Checkpoints(Protocol):
    """The latest checkpoint of each unit, as a JSON document."""

    def load(self, unit: str) -> dict[str, Any] | None:
        """The unit's latest checkpoint; None when it has none yet."""

    def save(self, unit: str, document: dict[str, Any]) -> None:
        """Replace the unit's checkpoint durably (DeliveryError if it could not be)."""


class Lease(Protocol):
    """This replica's share of the units (:class:`producers.leases.SourceLease`)."""

    def start(self, taken: Callable[[], None], released: Callable[[], None]) -> None:
        """Take a share: ``taken`` starts work on the units now held; ``released`` returns once that work stopped.

        Both are called from the lease's own thread."""

    def holds(self, unit: str) -> bool:
        """Whether this replica owns ``unit`` now."""

    def close(self) -> None:
        """Stop the work (``released``) and give the units up."""


class WorkGate:
    """Between a lease's thread and one worker thread: the worker works in steps while the gate is open;
    closing it waits for the step under way (a batch confirmed and checkpointed), so no unit is worked on
    after it was released."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = False
        self._busy = False

    def open(self) -> None:
        """Let the worker go on (the lease was taken)."""
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the worker after its current step, and wait for that."""
        with self._cond:
            self._open = False
            self._cond.wait_for(lambda: not self._busy)

    def enter(self, timeout: float = 0.0) -> bool:
        """Begin a step if the gate is open (waiting up to ``timeout`` seconds for it to open)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._open, timeout):
                return False
            self._busy = True
            return True

    def leave(self) -> None:
        """End the step under way (nothing happens without one)."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()


class SoleOwner:
    """A lease on every unit, never shared, with the checkpoints in memory (lost when the process ends)."""

    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._released: Callable[[], None] = lambda: None
        self._holding = False

    def start(self, taken: Callable[[], None], released: Callable[[], None]) -> None:
        self._released, self._holding = released, True
        taken()

    def holds(self, unit: str) -> bool:
        return self._holding

    def close(self) -> None:
        if self._holding:
            self._holding = False
            self._released()

    def load(self, unit: str) -> dict[str, Any] | None:
        found = self._documents.get(unit)
        return copy.deepcopy(found) if found is not None else None

    def save(self, unit: str, document: dict[str, Any]) -> None:
        self._documents[unit] = copy.deepcopy(document)
