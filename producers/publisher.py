"""Publishing to Kafka with delivery confirmed: nothing counts as accepted before the broker says so."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from jiandu.errors import BrokerError, DeliveryError

__all__ = ["KafkaPublisher", "PendingSend"]


@dataclass(slots=True)
class PendingSend:
    """A message handed to the producer whose delivery is not yet confirmed."""

    future: Any
    on_success: Callable[[], None] = field(default=lambda: None)


class _CachedPartitioner(DefaultPartitioner):
    """kafka-python's default partitioner (murmur2 of the key, as the Java client) with recent hashes cached.

    One person's events share a key; the pure-Python murmur2 costs ≈ 6 µs a record.
    """

    def __init__(self) -> None:
        self._hash = functools.lru_cache(maxsize=1 << 16)(murmur2)

    def partition(
        self, topic: str, key: Any, serialized_key: bytes | None, value: Any, serialized_value: Any, cluster: Any
    ) -> int:
        partitions = cluster.partitions_for_topic(topic) if serialized_key is not None else None
        if not partitions:
            return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
        ordered = sorted(partitions)
        return int(ordered[(self._hash(serialized_key) & 0x7FFFFFFF) % len(ordered)])


class KafkaPublisher:
    """kafka-python producer tuned for no loss: acks=all, idempotence, retries, confirmed flushes.

    Every caller confirms (:meth:`confirm` flushes, sending at once), so the linger only
    decides how long records wait between confirms. A long one keeps batches full: each
    new batch wakes the producer's sender thread, and at 20 ms the intake created one
    for nearly every record spread over 112 event partitions (≈ 24 k wake-ups and
    thread switches for 117 k records; ≈ 2.4 k at 500 ms, with 10–25 % less CPU).
    """

    def __init__(
        self, client_config: dict[str, Any], *, linger_ms: int = 500, confirm_timeout: float | None = None
    ) -> None:
        """``confirm_timeout``: the longest :meth:`send` and :meth:`confirm` wait for the broker (seconds;
        None: two minutes); past it they raise DeliveryError instead of blocking a caller that must answer."""
        self._confirm_timeout = 120.0 if confirm_timeout is None else confirm_timeout
        try:
            self._producer = KafkaProducer(
                **client_config,
                acks="all",
                enable_idempotence=True,
                retries=2_147_483_647,
                max_in_flight_requests_per_connection=5,
                linger_ms=linger_ms,
                batch_size=1 << 20,
                partitioner=_CachedPartitioner(),
                request_timeout_ms=30_000,
                delivery_timeout_ms=120_000,
                max_block_ms=int(self._confirm_timeout * 1000),
            )
        except KafkaError as exc:
            raise BrokerError(
                f"cannot connect a producer to {client_config.get('bootstrap_servers')}: {exc}. "
                "Is the broker running (jiandu broker) or JIANDU_KAFKA_BOOTSTRAP right?"
            ) from exc
        self._pending: list[PendingSend] = []

    def send(
        self,
        topic: str,
        key: str,
        value: bytes,
        on_success: Callable[[], None] | None = None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue a message; ``on_success`` runs once its delivery is confirmed by :meth:`confirm`.

        DeliveryError when the producer cannot take it (no metadata from the broker in time, a message
        over the size limit): never a client library's exception.
        """
        try:
            future = self._producer.send(topic, key=key.encode(), value=value, partition=partition, headers=headers)
        except KafkaError as exc:
            raise DeliveryError(f"the producer did not take a message for {topic}: {exc!r}; send it again") from exc
        self._pending.append(PendingSend(future, on_success or (lambda: None)))

    def confirm(self, timeout: float | None = None) -> None:
        """Flush and wait for every queued message; raise DeliveryError if any was not acknowledged in time."""
        timeout = self._confirm_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise DeliveryError(
                f"the broker did not confirm {len(pending)} messages within {timeout:g} s ({exc!r}); they were "
                "not counted as accepted — send them again"
            ) from exc
        failures = []
        for item in pending:
            try:
                item.future.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as exc:
                failures.append(exc)
                continue
            item.on_success()
        if failures:
            raise DeliveryError(
                f"{len(failures)} of {len(pending)} messages were not acknowledged by the broker "
                f"(first: {failures[0]!r}); they were not counted as accepted — send them again"
            )

    @property
    def pending(self) -> int:
        """Messages queued and not yet confirmed."""
        return len(self._pending)

    def close(self) -> None:
        """Confirm what is queued, then close."""
        try:
            if self._pending:
                self.confirm()
        finally:
            try:
                self._producer.close(timeout=10)
            except KafkaError as exc:  # messages the broker never took: nothing of them was counted accepted
                raise DeliveryError(f"the producer closed with messages the broker did not confirm: {exc!r}") from exc

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
