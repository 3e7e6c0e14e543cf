"""The worker's logic apart from Faust's wiring: routing events to entity facts, and entity states.

The router turns a batch of events into one ``RoutedBatch`` message per facts
partition (each fact a JSON row, the form the state keeps it in); the evaluator
unpacks them. :class:`StateCache` keeps decoded states in memory; :class:`Outputs`
collects what applying one facts message produced.
"""

from __future__ import annotations

import collections
import functools
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from jiandu.core.leads import Lead
from jiandu.core.timeutil import local_date
from jiandu.models import EntityState, Fact, ModelEngine, fact_of
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue
from streams.clock import PartitionClocks
from streams.metrics import WorkerMetrics
from streams.murmur2 import murmur2

__all__ = [
    "BACKTEST",
    "CLOCK_ONLY",
    "LIVE",
    "ROUTED_BATCH_SCHEMA",
    "Outputs",
    "Routed",
    "StateCache",
    "StreamsWorker",
    "clock_key",
    "partition_of",
]

LIVE = "live"
BACKTEST = "backtest"
#: Facts per routed message: the evaluator handles one message at a time (blocking the event loop, which
#: also runs the router, for ≈ 0.1 s at most) and writes each entity it changed once per message.
_FACTS_PER_MESSAGE = 1000
#: The same live: a fact routed behind a message of 1,000 waits for its whole evaluation (the lead
#: latency's tail), behind one of 100 for a tenth of it.
_FACTS_PER_LIVE_MESSAGE = 100
_MESSAGE_BYTES = 512 * 1024
#: Decoded entity states kept in memory (least recently used dropped first; the on-disk table keeps every
#: state). A decoded state takes ≈ 10 kB of Python objects: this bounds the cache near 250 MB.
_CACHED_STATES = 25_000

ROUTED_BATCH_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "RoutedBatch",
    "namespace": "cn.jiandu",
    "doc": "internal: the facts of a batch of events for one facts partition, in routing order",
    "fields": [
        {
            "name": "facts",
            "doc": "in routing order",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "RoutedFact",
                    "fields": [
                        {"name": "entity", "type": "string", "doc": "entity key (P:…, O:…, A:…)"},
                        {
                            "name": "clock",
                            "type": "long",
                            "doc": "hub clock of the router when it routed the event, epoch ms (0: none)",
                        },
                        {
                            "name": "fact",
                            "type": "bytes",
                            "doc": "the event as a fact: JSON [event_id, type, occurred_at, source, jurisdiction, "
                            "fields], as the worker's state keeps it",
                        },
                        {
                            "name": "ingested_at",
                            "type": "long",
                            "default": 0,
                            "doc": "when the intake accepted the event, epoch ms (for the lead latency metric)",
                        },
                        {
                            "name": "clock_before",
                            "type": "long",
                            "default": 0,
                            "doc": "backtest: the hub clock just before the event in input order, epoch ms (0: "
                            "unstamped); an entry with an empty entity and fact only moves the clock to ``clock``",
                        },
                    ],
                },
            },
        },
    ],
}


def _without(schema: dict[str, Any], *names: str) -> dict[str, Any]:
    """An earlier version of the schema (without fields added since), so that facts routed by an older
    worker can still be read."""
    older = orjson.loads(orjson.dumps(schema))
    items = older["fields"][0]["type"]["items"]
    items["fields"] = [f for f in items["fields"] if f["name"] not in names]
    return dict(older)


#: A routed entry that moves the partition's clock only (``Routed.fact`` is None).
CLOCK_ONLY = b""


@functools.lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as the producers use)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def clock_key(partition: int, partitions: int, kind: str = "clock") -> bytes:
    """A table key that the partitioner puts on ``partition``: where that partition's clock (or the
    offset of its next facts message, ``kind="offset"``) is kept."""
    n = 0
    while True:
        key = f"__{kind}__/{partition}/{n}".encode()
        if partition_of(key, partitions) == partition:
            return key
        n += 1


class StateCache:
    """Decoded entity states of the partitions this worker owns, least recently used dropped first.

    The table holds every state serialised (it is the changelog); this saves decoding
    it again on every batch. A dropped or missing state is loaded from the table.
    """

    def __init__(self, capacity: int = _CACHED_STATES) -> None:
        self.capacity = capacity
        self._states: OrderedDict[bytes, tuple[int, EntityState]] = OrderedDict()

    def get(self, entity: bytes) -> EntityState | None:
        """The cached state of ``entity`` (marked as recently used)."""
        found = self._states.get(entity)
        if found is None:
            return None
        self._states.move_to_end(entity)
        return found[1]

    def put(self, partition: int, entity: bytes, state: EntityState) -> None:
        """Cache ``state``; drop the least recently used beyond the capacity."""
        self._states[entity] = (partition, state)
        self._states.move_to_end(entity)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)

    def forget(self, partitions: set[int]) -> None:
        """Drop the states of partitions this worker no longer owns."""
        for entity in [e for e, (p, _) in self._states.items() if p in partitions]:
            del self._states[entity]

    def clear(self) -> None:
        """Drop everything (after an error the table is the only truth)."""
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)


@dataclass(slots=True)
class Outputs:
    """What applying one facts message produced: lead versions in order, the last value of each changed key."""

    leads: list[tuple[bytes, bytes]] = field(default_factory=list)
    published: list[tuple[Lead, str | None]] = field(default_factory=list)  # with the status before
    writes: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # table key → (partition, value)
    # entity → (partition, state) changed: serialised once when the message is done, however often evaluated
    states: dict[bytes, tuple[int, EntityState]] = field(default_factory=dict)


class StreamsWorker:
    """State and logic of the router and the evaluator, kept apart from Faust's wiring for readability."""

    def __init__(self, settings: Settings, catalogue: TopicCatalogue, engine: ModelEngine, mode: str) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.engine = engine
        self.mode = mode
        self.codec = AvroCodec()
        self.codec.register("routed_batch", ROUTED_BATCH_SCHEMA)
        for older in (("ingested_at", "clock_before"), ("clock_before",)):  # read as the current one
            self.codec.register("routed_batch", _without(ROUTED_BATCH_SCHEMA, *older))
        self.metrics = WorkerMetrics((m.id for m in engine.models), engine.event_types())
        self.ingested: dict[str, int] = {}  # event id → ingestion time, of the facts message being applied
        self.clocks = PartitionClocks()
        self.states = StateCache()
        self.partitions = settings.partitions
        self.facts_processed: dict[int, int] = defaultdict(int)
        self._clock_keys = [clock_key(p, self.partitions) for p in range(self.partitions)]
        self._offset_keys = [clock_key(p, self.partitions, "offset") for p in range(self.partitions)]
        self.applied: dict[int, int] = {}  # per facts partition: the offset of the next message to apply
        self.router_clock = 0

    # -- router ------------------------------------------------------------
    def route(self, events: Iterable[tuple[bytes, int, int]]) -> list[tuple[int, bytes]]:
        """(facts partition, ``RoutedBatch`` message) pairs for a batch of events, in routing order.

        Each event comes as (value, clock before, clock after): the backtest clock stamped at
        ingest in input order (:mod:`jiandu.core.ordering`), or (value, 0, 0) when unstamped.
        In backtest mode an unstamped event moves the router's own clock (largest event time
        seen minus the lateness); a stamped one carries its stamps to the evaluator, and when
        the clock passes midnight (China time) every facts partition gets a clock-only entry
        there, so that deadlines fire at the same place in the input whatever the batching.
        """
        started = time.perf_counter()
        by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
        lateness = self.settings.backtest_lateness_seconds * 1000
        backtest = self.mode == BACKTEST
        types: collections.Counter[str] = collections.Counter()
        for value, before, after in events:
            event = self.codec.decode_event(value)
            types[event.type] += 1
            crossed = False
            if backtest:
                after = after or max(self.router_clock, event.occurred_at - lateness)
                crossed = bool(before) and local_date(after) != local_date(self.router_clock or after)
                self.router_clock = max(self.router_clock, after)
            entities = self.engine.route(event)
            if entities:
                fact = orjson.dumps(fact_of(event).row())
                clock = after if backtest else 0
                for entity in entities:
                    by_partition[partition_of(entity.encode(), self.partitions)].append(
                        {
                            "entity": entity,
                            "clock": clock,
                            "fact": fact,
                            "ingested_at": event.ingested_at,
                            "clock_before": before,
                        }
                    )
            if crossed:
                for partition in range(self.partitions):
                    by_partition[partition].append(
                        {"entity": "", "clock": after, "fact": CLOCK_ONLY, "ingested_at": 0, "clock_before": 0}
                    )
        routed = [
            (partition, self.codec.encode("routed_batch", {"facts": chunk}))
            for partition, facts in sorted(by_partition.items())
            for chunk in _chunks(facts, _FACTS_PER_MESSAGE if backtest else _FACTS_PER_LIVE_MESSAGE)
        ]
        self.metrics.routed(types, time.perf_counter() - started)
        return routed

    def tick(self, clock: int) -> bytes:
        """A routed message that only advances the clock."""
        return self.codec.encode("routed", {"entity": "", "clock": clock, "event": None})

    # -- evaluator ---------------------------------------------------------
    def unpack(self, value: bytes) -> tuple[int, list[Routed] | None]:
        """A facts message: (0, [Routed, …]) in routing order, or (clock, ``None``) for a tick."""
        name, routed = self.codec.decode(value)
        if name == "routed_batch":
            entries = [_routed(f) for f in routed["facts"]]
            pairs = zip(entries, routed["facts"], strict=True)
            self.ingested = {r.fact.id: f["ingested_at"] for r, f in pairs if r.fact is not None}
            return 0, entries
        self.ingested = {}
        if routed["event"] is None:
            return routed["clock"], None
        # one event per message, as earlier versions of the router wrote them
        fact = fact_of(self.codec.decode_event(routed["event"]))
        return 0, [Routed(routed["entity"].encode(), routed["clock"], 0, fact)]


@dataclass(frozen=True, slots=True)
class Routed:
    """One entry of a facts message: a fact for an entity, or (``fact`` None) a step of the clock."""

    entity: bytes
    clock: int  # the hub clock after the event (0: unstamped live fact)
    clock_before: int  # backtest: the clock just before the event in input order (0: unstamped)
    fact: Fact | None


def _routed(entry: dict[str, Any]) -> Routed:
    if not entry["entity"]:
        return Routed(CLOCK_ONLY, entry["clock"], 0, None)
    fact = Fact(*orjson.loads(entry["fact"]))
    return Routed(entry["entity"].encode(), entry["clock"], entry.get("clock_before", 0), fact)


def _chunks(facts: list[dict[str, Any]], per_message: int) -> Iterator[list[dict[str, Any]]]:
    """Facts split into messages of at most ``per_message`` facts and about ``_MESSAGE_BYTES``."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for fact in facts:
        if chunk and (len(chunk) >= per_message or size + len(fact["fact"]) > _MESSAGE_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(fact)
        size += len(fact["fact"]) + len(fact["entity"]) + 8
    if chunk:
        yield chunk
