"""A kafka-python consumer in a group, committing by hand: what every long-running reader of the leads shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError

from jiandu.broker import KafkaConsumer
from jiandu.errors import BrokerError

__all__ = ["GroupMembership", "GroupOptions", "group_consumer"]


@dataclass(frozen=True, slots=True)
class GroupOptions:
    """How a group consumer talks to the broker (from the settings: short sessions on the embedded broker)."""

    session_timeout_seconds: float = 6.0
    fetch_max_wait_ms: int = 20


class GroupMembership(ConsumerRebalanceListener):
    """Whether a group consumer has joined its group, and how many partitions it holds.

    kafka-python calls it from the consumer's poll; a readiness probe reads it from the
    metrics thread (:meth:`problem`), which needs nothing more than two plain attributes.
    Joined once stays joined: a later rebalance is routine, not a reason to hold traffic.
    """

    def __init__(self, group: str = "") -> None:
        self.group = group
        self.joined = False
        self.partitions = 0
        self._held: set[TopicPartition] = set()

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._held -= set(revoked)
        self.partitions = len(self._held)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._held |= set(assigned)
        self.partitions = len(self._held)
        self.joined = True

    def problem(self) -> str | None:
        """Readiness: None once the consumer has joined its group, else why not."""
        if self.joined:
            return None
        return f"consumer group {self.group or '?'}: not joined yet (no partitions assigned)"


class _Listeners(ConsumerRebalanceListener):
    """Several listeners in order: the state restored before the membership says joined."""

    def __init__(self, *listeners: ConsumerRebalanceListener) -> None:
        self._listeners = listeners

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for listener in self._listeners:
            listener.on_partitions_revoked(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        for listener in self._listeners:
            listener.on_partitions_assigned(assigned)


def group_consumer(
    client_config: Mapping[str, Any],
    topic: str,
    group: str,
    options: GroupOptions,
    membership: GroupMembership | None = None,
    state: ConsumerRebalanceListener | None = None,
) -> KafkaConsumer:
    """A consumer of ``topic`` in ``group`` that starts at the beginning and never commits on its own.

    ``membership``, when given, follows the group's assignments (for a readiness probe); ``state``
    (a :class:`consumers._changelog.ChangelogState`) is told of every rebalance before it.
    """
    session_ms = int(options.session_timeout_seconds * 1000)
    try:
        consumer = KafkaConsumer(
            **client_config,
            group_id=group,
            client_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=options.fetch_max_wait_ms,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 4, 500),
            max_partition_fetch_bytes=1 << 20,
        )
    except KafkaError as exc:
        where = client_config.get("bootstrap_servers")
        raise BrokerError(f"cannot connect consumer group {group!r} to {where}: {exc}. Is the broker running?") from exc
    if membership is not None and not membership.group:
        membership.group = group
    listeners = [x for x in (state, membership) if x is not None]
    consumer.subscribe([topic], listener=_Listeners(*listeners))
    return consumer
