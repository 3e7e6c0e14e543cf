"""Backoff and lockout after failed sign-ins, per key (a user name, a client address).

A key may fail ``free_failures`` times; each failure after that makes it wait twice as
long as the one before (``base_seconds`` doubling up to ``max_seconds``), and once it
reaches ``lockout_failures`` it is locked out for ``lockout_seconds``: every attempt
meanwhile is refused at once, before any password is hashed, so a flood costs nothing
but a dictionary lookup. A success clears the key. Failures older than
``lockout_seconds`` are forgotten. At most ``max_keys`` keys are kept (the least
recently failed go first), so a flood from many addresses cannot grow memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FailureThrottle", "Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refused attempt: whole seconds to wait (``Retry-After``) and whether the key is locked out."""

    retry_after: int
    locked: bool


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    blocked_until: float


class FailureThrottle:
    """Counts failures per key; :meth:`check` says whether an attempt may even be tried."""

    def __init__(
        self,
        *,
        free_failures: int = 5,
        base_seconds: float = 1.0,
        max_seconds: float = 60.0,
        lockout_failures: int = 20,
        lockout_seconds: float = 900.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self.lockout_failures = lockout_failures
        self.lockout_seconds = lockout_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, *keys: str) -> Verdict | None:
        """None when an attempt for all of ``keys`` may be tried now, else the longest wait among them."""
        now = self._clock()
        waits = []
        with self._lock:
            for key in keys:
                entry = self._current(key, now)
                if entry is not None and entry.blocked_until > now:
                    locked = entry.count >= self.lockout_failures
                    waits.append(Verdict(max(1, math.ceil(entry.blocked_until - now)), locked))
        return max(waits, key=lambda v: (v.locked, v.retry_after), default=None)

    def failed(self, *keys: str) -> Verdict | None:
        """Record a failure for each key; the verdict for the next attempt (None: it may follow at once)."""
        now = self._clock()
        with self._lock:
            for key in keys:
                entry = self._current(key, now) or _Failures(0, now, now)
                entry.count += 1
                entry.last = now
                entry.blocked_until = now + self._wait(entry.count)
                self._keys[key] = entry
                self._keys.move_to_end(key)
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        return self.check(*keys)

    def succeeded(self, *keys: str) -> None:
        """Clear the keys' failures."""
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last > self.lockout_seconds and entry.blocked_until <= now:
            del self._keys[key]
            return None
        return entry

    def _wait(self, count: int) -> float:
        if count >= self.lockout_failures:
            return self.lockout_seconds
        if count < self.free_failures:
            return 0.0
        return min(self.max_seconds, self.base_seconds * 2 ** (count - self.free_failures))
