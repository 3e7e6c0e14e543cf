"""Move lead versions, officer actions and sealed ID numbers from Kafka into the archive.

The archiver is a consumer group on the lead, outcome and identities topics, and on the event
topics and dead letters for the data-quality scorecard (quality.py). It stores each poll's
messages in one database transaction and commits the offsets only after that transaction:
a crash between the two re-reads messages the archive already has, which it ignores
(versions are keyed by lead and ``updated_at``, actions by ``action_id``, seals by person and
time, scorecard counts by the partition offsets stored with them).

Rows stored count in ``jiandu_archive_writes_total{kind}`` (``lead_version``, ``action``;
a message the archive already had is not a write).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer, TopicPartition

from consumers._group import GroupMembership
from consumers.archive.model import Action, SealedIdentity
from consumers.archive.quality import Arrival, rejection_key
from consumers.archive.store import LeadArchive
from jiandu.broker import KafkaConsumer, high_watermarks
from jiandu.core.leads import Lead
from jiandu.core.records import RECORD_TYPES
from jiandu.core.timeutil import to_ms
from jiandu.errors import InputError, SchemaError
from jiandu.journal import JournalEntry, JournalWriter
from jiandu.observability.labels import source_label, type_label
from jiandu.observability.metrics.consumers import (
    AGENCY_DELAY,
    AGENCY_LAST_ARRIVAL,
    AGENCY_LEADS_REVERSED,
    AGENCY_RECORDS,
    ARCHIVE_WRITES,
)
from jiandu.serde import AvroCodec

__all__ = ["ArchiveProgress", "archive_stream", "publish_action", "rebuild", "store_messages"]

_log = logging.getLogger(__name__)
_VERSION_WRITES = ARCHIVE_WRITES.labels("lead_version")
_ACTION_WRITES = ARCHIVE_WRITES.labels("action")
_REVERSED = ("RESOLVED", "WITHDRAWN")


@dataclass(slots=True)
class ArchiveProgress:
    """Counts of one archiver run."""

    versions: int = 0
    actions: int = 0
    duplicates: int = 0
    undecodable: int = 0
    identities: int = 0
    arrivals: int = 0

    def add(self, other: ArchiveProgress) -> None:
        """Accumulate another batch's counts."""
        self.versions += other.versions
        self.actions += other.actions
        self.duplicates += other.duplicates
        self.undecodable += other.undecodable
        self.identities += other.identities
        self.arrivals += other.arrivals


def store_messages(archive: LeadArchive, codec: AvroCodec, messages: Iterable[Any]) -> ArchiveProgress:
    """Store a batch of consumer records (leads and actions) in the archive.

    An undecodable message is logged and skipped: the archive cannot repair it, and stopping
    would hold every later lead back (the lead topic is written only by the streams workers).
    """
    progress = ArchiveProgress()
    versions: list[tuple[Lead, str, int, int]] = []
    actions: list[Action] = []
    identities: list[SealedIdentity] = []
    arrivals: list[Arrival] = []
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
        elif name == "sealed_identity":
            identities.append(
                SealedIdentity(record["person_key"], record["key_id"], record["sealed"], _ms(record["sealed_at"]))
            )
        elif name in RECORD_TYPES or name == "dead_letter":
            arrivals.append(_arrival(name, record, m))
    if identities:
        progress.identities = archive.store_identities(identities)
    if arrivals:
        counted = archive.record_arrivals(arrivals)
        progress.arrivals = len(counted)
        _count_quality(counted)
    before = _reversal_candidates(archive, versions)
    stored = archive.store_versions(versions) if versions else 0
    progress.versions, progress.duplicates = stored, len(versions) - stored
    _count_reversals(archive, before)
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


def _arrival(name: str, record: Mapping[str, Any], m: Any) -> Arrival:
    """What the data-quality scorecard counts of an event or a dead letter (never a person: a dead letter's
    source is whatever the sender wrote, so only a well-formed source is kept, else ``invalid``, and of
    its reason only the field and the rule broken, not the value)."""
    where = (m.topic, m.partition, m.offset)
    if name == "dead_letter":
        reason = rejection_key(record["reason"])
        return Arrival(*where, source_label(record.get("source")), _ms(record["received_at"]), reason=reason)
    return Arrival(
        *where,
        source_label(record["source"]),
        _ms(record["ingested_at"]),
        record_type=name,
        event_id=record["event_id"],
        occurred_at=_ms(record["occurred_at"]),
        recorded_at=_ms(record["recorded_at"]),
    )


def _reversal_candidates(archive: LeadArchive, versions: Iterable[tuple[Lead, str, int, int]]) -> dict[str, str]:
    """Leads of this batch that arrive RESOLVED or WITHDRAWN, with the status the archive had for them."""
    out: dict[str, str] = {}
    for lead, *_ in versions:
        if lead.status in _REVERSED and lead.lead_id not in out:
            history = archive.lead(lead.lead_id)
            out[lead.lead_id] = "" if history is None else history.latest["status"]
    return out


def _count_reversals(archive: LeadArchive, before: Mapping[str, str]) -> None:
    """A lead that became RESOLVED or WITHDRAWN counts for the source of its last evidence (the late record)."""
    for lead_id, status in before.items():
        history = archive.lead(lead_id)
        if history is None or history.latest["status"] == status or not history.latest["evidence"]:
            continue
        source = source_label(history.latest["evidence"][-1]["source"])
        AGENCY_LEADS_REVERSED.labels(source, history.latest["status"]).inc()


def _count_quality(arrivals: Iterable[Arrival]) -> None:
    for a in arrivals:
        source = a.source
        AGENCY_LAST_ARRIVAL.labels(source).set(a.arrived_at / 1000)
        if a.record_type is None or a.occurred_at is None or a.recorded_at is None:
            continue
        AGENCY_RECORDS.labels(source, type_label(a.record_type), "duplicate" if a.duplicate else "accepted").inc()
        if a.duplicate:
            continue
        AGENCY_DELAY.labels(source, "recording").observe(max(0, a.recorded_at - a.occurred_at) / 1000)
        AGENCY_DELAY.labels(source, "upload").observe(max(0, a.arrived_at - a.recorded_at) / 1000)


def _ms(value: Any) -> int:
    return value if isinstance(value, int) else to_ms(value)
