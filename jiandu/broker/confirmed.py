"""Writes that count only once the broker confirmed them and, on the embedded broker, the journal holds them.

The consumers' own topics (their changelogs, the webhook dead letters, the alert copies) are
written the same way: send, wait for the broker's confirmation of every message, append
them to the journal when there is one, and only then let the caller commit the input that
led to them. A message the broker does not confirm is a :class:`DeliveryError`; nothing
of the batch is journaled then.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from kafka import KafkaProducer
from kafka.errors import KafkaError

from jiandu.errors import DeliveryError
from jiandu.journal import JournalEntry, JournalWriter

__all__ = ["Outgoing", "send_confirmed"]


class Outgoing(NamedTuple):
    """One message to write (``partition`` None: the producer's partitioner picks it from the key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None


def send_confirmed(
    producer: KafkaProducer,
    messages: Sequence[Outgoing],
    *,
    timeout: float,
    journal: JournalWriter | None = None,
    unconfirmed: str,
) -> list[Any]:
    """Send ``messages``, wait until the broker confirmed each, journal them; their record metadata, in order.

    ``unconfirmed``: what the caller's user should know when the broker does not confirm (what was not
    committed, how the work is redone), the end of the :class:`DeliveryError`'s message.
    """
    try:  # a send itself fails when the topic's metadata cannot be had (the broker is away)
        futures = [producer.send(m.topic, key=m.key, value=m.value, partition=m.partition) for m in messages]
        producer.flush(timeout=timeout)
        confirmed = [future.get(timeout=timeout) for future in futures]
    except KafkaError as exc:
        topics = ", ".join(sorted({f'"{m.topic}"' for m in messages}))
        raise DeliveryError(
            f"the broker did not confirm {len(messages)} message(s) to {topics} ({exc!r}): {unconfirmed}"
        ) from exc
    if journal is not None and messages:
        now = int(time.time() * 1000)
        journal.append(
            JournalEntry(m.topic, meta.partition, m.key, m.value, now)
            for m, meta in zip(messages, confirmed, strict=True)
        )
    return confirmed
