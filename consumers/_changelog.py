"""Consumer state in a compacted Kafka topic, aligned with the input's partitions (Kafka Streams' changelog).

A long-running reader of the lead topic (the alert router, the webhook deliverer) remembers
things per lead: the versions it has routed or delivered, the severities a lead had. That
memory must follow a partition when the group moves it to another replica on another host,
so it lives in Kafka, not on the host:

- The state of the lead at input partition ``p`` is written to partition ``p`` of a compacted
  changelog topic with the input's partition count, keyed by the consumer's group and the input
  message's key (several groups can share one changelog without sharing state).
- Writes are staged (:meth:`ChangelogState.put`), then sent and confirmed by the broker
  (``acks=all``; on the embedded broker also fsynced into the hub's journal) by
  :meth:`ChangelogState.flush`, which the consumer calls before it commits the input offsets
  the writes came from: a committed offset never runs ahead of its state.
- As the group's rebalance listener, the state flushes what is staged when partitions are
  revoked (before another member can own them), and on assignment forgets the partitions it
  lost. The consumer then calls :meth:`ChangelogState.restore` after each poll, before it
  processes what the poll returned: it reads the changelog partitions of exactly the assigned
  partitions to their end — only the tail after what it already holds, when it kept a
  partition. (Not in the listener: kafka-python runs it on the consumer's IO thread, and a
  long restore there would stop the heartbeats and cost the membership.)

The end of a changelog partition is its high watermark from a Fetch response (the embedded
broker's ListOffsets is wrong; notes/tansu.md). A changelog shorter than what the state holds
(topics recreated, an embedded broker restarted without journal) is read again from its start.

kafka-python swallows exceptions raised by a rebalance listener, so a failed flush on revoke
is kept and raised by :meth:`ChangelogState.restore`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from jiandu.broker import KafkaConsumer, Outgoing, send_confirmed
from jiandu.errors import BrokerError, DeliveryError
from jiandu.journal import JournalWriter

__all__ = ["ChangelogState"]

log = logging.getLogger(__name__)
_SEP = b"\x1f"
_ABSENT = object()


class ChangelogState(ConsumerRebalanceListener):
    """Per input partition, key → value bytes, restored from and written to a compacted changelog topic.

    Thread-safe: a consumer thread (rebalance callbacks) and the thread that processes may both use it.
    """

    def __init__(
        self,
        client_config: Mapping[str, Any],
        topic: str,
        *,
        input_topic: str,
        namespace: str,
        journal: JournalWriter | None = None,
        fetch_max_wait_ms: int = 20,
        timeout: float = 120.0,
    ) -> None:
        self.topic = topic
        self.input_topic = input_topic
        self.restored = 0  # changelog records read by restores, all partitions
        self.restore_seconds = 0.0
        self._prefix = namespace.encode() + _SEP
        self._journal = journal
        self._timeout = timeout
        self._lock = threading.RLock()
        self._flushing = threading.Lock()  # one flush at a time: each confirms everything staged before it
        self._tables: dict[int, dict[bytes, bytes]] = {}
        self._ends: dict[int, int] = {}  # the changelog offset up to which each table is complete
        self._pending: dict[tuple[int, bytes], bytes | None] = {}
        self._inflight: dict[tuple[int, bytes], bytes | None] = {}
        self._failure: Exception | None = None
        self._to_restore: set[int] = set()
        try:
            self._producer = KafkaProducer(
                **client_config, acks="all", enable_idempotence=True, linger_ms=2, retries=2_147_483_647
            )
            self._reader = KafkaConsumer(
                **client_config,
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=fetch_max_wait_ms,
                max_partition_fetch_bytes=4 << 20,
            )
        except KafkaError as exc:
            raise BrokerError(
                f'cannot connect the state of changelog "{topic}": {exc}. Is the broker running?'
            ) from exc

    # -- reading and writing -------------------------------------------------------------------

    def get(self, partition: int, key: str) -> bytes | None:
        """The value of ``key`` at ``partition``: staged, being flushed, or restored (None if none)."""
        slot = (partition, self._prefix + key.encode())
        with self._lock:
            for layer in (self._pending, self._inflight):
                value = layer.get(slot, _ABSENT)
                if value is not _ABSENT:
                    return value  # type: ignore[return-value]
            return self._tables.get(partition, {}).get(slot[1])

    def put(self, partition: int, key: str, value: bytes | None) -> None:
        """Stage a new value (None: delete) until :meth:`flush`; ignored for a partition no longer held."""
        with self._lock:
            if partition not in self._tables:
                log.debug('changelog "%s": write for partition %d dropped, not assigned here', self.topic, partition)
                return
            self._pending[(partition, self._prefix + key.encode())] = value

    def discard(self) -> None:
        """Forget what was staged since the last flush (the work it recorded was not confirmed)."""
        with self._lock:
            self._pending.clear()

    def flush(self) -> int:
        """Send what is staged, wait for the broker (and the journal); returns how many records were written.

        Raises :class:`DeliveryError` when the broker does not confirm: the writes stay staged.
        """
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, {}
                self._inflight = batch
            if not batch:
                return 0
            try:
                written = self._send(batch)
            except DeliveryError:
                with self._lock:
                    self._pending = {**batch, **self._pending}
                    self._inflight = {}
                raise
            with self._lock:
                for (partition, key), (offset, value) in written.items():
                    self._apply(partition, key, value, offset)
                self._inflight = {}
            return len(batch)

    def _send(self, batch: dict[tuple[int, bytes], bytes | None]) -> dict[tuple[int, bytes], tuple[int, bytes | None]]:
        slots = list(batch.items())
        confirmed = send_confirmed(
            self._producer,
            [Outgoing(self.topic, key, value, partition) for (partition, key), value in slots],
            timeout=self._timeout,
            journal=self._journal,
            unconfirmed="no input offset was committed after them: restart the consumer to redo that work",
        )
        return {slot: (meta.offset, value) for (slot, value), meta in zip(slots, confirmed, strict=True)}

    def _apply(self, partition: int, key: bytes, value: bytes | None, offset: int) -> None:
        table = self._tables.get(partition)
        if table is None:
            return  # revoked meanwhile: the next owner reads it from the changelog
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self._ends[partition] = max(self._ends.get(partition, 0), offset + 1)

    # -- the group's rebalances ------------------------------------------------------------------

    def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        """Flush before another member can own the partitions (the tables stay until the next assignment)."""
        try:
            self.flush()
        except DeliveryError as exc:
            self._failure = exc

    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        """Forget the partitions not assigned; read the assigned ones' changelog partitions to their end."""
        partitions = {tp.partition for tp in assigned if tp.topic == self.input_topic}
        with self._lock:
            for partition in set(self._tables) - partitions:
                del self._tables[partition]
                self._ends.pop(partition, None)
            self._pending = {slot: v for slot, v in self._pending.items() if slot[0] in partitions}
            for partition in partitions:
                self._tables.setdefault(partition, {})
            self._to_restore = partitions

    def restore(self) -> None:
        """After a poll, before processing: read the changelog of newly assigned partitions to its end.

        Raises what went wrong in a rebalance callback (a flush on revoke), and :class:`BrokerError`
        when the changelog cannot be read: the consumer must stop rather than work without its state.
        """
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise BrokerError(f'changelog "{self.topic}": {failure}. Restart the consumer') from failure
        with self._lock:
            partitions, self._to_restore = sorted(self._to_restore), set()
        if partitions:
            try:
                self._restore(partitions)
            except KafkaError as exc:
                raise BrokerError(f'changelog "{self.topic}": restoring {partitions} failed: {exc!r}') from exc

    def problem(self) -> str | None:
        """Readiness: why the state is not usable (yet), or None."""
        if self._failure is not None:
            return f'changelog "{self.topic}": {self._failure}'
        return (
            f'changelog "{self.topic}": restoring partitions {sorted(self._to_restore)}' if self._to_restore else None
        )

    def held(self) -> dict[int, int]:
        """Keys held per assigned partition."""
        with self._lock:
            return {p: len(t) for p, t in self._tables.items()}

    def _restore(self, partitions: list[int]) -> None:
        started = time.monotonic()
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self._reader.assign([])  # fresh partition states: no high watermark remembered from an earlier restore
        self._reader.assign(tps)
        for tp in tps:
            self._reader.seek(tp, self._ends.get(tp.partition, 0))
        pending, deadline = set(tps), started + self._timeout
        while pending:
            if time.monotonic() > deadline:
                raise BrokerError(f"restoring {sorted(tp.partition for tp in pending)} took over {self._timeout:.0f} s")
            for tp, records in self._reader.poll(timeout_ms=100, max_records=50_000).items():
                self._restore_records(tp.partition, records)
            pending = {tp for tp in pending if not self._caught_up(tp)}
        self._reader.assign([])
        self.restore_seconds += time.monotonic() - started
        log.info('changelog "%s": partitions %s restored, %d keys', self.topic, partitions, sum(self.held().values()))

    def _restore_records(self, partition: int, records: list[Any]) -> None:
        with self._lock:
            for record in records:
                self.restored += 1
                if record.key is not None and record.key.startswith(self._prefix):
                    self._apply(partition, record.key, record.value, record.offset)
                else:
                    self._ends[partition] = record.offset + 1

    def _caught_up(self, tp: TopicPartition) -> bool:
        end = self._reader.highwater(tp)
        if end is None:
            return False
        with self._lock:
            if end < self._ends.get(tp.partition, 0):  # a new, shorter changelog: what is held is not in it
                log.warning('changelog "%s" partition %d is shorter than the state held: read again', *tp)
                self._tables[tp.partition] = {}
                self._ends[tp.partition] = 0
                self._reader.seek(tp, 0)
                return False
        return self._reader.position(tp) >= end

    def close(self) -> None:
        """Close the clients (what is staged and not flushed is lost: its input offsets were not committed)."""
        try:
            self._producer.close(timeout=10)
        finally:
            self._reader.close(autocommit=False)
