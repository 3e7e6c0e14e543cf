"""The deliverer's Prometheus series: every attempt, the backlog per subscription, the dead letters.

The subscription label is the subscription's configured id (``[A-Za-z0-9_-]{1,64}``, a handful
per hub): never its URL, which may carry credentials, nor anything of the lead.

*Backlog* is what waits because a receiver is failing: the lead versions of every lane (one
lead, one subscription) whose current delivery has failed at least once, that delivery
included. A healthy receiver's lanes come and go within a request and count nothing, so the
gauge moves only when something is wrong, and returns to 0 once every retry settled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from jiandu.observability.metrics.consumers import (
    WEBHOOK_ATTEMPT_SECONDS,
    WEBHOOK_BACKLOG,
    WEBHOOK_DEAD_LETTERS,
    WEBHOOK_DELIVERIES,
)

__all__ = ["DEAD_LETTERED", "DELIVERED", "FAILED", "Backlog", "DeadLetterGauge", "outcome_of", "record_attempt"]

DELIVERED = "delivered"
FAILED = "failed"  # the attempt failed and another will follow
DEAD_LETTERED = "dead_lettered"  # the last attempt failed: the delivery is given up

#: A lane: (subscription id, lead id).
LaneKey = tuple[str, str]


class _Counts(Protocol):
    def counts(self) -> dict[str, int]: ...


def outcome_of(error: str | None, last: bool) -> str:
    """The outcome label of one attempt."""
    if error is None:
        return DELIVERED
    return DEAD_LETTERED if last else FAILED


def record_attempt(subscription: str, seconds: float, outcome: str) -> None:
    """Count one attempt by outcome and observe how long its request took."""
    WEBHOOK_DELIVERIES.labels(subscription, outcome).inc()
    WEBHOOK_ATTEMPT_SECONDS.labels(subscription).observe(seconds)


class Backlog:
    """``jiandu_webhook_backlog{subscription}``, kept up to date as lanes fail, grow and settle."""

    def __init__(self, subscriptions: Iterable[str]) -> None:
        self._waiting: dict[str, int] = {}
        self._retrying: set[LaneKey] = set()
        for subscription in subscriptions:
            self._set(subscription, 0)
            for outcome in (DELIVERED, FAILED, DEAD_LETTERED):  # every series exists from the start
                WEBHOOK_DELIVERIES.labels(subscription, outcome)

    def waiting(self, subscription: str) -> int:
        """The current backlog of ``subscription``."""
        return self._waiting.get(subscription, 0)

    def queued(self, lane: LaneKey) -> None:
        """A version joined the lane (behind a retry, it counts)."""
        if lane in self._retrying:
            self._add(lane[0], 1)

    def retrying(self, lane: LaneKey, versions: int) -> None:
        """The lane's current delivery failed and will be tried again; ``versions`` wait in the lane."""
        if lane not in self._retrying:
            self._retrying.add(lane)
            self._add(lane[0], versions)

    def settled(self, lane: LaneKey, versions: int) -> None:
        """The lane's current delivery settled; ``versions`` were in the lane, that one included."""
        if lane in self._retrying:
            self._retrying.discard(lane)
            self._add(lane[0], -versions)

    def clear(self) -> None:
        """The lanes were abandoned (the deliverer stops): nothing waits here any more."""
        self._retrying.clear()
        for subscription in list(self._waiting):
            self._set(subscription, 0)

    def _add(self, subscription: str, n: int) -> None:
        self._set(subscription, self._waiting.get(subscription, 0) + n)

    def _set(self, subscription: str, n: int) -> None:
        self._waiting[subscription] = n
        WEBHOOK_BACKLOG.labels(subscription).set(n)


class DeadLetterGauge:
    """``jiandu_webhook_dead_letters{subscription}`` from the store's rows (0 for a configured subscription
    without any); refreshed when the deliverer dead-letters, and from time to time for the rows that
    ``jiandu webhooks redeliver``, another process, removed."""

    def __init__(self, store: _Counts, subscriptions: Iterable[str]) -> None:
        self._store = store
        self._shown = set(subscriptions)  # configured, or seen in the store: shown until the process ends

    def refresh(self) -> dict[str, int]:
        """Read the counts and set the gauge; returns them."""
        counts = dict.fromkeys(self._shown, 0)
        counts.update(self._store.counts())
        self._shown.update(counts)
        for subscription, n in counts.items():
            WEBHOOK_DEAD_LETTERS.labels(subscription).set(n)
        return counts
