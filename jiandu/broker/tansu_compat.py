"""Shims for the embedded Tansu broker: the one place that patches Kafka client libraries.

Install them only when the hub runs the embedded broker (``Settings.embedded``);
against Apache Kafka they are unnecessary. They exist because of two Tansu defects
measured in notes/tansu.md:

* ListOffsets(latest) returns the base offset of the newest record batch + 1, not
  the high watermark. Faust recovers a table by reading its changelog up to
  ``end_offsets()``, so it stops early and the restarted worker silently misses
  the updates in the last batch. The shim re-checks every non-zero end offset
  that aiokafka's ``Fetcher.end_offsets`` returns with a real Fetch, whose
  response carries the true high watermark.
* A new record does not wake a waiting Fetch, so a consumer's latency is spread
  over ``[0, fetch_max_wait_ms / 2]``, and Faust hard-codes 1500 ms for its
  worker consumer. The shim sets the configured wait on that consumer after Faust
  creates it (aiokafka reads the attribute only when the consumer starts).

Both patch private attributes of pinned library versions (aiokafka 0.14,
faust-streaming 0.15); the integration tests fail if an upgrade breaks them.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.protocol.fetch import FetchRequest

__all__ = ["faust_shims_installed", "install_faust_shims", "uninstall_faust_shims"]

#: A Fetch must wait at least 1 ms: Tansu answers ``max_wait_ms=0`` with nothing.
_RECHECK_FETCH_WAIT_MS = 10
#: One byte per partition: the broker still returns one record batch (or none),
#: and the response's high watermark is all the re-check needs.
_RECHECK_MAX_BYTES = 1

_originals: dict[str, Callable[..., Any]] = {}
_fetch_max_wait_ms: int | None = None


def install_faust_shims(*, fetch_max_wait_ms: int) -> None:
    """Patch aiokafka and Faust for the embedded broker. Idempotent.

    ``fetch_max_wait_ms`` replaces Faust's hard-coded 1500 ms in its worker consumer;
    calling again with another value updates it.
    """
    global _fetch_max_wait_ms
    if fetch_max_wait_ms < 1:
        raise ValueError(f"fetch_max_wait_ms={fetch_max_wait_ms}: the broker needs at least 1")
    _fetch_max_wait_ms = fetch_max_wait_ms
    if _originals:
        return
    consumer_thread = _faust_consumer_thread_class()
    _originals["end_offsets"] = Fetcher.end_offsets
    _originals["create_worker_consumer"] = consumer_thread._create_worker_consumer
    Fetcher.end_offsets = _end_offsets_with_fetch_check(Fetcher.end_offsets)
    consumer_thread._create_worker_consumer = _with_fetch_wait(consumer_thread._create_worker_consumer)


def uninstall_faust_shims() -> None:
    """Undo :func:`install_faust_shims` (for tests that show the defect)."""
    global _fetch_max_wait_ms
    if not _originals:
        return
    Fetcher.end_offsets = _originals.pop("end_offsets")
    consumer_thread = _faust_consumer_thread_class()
    consumer_thread._create_worker_consumer = _originals.pop("create_worker_consumer")
    _fetch_max_wait_ms = None


def faust_shims_installed() -> bool:
    """True while the shims are installed."""
    return bool(_originals)


def _faust_consumer_thread_class() -> Any:
    # Imported here, not at module level: importing Faust takes ~0.5 s and parses
    # FAUST_* variables, which producers and tools that import jiandu.broker skip.
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    return AIOKafkaConsumerThread


def _end_offsets_with_fetch_check(
    end_offsets: Callable[..., Awaitable[dict[Any, int]]],
) -> Callable[..., Awaitable[dict[Any, int]]]:
    @functools.wraps(end_offsets)
    async def checked(self: Fetcher, partitions: Any, timeout_ms: int | None) -> dict[Any, int]:
        offsets = await end_offsets(self, partitions, timeout_ms)
        listed = {tp: offset for tp, offset in offsets.items() if offset}
        if not listed:
            return offsets
        timeout = timeout_ms / 1000 if timeout_ms else None
        true_ends = await asyncio.wait_for(_fetch_high_watermarks(self, listed), timeout)
        for tp, high_watermark in true_ends.items():
            offsets[tp] = max(offsets[tp], high_watermark)
        return offsets

    return checked


async def _fetch_high_watermarks(fetcher: Fetcher, listed: Mapping[Any, int]) -> dict[Any, int]:
    """The high watermark of each partition in ``listed``, from one Fetch per leader.

    Each partition is fetched at its listed end - 1, an offset inside the newest
    batch, so the response is at most one batch per partition.
    """
    client = fetcher._client
    by_leader: dict[int, dict[str, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    keys = {}
    for tp, offset in listed.items():
        leader = client.cluster.leader_for_partition(tp)
        if leader is None or leader < 0:
            continue  # keep the listed offset; aiokafka just resolved it from this leader
        by_leader[leader][tp.topic].append((tp.partition, offset - 1, _RECHECK_MAX_BYTES))
        keys[(tp.topic, tp.partition)] = tp
    requests = [
        client.send(
            leader,
            FetchRequest(
                _RECHECK_FETCH_WAIT_MS,
                1,
                _RECHECK_MAX_BYTES,
                fetcher._isolation_level,
                list(topics.items()),
            ),
        )
        for leader, topics in by_leader.items()
    ]
    result = {}
    for response in await asyncio.gather(*requests):
        for topic, partitions in response.topics:
            for partition, error_code, high_watermark, *_ in partitions:
                if not error_code and high_watermark >= 0:
                    result[keys[(topic, partition)]] = high_watermark
    return result


def _with_fetch_wait(create: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(create)
    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        if _fetch_max_wait_ms is not None:
            consumer._fetch_max_wait_ms = _fetch_max_wait_ms
        return consumer

    return create_worker_consumer
