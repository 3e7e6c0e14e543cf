"""Adapter sources owned by one replica at a time (a consumer-group lease), their checkpoints on Kafka.

A REST source or a drop folder is a *unit*. Its checkpoint is an Avro ``AdapterCheckpoint``
(the adapter's own JSON document inside) on the compacted topic
``<prefix>.internal.adapter-checkpoints``, keyed by the unit, in the
partition its name hashes to (:func:`partition_of`). That partition is also the unit's
lease: the replicas of one adapter kind join the consumer group
``<prefix>-adapters-<kind>`` on that topic, and a replica works only the units of the
partitions the group assigned it. When a replica dies (``kill -9``), the group drops it
after the session timeout (``JIANDU_SESSION_TIMEOUT_SECONDS``) and its partitions, with
their units, go to the others.

One owner at a time: kafka-python's rebalances are eager. Every member gives up all its
partitions (:meth:`SourceLease.start`'s ``released`` runs, and returns only when that
replica's work on them stopped after confirming and checkpointing its current page or
batch) before the group hands any out again; then each reads the latest checkpoints of
its new partitions to their end (high watermarks from Fetch responses, as the embedded
broker's ListOffsets is wrong: ``notes/tansu.md``) before ``taken`` starts work on them.
A replica cut off from the group (or whose page or batch outlasts the rebalance timeout, 5
minutes) is dropped while it may still work: two replicas may then publish the same pages,
duplicates by event id that the hub ignores; and as every checkpoint claims only what its
own writer had confirmed, whichever is written last, no record is ever skipped.

A checkpoint is written after the broker confirmed the unit's events (:class:`LeasedCheckpoints`),
through the same publisher, so the journal (the embedded default) keeps it too and a
restarted embedded broker is refilled with it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from jiandu.broker import KafkaConsumer, high_watermarks
from jiandu.core.timeutil import utc_now_ms
from jiandu.errors import BrokerError, DeliveryError
from jiandu.serde import AvroCodec
from producers.publisher import KafkaPublisher

__all__ = ["LeasedCheckpoints", "SourceLease", "partition_of"]

_log = logging.getLogger(__name__)
_CODEC = AvroCodec()
_SCHEMA = "adapter_checkpoint"
_READ_TIMEOUT_SECONDS = 30.0
_POLL_MS = 500  # a join is completed only by polls that wait; shorter ones made it take up to 30 s


def partition_of(unit: str, partitions: int) -> int:
    """The checkpoint (and lease) partition of a unit: murmur2 of its name, as Kafka's default partitioner."""
    return (murmur2(unit.encode()) & 0x7FFFFFFF) % partitions


class SourceLease(ConsumerRebalanceListener):
    """This replica's share of one adapter kind's units, and their latest checkpoints.

    :meth:`start` keeps the group membership in a thread of its own (polls that wait: a group
    makes progress only then), which calls ``taken`` and ``released`` as the units come and go.
    """

    def __init__(
        self,
        client_config: Mapping[str, Any],
        topic: str,
        group: str,
        *,
        partitions: int,
        session_timeout_seconds: float,
    ) -> None:
        self.topic = topic
        self.group = group
        self._partitions = partitions
        self._config = dict(client_config)
        self._held: frozenset[int] = frozenset()
        self._documents: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # documents: remembered by workers, replaced by the lease's thread
        self._taken: Callable[[], None] = lambda: None
        self._released: Callable[[], None] = lambda: None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        session_ms = int(session_timeout_seconds * 1000)
        try:
            self._consumer = KafkaConsumer(
                **self._config,
                group_id=group,
                client_id=group,
                enable_auto_commit=False,
                session_timeout_ms=session_ms,
                heartbeat_interval_ms=max(session_ms // 4, 250),
                # the partitions dealt to the members in turn: the units spread over every replica
                partition_assignment_strategy=(RoundRobinPartitionAssignor,),
            )
        except KafkaError as exc:
            raise BrokerError(f"cannot join the adapter group {group!r}: {exc}. Is the broker running?") from exc
        self._consumer.subscribe([topic], listener=self)

    def start(self, taken: Callable[[], None], released: Callable[[], None]) -> None:
        """Join the group; ``taken`` starts work on the units now held, ``released`` returns once it stopped."""
        self._taken, self._released = taken, released
        self._thread = threading.Thread(target=self._member, name=f"lease {self.group}", daemon=True)
        self._thread.start()

    def holds(self, unit: str) -> bool:
        """Whether this replica owns ``unit`` now."""
        return partition_of(unit, self._partitions) in self._held

    def document(self, unit: str) -> dict[str, Any] | None:
        """The unit's latest checkpoint (None: never written); only for a unit this replica holds."""
        with self._lock:
            found = self._documents.get(unit)
        return json.loads(json.dumps(found)) if found is not None else None  # callers may change their copy

    def remember(self, unit: str, document: dict[str, Any]) -> None:
        """A checkpoint this replica just wrote, confirmed."""
        with self._lock:
            self._documents[unit] = document

    def close(self) -> None:
        """Stop the work and leave the group (the others take the units over at once, not after a timeout)."""
        self._closing.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _member(self) -> None:
        try:
            while not self._closing.is_set():
                try:
                    self._consumer.poll(timeout_ms=_POLL_MS)
                except KafkaError as exc:
                    _log.warning("adapter group %s: %s; trying again", self.group, exc)
                    self._closing.wait(1.0)
        finally:
            if self._held:
                self._released()
                self._held = frozenset()
            self._consumer.close(autocommit=False)

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if not self._held:
            return
        self._released()
        self._held = frozenset()
        _log.info("adapter group %s: released partitions", self.group)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._consumer.pause(*assigned)  # a lease only: the checkpoints are read to their end below, once
        held = frozenset(tp.partition for tp in assigned)
        documents = self._read(held)
        with self._lock:
            self._documents = documents
        self._held = held
        _log.info("adapter group %s: holds partitions %s", self.group, sorted(held))
        self._taken()

    def _read(self, held: frozenset[int]) -> dict[str, dict[str, Any]]:
        """The last checkpoint of every unit of the ``held`` partitions."""
        if not held:
            return {}
        bootstrap = self._config["bootstrap_servers"]
        bootstrap = bootstrap if isinstance(bootstrap, str) else ",".join(bootstrap)
        extra = {k: v for k, v in self._config.items() if k != "bootstrap_servers"}
        ends = {p: end for (_, p), end in high_watermarks(bootstrap, [self.topic], extra).items() if p in held}
        parts = [TopicPartition(self.topic, p) for p, end in ends.items() if end > 0]
        documents: dict[str, dict[str, Any]] = {}
        if not parts:
            return documents
        reader = KafkaConsumer(**self._config, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=20)
        try:
            reader.assign(parts)
            reader.seek_to_beginning(*parts)
            while any(reader.position(tp) < ends[tp.partition] for tp in parts):
                for messages in reader.poll(timeout_ms=int(_READ_TIMEOUT_SECONDS * 1000)).values():
                    for message in messages:
                        documents[message.key.decode()] = json.loads(_CODEC.decode(message.value)[1]["document"])
        finally:
            reader.close(autocommit=False)
        return documents


class LeasedCheckpoints:
    """The checkpoints of the units a :class:`SourceLease` holds, written through one publisher.

    Not thread-safe (the publisher is not): one per thread of work.
    """

    def __init__(self, lease: SourceLease, publisher: KafkaPublisher, *, partitions: int) -> None:
        self._lease = lease
        self._publisher = publisher
        self._partitions = partitions

    def load(self, unit: str) -> dict[str, Any] | None:
        """The unit's latest checkpoint, None when it has none yet."""
        self._require_held(unit)
        return self._lease.document(unit)

    def save(self, unit: str, document: dict[str, Any]) -> None:
        """Publish the unit's checkpoint and wait for the broker (and the journal): DeliveryError if not.

        Call it only after the events it counts were confirmed: a checkpoint is never ahead of them.
        """
        self._require_held(unit)
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        value = _CODEC.encode(_SCHEMA, {"unit": unit, "document": text, "written_at": utc_now_ms()})
        partition = partition_of(unit, self._partitions)
        self._publisher.send(self._lease.topic, unit, value, partition=partition)
        self._publisher.confirm()
        self._lease.remember(unit, document)

    def _require_held(self, unit: str) -> None:
        """Only the owner reads (it alone has read the unit's partition) and writes a unit's checkpoint."""
        if not self._lease.holds(unit):
            raise DeliveryError(
                f"checkpoint of {unit}: this replica does not hold its lease (group {self._lease.group}); "
                "nothing was written, its owner carries on"
            )
