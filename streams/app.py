"""The streams worker: a Faust app with two agents.

    events.<type> ──router──▶ internal.facts (keyed by entity) ──evaluator──▶ leads
                                      ▲ ticks (live timer / backtest end)   └──▶ internal.progress

The router decodes every event, finds the entities whose state it changes
(``ModelEngine.route``: each person, suspect, plaintiff, administrative case) and
forwards it re-keyed, stamped with the hub clock in backtest mode. The evaluator
keeps each entity's facts in a changelogged table, evaluates the models on every
change and whenever the partition's clock passes a pending deadline, and
publishes only lead versions that changed (deterministic lead ids: at-least-once
processing never creates a second lead).
"""

from __future__ import annotations

import logging
import ssl
from collections import defaultdict
from typing import Any

import faust
from aiokafka.partitioner import murmur2

from jiandu.core.timeutil import utc_now_ms
from jiandu.models import EntityState, ModelEngine, fact_of
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue
from streams.clock import PartitionClocks

__all__ = ["BACKTEST", "LIVE", "StreamsWorker", "create_app"]

LIVE = "live"
BACKTEST = "backtest"
_TICK_KEY = b"__tick__"
_BATCH = 2000
_WITHIN = 0.05
log = logging.getLogger("jiandu.streams")


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as the producers use)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def clock_key(partition: int, partitions: int) -> bytes:
    """A table key that the partitioner puts on ``partition``: where that partition's clock is kept."""
    n = 0
    while True:
        key = f"__clock__/{partition}/{n}".encode()
        if partition_of(key, partitions) == partition:
            return key
        n += 1


class StreamsWorker:
    """State and logic of the evaluator, kept apart from Faust's wiring for readability."""

    def __init__(self, settings: Settings, catalogue: TopicCatalogue, engine: ModelEngine, mode: str) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.engine = engine
        self.mode = mode
        self.codec = AvroCodec()
        self.clocks = PartitionClocks()
        self.partitions = settings.partitions
        self.facts_processed: dict[int, int] = defaultdict(int)
        self._clock_keys = [clock_key(p, self.partitions) for p in range(self.partitions)]
        self.router_clock = 0

    # -- router ------------------------------------------------------------
    def route(self, value: bytes) -> list[tuple[bytes, bytes]]:
        """(entity key, routed message) pairs for one event."""
        event = self.codec.decode_event(value)
        if self.mode == BACKTEST:
            stamp = event.occurred_at - self.settings.backtest_lateness_seconds * 1000
            self.router_clock = max(self.router_clock, stamp)
        clock = self.router_clock if self.mode == BACKTEST else 0
        return [
            (entity.encode(), self.codec.encode("routed", {"entity": entity, "clock": clock, "event": value}))
            for entity in self.engine.route(event)
        ]

    def tick(self, clock: int) -> bytes:
        """A routed message that only advances the clock."""
        return self.codec.encode("routed", {"entity": "", "clock": clock, "event": None})


def _credentials(settings: Settings) -> Any:
    """Faust credentials for a secured production cluster (the embedded broker has none)."""
    secure = settings.kafka_security_protocol.endswith("SSL")
    context = ssl.create_default_context() if secure else None
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context else None


def create_app(
    settings: Settings, catalogue: TopicCatalogue, engine: ModelEngine, *, mode: str = LIVE, web_port: int | None = None
) -> faust.App:
    """The Faust app of the streams worker."""
    app = faust.App(
        catalogue.streams_app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(settings.session_timeout_seconds / 4, 0.5),
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.005,
        stream_buffer_maxsize=_BATCH * 4,
        table_standby_replicas=0,
        web_enabled=web_port is not None,
        web_port=web_port or settings.worker_web_port,
        web_bind="127.0.0.1",
        web_in_thread=False,
        logging_config=None,
        broker_credentials=_credentials(settings),
    )
    worker = StreamsWorker(settings, catalogue, engine, mode)
    app.jiandu_worker = worker  # type: ignore[attr-defined]
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    event_topics = app.topic(*catalogue.event_topics(), **raw)
    facts = app.topic(catalogue.facts, partitions=settings.partitions, **raw)
    leads = app.topic(catalogue.leads, **raw)
    progress = app.topic(catalogue.progress, **raw)
    table = app.Table(
        "entity_state",
        default=None,
        partitions=settings.partitions,
        use_partitioner=True,
        key_type=bytes,
        value_type=bytes,
    )

    @app.agent(event_topics, name="router")
    async def router(stream: faust.Stream) -> None:
        async for values in stream.take(_BATCH, within=_WITHIN):
            for value in values:
                for key, routed in worker.route(value):
                    facts.send_soon(key=key, value=routed, key_serializer="raw", value_serializer="raw")

    def evaluate(partition: int, entity: bytes, state: EntityState) -> None:
        clock = worker.clocks.clock(partition)
        result = engine.evaluate(entity.decode(), state, clock, utc_now_ms())
        for lead in result.leads:
            leads.send_soon(
                key=lead.lead_id.encode(),
                value=worker.codec.encode("lead", lead.to_avro()),
                key_serializer="raw",
                value_serializer="raw",
            )
        if result.wake_at is not None:
            worker.clocks.schedule(partition, result.wake_at, entity)
        table[entity] = state.dumps()

    def ensure_ready(partition: int) -> None:
        part = worker.clocks.part(partition)
        if part.ready:
            return
        part.ready = True
        stored = table.get(worker._clock_keys[partition])
        if stored:
            worker.clocks.advance(partition, int(stored))
        for key in list(table.keys()):
            if not key.startswith(b"__clock__/") and partition_of(key, worker.partitions) == partition:
                evaluate(partition, key, EntityState.loads(table.get(key)))

    def set_clock(partition: int, clock: int) -> None:
        if worker.clocks.advance(partition, clock):
            table[worker._clock_keys[partition]] = str(worker.clocks.clock(partition)).encode()

    @app.agent(facts, name="evaluator")
    async def evaluator(stream: faust.Stream) -> None:
        async for events in stream.take_events(_BATCH, within=_WITHIN):
            batch: dict[tuple[int, bytes], list[Any]] = defaultdict(list)
            ticks: set[int] = set()
            for event in events:
                partition = event.message.partition
                ensure_ready(partition)
                _, routed = worker.codec.decode(event.value)
                if routed["clock"]:
                    set_clock(partition, routed["clock"])
                if routed["event"] is None:
                    ticks.add(partition)
                    continue
                batch[(partition, routed["entity"].encode())].append(
                    fact_of(worker.codec.decode_event(routed["event"]))
                )
                worker.facts_processed[partition] += 1
            for (partition, entity), new_facts in batch.items():
                state = EntityState.loads(table.get(entity))
                if state.add_all(new_facts):
                    evaluate(partition, entity, state)
            for partition in {p for p, _ in batch} | ticks:
                for entity in worker.clocks.due(partition):
                    evaluate(partition, entity, EntityState.loads(table.get(entity)))
            if ticks:
                await app.producer.flush()
                for partition in sorted(ticks):
                    report = {
                        "partition": partition,
                        "clock": worker.clocks.clock(partition),
                        "facts": worker.facts_processed[partition],
                    }
                    progress.send_soon(
                        key=str(partition).encode(),
                        value=worker.codec.encode("progress", report),
                        key_serializer="raw",
                        value_serializer="raw",
                    )
                await app.producer.flush()

    if mode == LIVE:

        @app.timer(settings.live_tick_seconds)
        async def live_clock() -> None:
            tick = worker.tick(utc_now_ms() - settings.clock_grace_seconds * 1000)
            for partition in range(settings.partitions):
                await facts.send(
                    key=_TICK_KEY, value=tick, partition=partition, key_serializer="raw", value_serializer="raw"
                )

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        worker.clocks.forget({tp.partition for tp in revoked if tp.topic == catalogue.facts})

    return app
