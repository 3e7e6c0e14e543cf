"""A kafka-python consumer in a group, committing by hand: what every long-running reader of the leads shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from jiandu.errors import BrokerError

__all__ = ["GroupOptions", "group_consumer"]


@dataclass(frozen=True, slots=True)
class GroupOptions:
    """How a group consumer talks to the broker (from the settings: short sessions on the embedded broker)."""

    session_timeout_seconds: float = 6.0
    fetch_max_wait_ms: int = 20


def group_consumer(client_config: Mapping[str, Any], topic: str, group: str, options: GroupOptions) -> KafkaConsumer:
    """A consumer of ``topic`` in ``group`` that starts at the beginning and never commits on its own."""
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
    consumer.subscribe([topic])
    return consumer
