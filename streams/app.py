"""The streams worker: a Faust app with a router service and an evaluator agent.

    events.<type> ──router──▶ internal.facts (per entity partition) ──evaluator──▶ leads
                                      ▲ ticks (live timer / backtest end)        └──▶ internal.progress

The router (``streams.router``) decodes every event, finds the entities whose
state it changes (``ModelEngine.route``: each person, suspect, plaintiff,
administrative case) and forwards its fact to the facts partition of each entity,
stamped with the hub clock in backtest mode. The evaluator keeps each entity's
facts in a changelogged table, evaluates the models on every change and whenever
the partition's clock passes a pending deadline, and publishes only lead versions
that changed (deterministic lead ids: at-least-once processing never creates a
second lead).

Where the time goes is the framework's per-message work, so the worker avoids it
(measured on a 117 k record backtest: worker CPU ≈ 60 s → ≈ 10 s):

* the router reads whole fetched batches with its own aiokafka consumer and sends
  the facts of a batch as one ``RoutedBatch`` message per facts partition, each
  fact a JSON row (the form the state keeps it in): the evaluator neither handles
  a Kafka message per fact nor decodes an event's Avro again;
* the table is Faust's RocksDB store (:mod:`streams.state_store`): states on disk, the
  decoded ones of recently changed entities in a bounded cache (:class:`StateCache`), so
  memory does not grow with the number of persons, and a restarted worker reads only the
  changelog after what its store holds; each stored state carries its wake-ups, so the
  deadline heap is rebuilt without evaluating anything. The evaluator evaluates only the
  models that read the record types that arrived (deadlines: the clock's wake-up heap);
* leads and changelog records go to the producer directly, not through Faust's
  ``send_soon``; changelog records are gathered for ``_CHANGELOG_FLUSH_SECONDS`` (an entity
  changed by several messages meanwhile is written once: Kafka Streams' record cache) and
  sent only once the broker confirmed the leads they record (a recovered state never
  claims an undelivered lead version), from a task of their own so that the evaluator does
  not wait, as whole record batches per partition (:func:`streams.state_store.send_changelog`);
  a value reaches the store once its changelog record is confirmed, each partition's values in
  one RocksDB write with the changelog offset they reach;
* a facts message the worker's own router sent to a partition this worker evaluates is applied
  as soon as the broker confirmed it (``hand_over``), not when fetched back: Tansu answers a
  waiting fetch only when its wait ends, so the fetch added up to ``consumer_fetch_max_wait_ms``
  to every immediate lead (evaluate hop p50 / p99 28 / 77 → 13 / 49 ms); the fetched copy is skipped;
* the table keeps, per facts partition, the offset of the next message to apply, so
  a message is applied once per state however often Faust delivers it, and one Faust
  never delivered (it drops messages fetched while recovery resumes the streams of
  a restarted worker) is read directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from mode import ServiceT

from jiandu.core.timeutil import utc_now_ms
from jiandu.models import EntityState, ModelEngine
from jiandu.settings import Settings, kafka_ssl_context
from jiandu.topics import TopicCatalogue
from streams.health import WorkerHealth
from streams.router import EventRouter
from streams.routing import (
    BACKTEST,
    LIVE,
    ROUTED_BATCH_SCHEMA,
    Outputs,
    StateCache,
    StreamsWorker,
    partition_of,
)
from streams.state_store import (
    ROCKSDB_OPTIONS,
    Unconfirmed,
    pack_state,
    partition_values,
    send_changelog,
    state_dir,
    store_confirmed,
    unpack_state,
)

__all__ = ["BACKTEST", "LIVE", "ROUTED_BATCH_SCHEMA", "StateCache", "StreamsWorker", "WorkerHealth", "create_app"]

_TICK_KEY = b"__tick__"
#: Facts messages buffered for the evaluator (back pressure on the fetcher: Faust's default, 4096
#: messages, could hold gigabytes of routed batches).
_FACTS_BUFFER = 64
#: Facts messages whose changelog records may wait for their leads' confirmation.
_CHANGELOG_BACKLOG = 256
#: How long changelog records gather before they are sent (Kafka Streams' record cache, KIP-63): an
#: entity changed by several messages meanwhile is written once, with its last state.
_CHANGELOG_FLUSH_SECONDS = 0.5
#: How often the evaluator looks for facts Faust fetched but never delivered, once idle that long.
_WATCHDOG_SECONDS = 2.0
#: How often the live clock looks whether it reaches a scheduled wake-up before its next periodic tick.
_WAKE_CHECK_SECONDS = 0.05
#: How often the gauges (lag, clocks, deadlines, state size) and the readiness are refreshed.
_METRICS_SECONDS = 5.0
log = logging.getLogger("jiandu.streams")


#: A facts message's lead deliveries and table writes (key → partition, value), or a delivery marker.
_Pending = tuple[list[Any], dict[bytes, tuple[int, bytes]], "asyncio.Future[None] | None"]


def _credentials(settings: Settings) -> Any:
    """Faust credentials for a secured production cluster (the embedded broker has none): SASL and/or
    TLS with the configured CA file, client certificate and hostname check (``kafka_ssl_context``)."""
    context = kafka_ssl_context(settings)
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context else None


class _WorkerApp(faust.App):
    """The worker's Faust app, with the router among its services.

    The router starts right after the producer it sends with, so its consumer group joins while
    Faust's does (not after Faust's table manager start-up and recovery), and stops before it.
    """

    jiandu_router: EventRouter | None = None  # (``App.router`` is Faust's table-key router)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        services = list(super().on_init_dependencies())
        if self.jiandu_router is not None:
            after = services.index(self.producer) + 1 if self.producer in services else len(services)
            services.insert(after, self.jiandu_router)
        return services


def create_app(
    settings: Settings, catalogue: TopicCatalogue, engine: ModelEngine, *, mode: str = LIVE, route: bool = True
) -> faust.App:
    """The Faust app of the streams worker; ``route=False``: it evaluates only (another worker routes)."""
    credentials = _credentials(settings)
    state_dir(settings, catalogue).mkdir(parents=True, exist_ok=True)
    app = _WorkerApp(
        catalogue.streams_app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="rocksdb://",
        datadir=str(state_dir(settings, catalogue)),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(settings.session_timeout_seconds / 4, 0.5),
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_compression_type=None if settings.kafka_compression == "none" else settings.kafka_compression,
        producer_linger=0.005 if mode == BACKTEST else 0.001,  # live: a lead waits for no batch to fill
        producer_max_batch_size=512 * 1024,  # fewer, larger produce requests (Faust's 16 KiB: 2x the broker CPU)
        producer_max_request_size=4 * 1024 * 1024,  # room for a routed batch or a large entity state
        stream_buffer_maxsize=8000,
        table_standby_replicas=0,
        web_enabled=False,  # /metrics, /healthz and /readyz are served by jiandu.observability (streams.worker)
        logging_config=None,
        broker_credentials=credentials,
    )
    worker = StreamsWorker(settings, catalogue, engine, mode)
    app.jiandu_worker = worker  # type: ignore[attr-defined]
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    facts = app.topic(catalogue.facts, partitions=settings.partitions, maxsize=_FACTS_BUFFER, **raw)
    progress = app.topic(catalogue.progress, **raw)
    table = app.Table(
        "entity_state",
        default=None,
        partitions=settings.partitions,
        use_partitioner=True,
        key_type=bytes,
        value_type=bytes,
        options=dict(ROCKSDB_OPTIONS),
    )
    unconfirmed = Unconfirmed()  # values on their way to the store (see streams.state_store)

    def stored(key: bytes, partition: int) -> bytes | None:
        """The latest value of a table key: waiting for its changelog confirmation, else in its partition's
        database. (Faust's ``table.data.get`` does not know the partition: a key it has not seen is looked
        up in every partition's database, behind an index of keys with a lock; ≈ 7 % of the evaluator.)"""
        value = unconfirmed.get(key)
        return value if value is not None else table.data._db_for_partition(partition).get(key)

    health = WorkerHealth(settings, catalogue, mode)
    app.jiandu_health = health  # type: ignore[attr-defined]

    def state_of(partition: int, entity: bytes) -> EntityState:
        state = worker.states.get(entity)
        if state is None:
            state = EntityState.loads(unpack_state(stored(entity, partition))[1])
            worker.states.put(partition, entity, state)
        return state

    def write(out: Outputs, partition: int, key: bytes, value: bytes) -> None:
        """Set a table key when the message is applied (:func:`send_outputs`)."""
        out.writes[key] = (partition, value)

    def evaluate(
        out: Outputs, partition: int, entity: bytes, state: EntityState, changed: set[str] | None, *, added: bool
    ) -> None:
        """Evaluate (the models reading ``changed``, else all); keep the state if facts or leads changed."""
        result = engine.evaluate(entity.decode(), state, worker.clocks.clock(partition), utc_now_ms(), changed)
        for lead in result.leads:
            out.leads.append((lead.lead_id.encode(), worker.codec.encode("lead", lead.to_avro())))
        out.published.extend(zip(result.leads, result.previous, strict=True))
        worker.metrics.pending.update(entity, result.wakes)
        schedule(partition, entity)
        if added or result.leads:
            out.states[entity] = (partition, state)

    def schedule(partition: int, entity: bytes) -> None:
        """Look at the entity again at the earliest wake-up of any of its models (those just evaluated and
        the others): each model's wake-up is kept per entity (``worker.metrics.pending``)."""
        wakes = worker.metrics.pending.of(entity)
        if wakes:
            worker.clocks.schedule(partition, min(wakes.values()), entity)

    reads = {model.id: frozenset(model.event_types()) for model in engine.models}

    def evaluate_due(out: Outputs, partition: int) -> None:
        """Evaluate the models whose wake-up the clock passed, on every entity that has one (the others'
        outcomes cannot have changed: same facts, and the clock has not reached their next wake-up)."""
        clock = worker.clocks.clock(partition)
        for entity in worker.clocks.due(partition):
            wakes = worker.metrics.pending.of(entity)
            due = {t for model_id, wake in wakes.items() if wake <= clock for t in reads[model_id]}
            if due or not wakes:  # (no wake-ups known: every model)
                evaluate(out, partition, entity, state_of(partition, entity), due or None, added=False)
            else:  # its wake-up moved later since it was scheduled
                schedule(partition, entity)

    def ensure_ready(out: Outputs, partition: int) -> None:
        """On a partition's first message: its clock, applied offset and wake-up heap from the recovered table."""
        part = worker.clocks.part(partition)
        if part.ready:
            return
        part.ready = True
        clock = stored(worker._clock_keys[partition], partition)
        if clock:
            worker.clocks.advance(partition, int(clock))
        worker.applied[partition] = int(stored(worker._offset_keys[partition], partition) or 0)
        waiting = {
            k: v
            for k in unconfirmed.waiting()
            if partition_of(k, worker.partitions) == partition and (v := unconfirmed.get(k)) is not None
        }
        for key, value in partition_values(table.data, partition, waiting):
            if key.startswith(b"__"):
                continue
            wakes, _ = unpack_state(value)
            if wakes is None:  # stored without its wake-ups: evaluate it to find them
                evaluate(out, partition, key, state_of(partition, key), None, added=False)
            elif wakes:
                worker.metrics.pending.update(key, wakes)
                worker.clocks.schedule(partition, min(wakes.values()), key)

    def process(out: Outputs, partition: int, offset: int, value: bytes) -> bool:
        """Add the facts of one facts message in order and evaluate; True for a clock tick.

        The clock steps as the router stamped each fact: before it moves, the entities that got facts
        are evaluated at the old clock (scheduling their deadlines); once it moved, every entity whose
        deadline it passed is evaluated. So a deadline fires before any fact routed after the clock
        passed it arrives, however the facts were batched (a late upload resolves a raised lead).
        A fact stamped in input order (backtests) steps the clock to where the input was just before
        it, is added, then steps the clock past itself: what the input says, whatever the batching.
        Each changed key is written once per message, with its last state, and with it the offset
        of the next message to apply.
        """
        pending: dict[bytes, set[str]] = {}  # entity → types of its new facts

        def evaluate_pending() -> None:
            for entity, changed in pending.items():
                evaluate(out, partition, entity, state_of(partition, entity), changed, added=True)
            pending.clear()

        def step(clock: int) -> None:
            if clock <= worker.clocks.clock(partition):
                return
            evaluate_pending()
            worker.clocks.advance(partition, clock)
            write(out, partition, worker._clock_keys[partition], str(clock).encode())
            evaluate_due(out, partition)

        tick, routed = worker.unpack(value)
        if routed is None:
            step(tick)
        else:
            for entry in routed:
                if entry.fact is None:  # the input's clock passed midnight
                    step(entry.clock)
                    continue
                # stamped in input order: the clock just before the fact, the fact, the clock after it
                if entry.clock_before or entry.clock:
                    step(entry.clock_before or entry.clock)
                if state_of(partition, entry.entity).add(entry.fact):
                    pending.setdefault(entry.entity, set()).add(entry.fact.type)
                if entry.clock_before:
                    step(entry.clock)
                worker.facts_processed[partition] += 1
            evaluate_pending()
        evaluate_due(out, partition)
        worker.applied[partition] = offset + 1
        write(out, partition, worker._offset_keys[partition], str(offset + 1).encode())
        return routed is None

    # Changelog records wait until the broker confirmed the leads of their message (a recovered state
    # never claims a lead version that was not delivered), in a task of their own so that the evaluator
    # does not wait for each confirmation (a round trip per facts message capped live throughput).
    # An entry: a message's lead deliveries and table writes, or (``done`` set) a marker resolved once
    # everything queued before it is delivered.
    changelog_queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=_CHANGELOG_BACKLOG)

    async def send_outputs(out: Outputs) -> None:
        """Send the leads; set the table and queue its changelog records behind their confirmation."""
        for entity, (partition, state) in out.states.items():  # before any await: the state as applied
            write(out, partition, entity, pack_state(worker.metrics.pending.of(entity), state.dumps()))
        producer = app.producer
        sent = [await producer.send(catalogue.leads, key, value, None, None, None) for key, value in out.leads]
        for key, (_, value) in out.writes.items():
            unconfirmed.put(key, value)
        if changelog_queue.qsize() >= _CHANGELOG_BACKLOG // 2:
            flush_now.set()
        await changelog_queue.put((sent, out.writes, None))

    flush_now = asyncio.Event()  # send the changelog records gathered so far without waiting
    last_keys = {*worker._offset_keys, *worker._clock_keys}

    def send_order(key: bytes) -> int:
        """States first, then each partition's offset of the next message, then its clock: a crash between
        records leaves states ahead of the offset (applied again: facts are deduplicated), never behind."""
        return 0 if key not in last_keys else 1 if key in worker._offset_keys else 2

    @app.task
    async def write_changelog() -> None:
        changelog = table.changelog_topic.get_topic_name()
        while True:
            batch = [await changelog_queue.get()]
            try:
                if not flush_now.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(flush_now.wait(), _CHANGELOG_FLUSH_SECONDS)
                flush_now.clear()
                while not changelog_queue.empty():
                    batch.append(changelog_queue.get_nowait())
                await write_batch(changelog, batch)
                for _, _, done in batch:
                    if done is not None:
                        done.set_result(None)
            finally:
                for _ in batch:
                    changelog_queue.task_done()

    async def write_batch(changelog: str, batch: list[_Pending]) -> None:
        """The last value of every key the batch's messages changed: to the changelog once their leads are
        confirmed (a failed lead delivery crashes the worker first), then to the store once confirmed."""
        await asyncio.gather(*(lead for sent, _, _ in batch for lead in sent))
        latest: dict[bytes, tuple[int, bytes]] = {}
        for _, writes, _ in batch:
            latest.update(writes)
        records = sorted(latest.items(), key=lambda item: send_order(item[0]))
        # (Faust's producer has no batch API: its aiokafka producer's, which Faust creates on start)
        store_confirmed(table.data, await send_changelog(app.producer._ensure_producer(), changelog, records))
        for key, (_, value) in records:
            unconfirmed.confirmed(key, value)

    async def report_clock(partition: int) -> None:
        """After a tick: once everything applied before it is delivered (leads, changelog), the partition's
        clock and facts count then. The evaluator goes on meanwhile (waiting stalled it at every live tick)."""
        report = {
            "partition": partition,
            "clock": worker.clocks.clock(partition),
            "facts": worker.facts_processed[partition],
        }
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await changelog_queue.put(([], {}, delivered))
        flush_now.set()
        app.add_future(send_report(partition, report, delivered))

    async def send_report(partition: int, report: dict[str, int], delivered: asyncio.Future[None]) -> None:
        await delivered
        await progress.send(
            key=str(partition).encode(),
            value=worker.codec.encode("progress", report),
            key_serializer="raw",
            value_serializer="raw",
        )
        await app.producer.flush()

    async def apply(partition: int, offset: int, value: bytes, *, handed_over: bool = False) -> None:
        out = Outputs()
        started = time.perf_counter()
        try:
            ensure_ready(out, partition)
            facts_before = worker.facts_processed[partition]
            tick = process(out, partition, offset, value)
            await send_outputs(out)
            worker.metrics.evaluated(
                worker.facts_processed[partition] - facts_before, time.perf_counter() - started, handed_over=handed_over
            )
            worker.metrics.published(out.published, worker.ingested, utc_now_ms())
        except BaseException:
            # the cached states, clock and applied offset may be ahead of the table: start again from it
            worker.states.clear()
            worker.clocks.forget({partition})
            raise
        last_applied[0] = time.monotonic()
        if tick:
            await report_clock(partition)

    applying = asyncio.Lock()  # the evaluator and the watchdog apply messages one at a time
    last_applied = [time.monotonic()]

    @app.agent(facts, name="evaluator")
    async def evaluator(stream: faust.Stream) -> None:
        # One message at a time (each is a batch of facts), acked by Faust when the next is taken.
        # Messages are applied in offset order exactly once per state: the table keeps, with the
        # states, the offset of the next message to apply. A message below it was applied already;
        # one above it means Faust skipped messages (faust-streaming 0.15 drops what it fetched while
        # recovery resumed a restarted worker's streams), which are read directly and applied first.
        async for event in stream.events():
            async with applying:
                await catch_up(event.message.partition, event.message.offset)
                if event.message.offset >= worker.applied[event.message.partition]:
                    await apply(event.message.partition, event.message.offset, event.value)

    def hand_over(partition: int, delivery: asyncio.Future[Any], value: bytes) -> None:
        """A facts message this worker's router sent: applied as soon as the broker confirmed it, if this
        worker evaluates its partition and it is the next one to apply (the evaluator then skips it when
        fetched, as any message already applied). Saves the facts topic's fetch wait (Tansu answers a
        waiting fetch only when its wait ends)."""
        delivery.add_done_callback(lambda done: app.add_future(apply_handed_over(partition, done, value)))

    async def apply_handed_over(partition: int, delivery: asyncio.Future[Any], value: bytes) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            return  # the router's commit fails on it: the events are routed again
        offset = delivery.result().offset
        async with applying:
            if not evaluates(partition):
                return
            if not worker.clocks.ready(partition):
                await apply_first(partition)
            if offset == worker.applied[partition]:  # else applied already, or a message before it was not
                await apply(partition, offset, value, handed_over=True)

    def evaluates(partition: int) -> bool:
        """True when this worker evaluates the facts partition and its table is recovered (Faust's
        ``rebalancing`` lasts until recovery ends)."""
        return (
            not app.rebalancing
            and not app.in_recovery
            and TopicPartition(catalogue.facts, partition) in app.consumer.assignment()
        )

    if route:
        auth = credentials_to_aiokafka_auth(credentials)
        app.jiandu_router = EventRouter(app, settings, catalogue, auth, hand_over=hand_over, loop=app.loop)

    undelivered: dict[int, int] = {}  # facts partition → applied offset when later messages were fetched

    @app.timer(_WATCHDOG_SECONDS)
    async def watchdog() -> None:
        """Read messages Faust fetched but did not deliver at the end of a partition (no later message
        shows the gap): when the evaluator has been idle and a partition's fetched high watermark has
        been past its applied offset for two checks in a row."""
        if time.monotonic() - last_applied[0] < _WATCHDOG_SECONDS or app.rebalancing or app.in_recovery:
            undelivered.clear()  # busy, or the table is being recovered
            return
        seen: dict[int, int] = {}
        for tp in app.consumer.assignment():
            highwater = app.consumer.highwater(tp) if tp.topic == catalogue.facts else None
            applied = worker.applied[tp.partition] if worker.clocks.ready(tp.partition) else -1
            if not highwater or highwater <= applied:
                continue
            if undelivered.get(tp.partition) == applied:
                async with applying:
                    await catch_up(tp.partition, highwater)
            else:
                seen[tp.partition] = applied
        undelivered.clear()
        undelivered.update(seen)

    async def catch_up(partition: int, offset: int) -> None:
        """Apply what a facts partition holds before ``offset`` and was not applied, read directly."""
        if not worker.clocks.part(partition).ready:
            await apply_first(partition)
        if offset <= worker.applied[partition]:
            return
        log.warning(
            "facts partition %d: offsets %d..%d were not delivered, reading them",
            partition,
            worker.applied[partition],
            offset - 1,
        )
        tp = TopicPartition(catalogue.facts, partition)
        reader = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            **credentials_to_aiokafka_auth(credentials),
        )
        await reader.start()
        try:
            reader.assign([tp])
            reader.seek(tp, worker.applied[partition])
            while worker.applied[partition] < offset and await reader.position(tp) < offset:
                for record in (await reader.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if worker.applied[partition] <= record.offset < offset:
                        await apply(partition, record.offset, record.value)
        finally:
            await reader.stop()

    async def apply_first(partition: int) -> None:
        out = Outputs()
        try:
            ensure_ready(out, partition)
            await send_outputs(out)
        except BaseException:
            worker.states.clear()
            worker.clocks.forget({partition})
            raise

    if mode == LIVE:

        @app.task
        async def live_clock() -> None:
            """Tick every partition's clock to now less the grace, every ``live_tick_seconds`` and as soon as
            the clock reaches the earliest wake-up this worker has scheduled (looked at every
            ``_WAKE_CHECK_SECONDS``): a deadline lead is raised when its due time passes, not up to a tick later."""
            grace_ms = settings.clock_grace_seconds * 1000
            while True:
                ticked_at = time.monotonic()
                clock = utc_now_ms() - grace_ms
                tick = worker.tick(clock)
                for partition in range(settings.partitions):
                    delivery = await app.producer.send(catalogue.facts, _TICK_KEY, tick, partition, None, None)
                    hand_over(partition, delivery, tick)
                while time.monotonic() - ticked_at < settings.live_tick_seconds:
                    await asyncio.sleep(_WAKE_CHECK_SECONDS)
                    wake = worker.clocks.next_wake()
                    if wake is not None and clock < wake <= utc_now_ms() - grace_ms:
                        break  # the clock passes a wake-up now (one it already passed waits for that tick)

    async def drain_changelog() -> None:
        """Every queued changelog record sent (before partitions move to another worker, and at shutdown)."""
        flush_now.set()
        try:
            await asyncio.wait_for(changelog_queue.join(), timeout=settings.session_timeout_seconds)
        except TimeoutError:  # the facts are applied again after a restart (their offset is not in the table)
            log.warning("%d facts messages' changelog records were not sent", changelog_queue.qsize())
        await app.producer.flush()

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, **_: Any) -> None:
        await drain_changelog()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        await drain_changelog()
        lost = {tp.partition for tp in revoked if tp.topic == catalogue.facts}
        worker.clocks.forget(lost)
        worker.states.forget(lost)
        for key in unconfirmed.waiting():  # not sent in time: applied again by whoever owns the partition
            if partition_of(key, worker.partitions) in lost:
                unconfirmed.drop(key)
        pending = worker.metrics.pending
        pending.forget([e for e in pending.entities() if partition_of(e, worker.partitions) in lost])
        worker.metrics.forget_partitions(lost, catalogue.facts, "evaluator")

    @app.timer(_METRICS_SECONDS)
    async def refresh_metrics() -> None:
        await health.refresh(app, worker, table)

    return app
