"""Fill an empty broker from the durable journal (``jiandu.journal``), before anything else uses it.

Topics first (the embedded broker acknowledges and drops messages sent to a
missing topic), for the topic prefix and partition count each segment's header
names; then every journaled message, to the partition it was confirmed on, with
its key and its journal time as the record timestamp. Only after the broker
confirmed all of it does the caller report ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from jiandu.broker.admin import ensure_topics
from jiandu.errors import BrokerError
from jiandu.journal import directory_lock, read_journal, segments
from jiandu.topics import TopicCatalogue

__all__ = ["ReplayReport", "replay_journal"]

_log = logging.getLogger(__name__)
_CONFIRM_EVERY = 50_000


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What one replay put back: messages, segments, topic prefixes, seconds."""

    messages: int
    segments: int
    prefixes: tuple[str, ...]
    seconds: float

    def __str__(self) -> str:
        prefixes = ", ".join(self.prefixes) or "none"
        return (
            f"{self.messages} journaled messages from {self.segments} segments replayed in {self.seconds:.1f} s "
            f"(topic prefixes: {prefixes})"
        )


def replay_journal(
    directory: Path, bootstrap: str, client_config: Mapping[str, Any] | None = None, *, timeout: float = 600.0
) -> ReplayReport:
    """Create the topics of every journaled prefix, then produce every journaled message; wait for all of it."""
    started = time.monotonic()
    if not directory.is_dir():
        return ReplayReport(0, 0, (), time.monotonic() - started)
    with directory_lock(directory, exclusive=False):  # no compaction swaps segments under the replay
        found = segments(directory)
        catalogues = {(s.topic_prefix, s.partitions) for s in found}
        for prefix, partitions in sorted(catalogues):
            ensure_topics(bootstrap, TopicCatalogue(prefix, partitions).specs(), client_config=client_config)
        count = _produce_all(directory, bootstrap, client_config, timeout) if found else 0
    report = ReplayReport(count, len(found), tuple(sorted({p for p, _ in catalogues})), time.monotonic() - started)
    if found:
        _log.info("journal %s: %s", directory, report)
    return report


def _produce_all(directory: Path, bootstrap: str, client_config: Mapping[str, Any] | None, timeout: float) -> int:
    try:
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            **(client_config or {}),
            acks="all",
            linger_ms=50,
            batch_size=1 << 20,
            max_request_size=8 << 20,
            retries=2_147_483_647,
            max_in_flight_requests_per_connection=1,  # a retry never reorders a partition
        )
    except KafkaError as exc:
        raise BrokerError(f"cannot connect to {bootstrap} to replay the journal: {exc}") from exc
    count = 0
    try:
        futures = []
        for entry in read_journal(directory):
            futures.append(
                producer.send(
                    entry.topic,
                    key=entry.key,
                    value=entry.value,
                    partition=entry.partition,
                    timestamp_ms=entry.timestamp_ms,
                )
            )
            if len(futures) >= _CONFIRM_EVERY:
                count += _confirm(producer, futures, timeout)
                futures = []
        count += _confirm(producer, futures, timeout)
    finally:
        producer.close(timeout=10)
    return count


def _confirm(producer: KafkaProducer, futures: list[Any], timeout: float) -> int:
    producer.flush(timeout=timeout)
    try:
        for future in futures:
            future.get(timeout=timeout)
    except KafkaError as exc:
        raise BrokerError(f"the broker did not confirm the journal's messages: {exc}") from exc
    return len(futures)
