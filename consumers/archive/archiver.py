"""Move lead versions and officer actions from Kafka into the archive.

The archiver is a consumer group on the lead and outcome topics. It stores each poll's
messages in one database transaction and commits the offsets only after that transaction:
a crash between the two re-reads messages the archive already has, which it ignores
(versions are keyed by lead and ``updated_at``, actions by ``action_id``).

Rows stored count in ``jiandu_archive_writes_total{kind}`` (``lead_version``, ``action``;
a message the archive already had is not a write).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumers._group import GroupMembership
from consumers.archive.model import Action
from consumers.archive.store import LeadArchive
from jiandu.broker import high_watermarks
from jiandu.core.leads import Lead
from jiandu.core.timeutil import to_ms
from jiandu.errors import InputError, SchemaError
from jiandu.journal import JournalEntry, JournalWriter
from jiandu.observability.metrics.consumers import ARCHIVE_WRITES
from jiandu.serde import AvroCodec

__all__ = ["ArchiveProgress", "archive_stream", "publish_action", "rebuild", "store_messages"]

_log = logging.getLogger(__name__)
_VERSION_WRITES = ARCHIVE_WRITES.labels("lead_version")
_ACTION_WRITES = ARCHIVE_WRITES.labels("action")


@dataclass(slots=True)
class ArchiveProgress:
    """Counts of one archiver run."""

    versions: int = 0
    actions: int = 0
    duplicates: int = 0
    undecodable: int = 0

    def add(self, other: ArchiveProgress) -> None:
        """Accumulate another batch's counts."""
        self.versions += other.versions
        self.actions += other.actions
        self.duplicates += other.duplicates
        self.undecodable += other.undecodable


def store_messages(archive: LeadArchive, codec: AvroCodec, messages: Iterable[Any]) -> ArchiveProgress:
    """Store a batch of consumer records (leads and actions) in the archive.

    An undecodable message is logged and skipped: the archive cannot repair it, and stopping
    would hold every later lead back (the lead topic is written only by the streams workers).
    """
    progress = ArchiveProgress()
    versions: list[tuple[Lead, str, int, int]] = []
    actions: list[Action] = []
    for m in messages:
        try:
            name, record = codec.decode(m.value)
        except SchemaError as exc:
            _log.error("topic %s partition %s offset %s: skipped: %s", m.topic, m.partition, m.offset, exc)
            progress.undecodable += 1
            continue
        if name == "lead":
            versions.append((Lead.from_avro(record), m.topic, m.partition, m.offset))
        elif name == "action":
            actions.append(Action.from_row({**record, "at": _ms(record["at"])}))
    stored = archive.store_versions(versions) if versions else 0
    progress.versions, progress.duplicates = stored, len(versions) - stored
    for action in actions:
        try:
            stored_action = archive.record_action(action)
        except InputError as exc:  # a producer other than `jiandu archive act` wrote an invalid action
            _log.error("outcome topic: action %s skipped: %s", action.action_id, exc)
            progress.undecodable += 1
            continue
        progress.actions += stored_action
        progress.duplicates += not stored_action
    _VERSION_WRITES.inc(progress.versions)
    _ACTION_WRITES.inc(progress.actions)
    return progress


def archive_stream(
    archive: LeadArchive,
    client_config: Mapping[str, Any],
    topics: list[str],
    group_id: str,
    *,
    should_stop: Callable[[], bool],
    session_timeout_ms: int = 6000,
    on_batch: Callable[[ArchiveProgress], None] | None = None,
    membership: GroupMembership | None = None,
) -> ArchiveProgress:
    """Consume ``topics`` as ``group_id`` and archive every message until ``should_stop()``.

    A new group starts at the beginning of the topics. Offsets are committed after each batch is
    in the database. ``membership``, when given, follows the group's assignments (readiness).
    """
    codec = AvroCodec()
    total = ArchiveProgress()
    consumer = KafkaConsumer(
        **client_config,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(100, session_timeout_ms // 3),
    )
    try:
        consumer.subscribe(topics, listener=membership)
        while not should_stop():
            batches = consumer.poll(timeout_ms=500, max_records=5000)
            if not batches:
                continue
            progress = store_messages(archive, codec, (m for ms in batches.values() for m in ms))
            consumer.commit()  # only after the archive committed: a crash in between re-reads, never loses
            total.add(progress)
            if on_batch is not None:
                on_batch(progress)
    finally:
        consumer.close()
    return total


def rebuild(
    archive: LeadArchive, client_config: Mapping[str, Any], topics: list[str], *, timeout: float = 600.0
) -> ArchiveProgress:
    """Forget every archived lead version and read ``topics`` again from their beginning to their current end.

    Actions stay in the archive (they are not derived from the lead topic); those on the outcome topic
    are replayed too, so an archive that lost them gets them back. The lead topic is compacted: of a
    lead's older versions only those not yet compacted away come back.
    """
    archive.clear_versions()
    settings = {k: v for k, v in client_config.items() if k != "bootstrap_servers"}
    ends = high_watermarks(",".join(client_config["bootstrap_servers"]), topics, settings)
    codec = AvroCodec()
    total = ArchiveProgress()
    consumer = KafkaConsumer(**client_config, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
        if not parts:
            return total
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        # leads before actions would be nicer but is not needed: an action does not require its lead
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"rebuilding the archive from {', '.join(topics)} took over {timeout:.0f} s")
            batches = consumer.poll(timeout_ms=500, max_records=5000)
            total.add(store_messages(archive, codec, (m for ms in batches.values() for m in ms)))
    finally:
        consumer.close()
    return total


def publish_action(
    producer: KafkaProducer, codec: AvroCodec, topic: str, action: Action, journal: JournalWriter | None = None
) -> None:
    """Put an officer's action on the outcome topic (keyed by lead) and wait until the broker has it.

    With a journal (the embedded broker), the action is also journaled (fsync) before this returns.
    """
    action.validate()
    key, value = action.lead_id.encode(), codec.encode("action", action.row())
    metadata = producer.send(topic, key=key, value=value).get(timeout=30)
    if journal is not None:
        journal.append([JournalEntry(topic, metadata.partition, key, value, int(time.time() * 1000))])


def _ms(value: Any) -> int:
    return value if isinstance(value, int) else to_ms(value)
