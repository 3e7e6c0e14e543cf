"""A background thread that deletes expired rows in small batches, so that requests never wait long.

The gateway's accepted event ids (``receipts.py``) expire after
``JIANDU_GATEWAY_RECEIPT_DAYS``. Deleting a month of ids in one statement would
hold the database (and every push request waiting on it) for as long as that
takes; one batch at a time, with a short pause between batches, a request waits
at most for one batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["BatchPruner"]

log = logging.getLogger("jiandu.gateway")


class BatchPruner:
    """Calls ``prune_batch(batch)`` (returns rows deleted) until a batch is short, every ``interval_seconds``.

    The first round runs at start, so a gateway restarted after a long pause
    catches up at once. A failing round is logged and tried again next interval.
    """

    def __init__(
        self,
        prune_batch: Callable[[int], int],
        *,
        interval_seconds: float = 3600.0,
        batch: int = 1000,
        pause_seconds: float = 0.01,
        what: str = "rows",
    ) -> None:
        self._prune_batch = prune_batch
        self._interval = interval_seconds
        self._batch = batch
        self._pause = pause_seconds
        self._what = what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"prune {what}", daemon=True)
        self.rounds = 0
        """Rounds finished (tests wait on it)."""

    def start(self) -> BatchPruner:
        """Start the thread."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current batch."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def prune(self) -> int:
        """One round: batches until one deletes fewer than ``batch`` rows (or a stop); returns rows deleted."""
        deleted = 0
        while not self._stop.is_set():
            count = self._prune_batch(self._batch)
            deleted += count
            if count < self._batch or self._stop.wait(self._pause):
                break
        return deleted

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deleted = self.prune()
            except Exception as exc:  # a locked or broken database must not end the thread: logged, tried again
                log.error("deleting expired %s failed: %s; trying again in %g s", self._what, exc, self._interval)
            else:
                if deleted:
                    log.info("deleted %d expired %s", deleted, self._what)
            self.rounds += 1
            self._stop.wait(self._interval)
