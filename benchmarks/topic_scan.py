"""Read whole topics with aiokafka, the client the streams worker uses (through Faust).

Two uses: the raw consume ceiling (messages/s with no processing at all), and a
scan of the worker's output topics for the producer timestamps that time the
stages of a run. Ends come from Fetch high watermarks (``jiandu.broker.high_watermarks``):
the embedded broker's ListOffsets(latest) is wrong (notes/tansu.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from jiandu.broker import high_watermarks

__all__ = ["ConsumeRate", "consume_rate", "scan_topics"]

#: Faust's worker consumer fetches up to 1 MiB per partition (``consumer_max_fetch_size``).
_MAX_PARTITION_FETCH_BYTES = 1 << 20
_POLL_MS = 200

Visitor = Callable[[str, Sequence[Any]], None]


@dataclass(frozen=True, slots=True)
class ConsumeRate:
    """Messages read from the beginning to the end of some topics, and how long it took."""

    messages: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def consume_rate(bootstrap: str, topics: list[str], *, fetch_max_wait_ms: int, timeout: float) -> ConsumeRate:
    """Consume every message of ``topics`` from offset 0 and do nothing with it (the ceiling)."""
    return asyncio.run(_consume(bootstrap, topics, fetch_max_wait_ms, timeout, visit=None))


def scan_topics(bootstrap: str, topics: list[str], visit: Visitor, *, timeout: float) -> ConsumeRate:
    """Call ``visit(topic, records)`` for every fetched batch of every partition of ``topics``."""
    return asyncio.run(_consume(bootstrap, topics, 20, timeout, visit=visit))


async def _consume(
    bootstrap: str, topics: list[str], fetch_max_wait_ms: int, timeout: float, *, visit: Visitor | None
) -> ConsumeRate:
    ends = {TopicPartition(t, p): end for (t, p), end in high_watermarks(bootstrap, topics).items() if end > 0}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=_MAX_PARTITION_FETCH_BYTES,
        check_crcs=True,
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        for tp in ends:
            consumer.seek(tp, 0)
        return await _read_to_ends(consumer, ends, timeout, visit)
    finally:
        await consumer.stop()


async def _read_to_ends(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], timeout: float, visit: Visitor | None
) -> ConsumeRate:
    remaining = dict(ends)
    messages = 0
    started = time.perf_counter()
    while remaining:
        if time.perf_counter() - started > timeout:
            late = sorted(f"{tp.topic}[{tp.partition}]" for tp in remaining)
            raise TimeoutError(f"reading to the end took more than {timeout:.0f} s; still reading {late}")
        for tp, records in (await consumer.getmany(timeout_ms=_POLL_MS)).items():
            messages += len(records)
            if visit is not None:
                visit(tp.topic, records)
            if records and records[-1].offset + 1 >= remaining.get(tp, 0):
                remaining.pop(tp, None)
                consumer.pause(tp)
    return ConsumeRate(messages, time.perf_counter() - started)
