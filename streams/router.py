"""The router: event topics → internal facts topic, a service of the streams app.

It reads the event topics with its own aiokafka consumer (consumer group
:func:`router_group`), not through a Faust agent: Faust hands an agent one message
at a time (≈ 80 µs of framework work per event on the development machine, more
than routing it), while aiokafka returns whole fetched batches. A batch of events
becomes one ``RoutedBatch`` message per facts partition (``StreamsWorker.route``).

At-least-once: the offsets of a batch are committed only after the broker confirmed
every facts message routed from it (every second while events flow, at once when
they stop, before partitions are revoked and when the worker stops). A crash
re-routes at most the events since the last commit; the evaluator ignores facts it
already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from mode import Service

from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue
from streams.input_order import InputOrder

__all__ = ["EventRouter", "HandOver", "router_group"]

#: Called with each facts message the router sent (facts partition, its delivery, the message): the
#: worker's evaluator may apply it once the broker confirmed it, without waiting to fetch it back.
HandOver = Callable[[int, "asyncio.Future[Any]", bytes], None]

#: Bytes asked of each event partition at a time (aiokafka's default is 1 MiB). A broker that keeps to it
#: bounds what the input-order merge holds; Tansu does not, hence the response limit below.
_FETCH_BYTES = 64 * 1024
#: Bytes of one fetch response, all partitions together. Tansu does not keep to the per-partition limit
#: (8 partitions asked for 64 KiB each answered 12,862 lz4 records of 500 B at once), but to this one, in
#: whole record batches (hence the intake's 64 KiB batches): 424 records at 64 KiB. What a partition
#: fetched past the input order waits in memory until its numbers come: with no response limit a routing
#: worker at 1 M persons held ≈ 480,000 records (≈ 130 MB a minute of growth); 1 MiB still let each of
#: the 112 event partitions bring ≈ 2,600 (290,000 held).
_FETCH_RESPONSE_BYTES = 64 * 1024
#: How long to wait for more events before committing what was routed.
_IDLE_MS = 50
#: Commit at least this often while events flow.
_COMMIT_SECONDS = 1.0
#: Input positions a partition may be fetched ahead of the merge (backtests) before it is paused:
#: bounds the records held for the input order (≈ 1 kB each).
_AHEAD_WINDOW = 20_000
#: Records the input-order merge may hold before every partition fetched past the next number is paused.
_MAX_HELD = 20_000
_FACTS_KEY = b"__facts__"


def _produced_at(record: Any) -> int:
    return int(record.timestamp)


def router_group(catalogue: TopicCatalogue) -> str:
    """Consumer group of the routers (its committed offsets tell how far routing has come)."""
    return f"{catalogue.streams_app_id}-router"


class EventRouter(Service):
    """Consumes the event topics, sends their facts to the facts topic, commits once they are delivered."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        catalogue: TopicCatalogue,
        auth: Mapping[str, Any],
        hand_over: HandOver | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.app = app
        self._hand_over = hand_over
        self.settings = settings
        self.catalogue = catalogue
        self._auth = auth
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._offsets: dict[TopicPartition, int] = {}  # next offset to commit, of fully routed batches
        self._pending: list[Awaitable[Any]] = []  # deliveries of the facts routed since the last commit
        self._last_commit = time.monotonic()
        self._committing = asyncio.Lock()  # the rebalance listener commits too
        self.routed_events = 0
        self._input_order = InputOrder()

    async def on_start(self) -> None:
        session_ms = int(self.settings.session_timeout_seconds * 1000)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            group_id=router_group(self.catalogue),
            client_id=f"{self.catalogue.streams_app_id}-router",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            max_partition_fetch_bytes=_FETCH_BYTES,
            fetch_max_bytes=_FETCH_RESPONSE_BYTES,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 4, 500),
            **self._auth,
        )
        await self._consumer.start()
        self._consumer.subscribe(self.catalogue.event_topics(), listener=_CommitOnRevoke(self))
        self._task = asyncio.ensure_future(self._run())

    async def on_stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await self._commit(consumer)
            finally:
                await consumer.stop()

    async def _run(self) -> None:
        try:
            await self._route()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the worker must not run on without routing
            await self.crash(exc)

    async def _route(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        worker = self.app.jiandu_worker
        producer = self.app.producer
        facts = self.catalogue.facts
        while True:
            records = await consumer.getmany(timeout_ms=_IDLE_MS if self._offsets else 1000)
            if records:
                # in the order they were produced (each partition's own order kept), or in input order
                # when the intake stamped it (backtests): the clock follows the events as they came in
                fetched = heapq.merge(*records.values(), key=_produced_at)
                ready = self._input_order.add(fetched)
                self._pause_those_ahead(consumer)
                sent = []
                for partition, routed in worker.route(stamped for _, stamped in ready):
                    delivery = await producer.send(facts, _FACTS_KEY, routed, partition, None, None)
                    if self._hand_over is not None:
                        self._hand_over(partition, delivery, routed)
                    sent.append(delivery)
                # only now, with every fact of the batch handed to the producer, may its offsets be committed
                self._pending.extend(sent)
                self._offsets.update({TopicPartition(t, p): offset + 1 for (t, p, offset), _ in ready})
                self.routed_events += len(ready)
            if self._offsets and (not records or time.monotonic() - self._last_commit >= _COMMIT_SECONDS):
                await self._commit(consumer)

    def _pause_those_ahead(self, consumer: AIOKafkaConsumer) -> None:
        """Pause the partitions fetched far ahead of the input order, resume the others."""
        ahead = {TopicPartition(t, p) for t, p in self._input_order.ahead(_AHEAD_WINDOW, _MAX_HELD)}
        assigned = consumer.assignment()
        paused = consumer.paused()
        if resume := (paused - ahead) & assigned:
            consumer.resume(*resume)
        if pause := (ahead - paused) & assigned:
            consumer.pause(*pause)

    def assigned(self) -> bool:
        """True when the router has event partitions to route."""
        return self._consumer is not None and bool(self._consumer.assignment())

    async def lags(self) -> dict[tuple[str, str, int], int]:
        """Messages between the router's position and the end, per assigned event partition."""
        consumer = self._consumer
        lags: dict[tuple[str, str, int], int] = {}
        if consumer is None:
            return lags
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(Exception):  # no position yet (just assigned): next time
                position = await asyncio.wait_for(consumer.position(tp), 2.0)
                lags[("router", tp.topic, tp.partition)] = max(0, highwater - position)
        return lags

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Wait until the broker confirmed what was routed, then commit the offsets it was routed from."""
        async with self._committing:
            pending, self._pending = self._pending, []
            offsets, self._offsets = self._offsets, {}
            if pending:
                await asyncio.gather(*pending)
            if offsets:
                try:
                    await consumer.commit(offsets)
                except CommitFailedError as exc:  # a rebalance took the partitions: their events are routed again
                    self.log.warning("router commit failed, events will be routed again: %r", exc)
            self._last_commit = time.monotonic()


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, router: EventRouter) -> None:
        self.router = router

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.router._consumer is not None:
            await self.router._commit(self.router._consumer)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.router.log.info("routing %d event partitions", len(assigned))
