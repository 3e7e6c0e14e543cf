"""The webhook dead letters, in a compacted topic that every replica, on every host, sees.

``<prefix>.consumers.webhook-dead-letters``: one message per dead-lettered delivery, keyed by
group, subscription, lead and version, its value the delivery as JSON (body included, as it
was sent); a tombstone once ``jiandu webhooks redeliver`` got it through. The deliverer that
dead-letters writes it (confirmed by the broker, and on the embedded broker journaled)
before the lead-topic offset can pass the message it came from, so ``jiandu webhooks
failed`` and ``redeliver``, run anywhere, read the same list by reading the topic to its end.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from jiandu.broker import KafkaConsumer, Outgoing, high_watermarks, send_confirmed
from jiandu.errors import BrokerError
from jiandu.journal import JournalWriter

__all__ = ["FailedDelivery", "FailedDeliveryStore"]

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that failed every attempt."""

    subscription: str
    lead_id: str
    version: int
    delivery_id: str
    body: bytes = field(repr=False)
    attempts: int
    last_error: str
    failed_at: int

    def to_json(self) -> bytes:
        """The topic's value."""
        return json.dumps({**asdict(self), "body": self.body.decode()}, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, value: bytes) -> FailedDelivery:
        """Read a value of the topic."""
        data = json.loads(value)
        return cls(**{**data, "body": data["body"].encode()})


class FailedDeliveryStore:
    """One consumer group's webhook dead letters: written to the topic, read from it to its end."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        topic: str,
        group: str,
        *,
        journal: JournalWriter | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.topic = topic
        self.group = group
        self._client_config = dict(client_config)
        self.journal = journal
        self._timeout = timeout
        self._lock = threading.Lock()
        self._letters: dict[str, FailedDelivery] = {}
        try:
            self._producer = KafkaProducer(**client_config, acks="all", enable_idempotence=True, retries=2_147_483_647)
            self._reader = KafkaConsumer(**client_config, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=20)
        except KafkaError as exc:
            raise BrokerError(
                f'cannot connect the webhook dead letters "{topic}": {exc}. Is the broker running?'
            ) from exc
        self._partitions: list[TopicPartition] = []

    def add(self, failed: FailedDelivery) -> None:
        """Keep a failed delivery (a second failure of the same version replaces the first, adding attempts)."""
        self.refresh()
        with self._lock:
            earlier = self._letters.get(self._key(failed))
        if earlier is not None:
            failed = FailedDelivery(**{**asdict(failed), "attempts": earlier.attempts + failed.attempts})
        self._write(self._key(failed), failed.to_json())

    def remove(self, failed: FailedDelivery) -> None:
        """A re-delivery succeeded: its tombstone."""
        self._write(self._key(failed), None)

    def failed(self, *, subscription: str | None = None, lead_id: str | None = None) -> list[FailedDelivery]:
        """Failed deliveries, by subscription, lead and version (the order to re-deliver them in)."""
        self.refresh()
        with self._lock:
            rows = [
                row
                for row in self._letters.values()
                if subscription in (None, row.subscription) and lead_id in (None, row.lead_id)
            ]
        return sorted(rows, key=lambda r: (r.subscription, r.lead_id, r.version))

    def counts(self) -> dict[str, int]:
        """Dead letters per subscription (only subscriptions that have some)."""
        counts: dict[str, int] = {}
        for row in self.failed():
            counts[row.subscription] = counts.get(row.subscription, 0) + 1
        return counts

    def refresh(self) -> None:
        """Read what was written to the topic since the last read, by any process, up to its end."""
        bootstrap = self._client_config["bootstrap_servers"]
        settings = {k: v for k, v in self._client_config.items() if k != "bootstrap_servers"}
        ends = high_watermarks(
            ",".join(bootstrap) if isinstance(bootstrap, list) else bootstrap, [self.topic], settings
        )
        with self._lock:
            if not self._partitions:
                self._partitions = [TopicPartition(t, p) for t, p in sorted(ends)]
                self._reader.assign(self._partitions)
                self._reader.seek_to_beginning(*self._partitions)
            deadline = time.monotonic() + self._timeout
            while any(self._reader.position(tp) < ends[(tp.topic, tp.partition)] for tp in self._partitions):
                if time.monotonic() > deadline:
                    raise BrokerError(f'reading "{self.topic}" did not reach its end within {self._timeout:.0f} s')
                for records in self._reader.poll(timeout_ms=200, max_records=10_000).values():
                    for record in records:
                        self._apply(record.key, record.value)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        text = (key or b"").decode()
        if not text.startswith(self.group + _SEP):
            return  # another group's
        if value is None:
            self._letters.pop(text, None)
        else:
            self._letters[text] = FailedDelivery.from_json(value)

    def _write(self, key: str, value: bytes | None) -> None:
        send_confirmed(
            self._producer,
            [Outgoing(self.topic, key.encode(), value)],
            timeout=self._timeout,
            journal=self.journal,
            unconfirmed="the lead-topic offset was not committed past this webhook dead letter, "
            "so the delivery is tried again after a restart",
        )
        with self._lock:
            self._apply(key.encode(), value)

    def _key(self, failed: FailedDelivery) -> str:
        return _SEP.join((self.group, failed.subscription, failed.lead_id, str(failed.version)))

    def __iter__(self) -> Iterator[FailedDelivery]:
        return iter(self.failed())

    def close(self) -> None:
        """Close the clients."""
        try:
            self._producer.close(timeout=10)
        finally:
            self._reader.close(autocommit=False)

    def __enter__(self) -> FailedDeliveryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
