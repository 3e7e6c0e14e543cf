"""Compaction of the journal (``jiandu journal compact``): closed segments merged, re-sent duplicates dropped.

Everything accepted is needed for a replay (the worker rebuilds from all events; the
dead letters and officers' actions are kept forever), except what was accepted twice:
an agency that re-sends a record after the push API forgot its id, a batch re-sent
after a 503 whose messages the broker had partly confirmed, a second ``jiandu run`` of
the same sample. The hub ignores those by ``event_id`` (events) and ``action_id``
(actions); compaction keeps the first of each, in journal-time order, and every dead
letter. The consumers' state topics (``TopicCatalogue.consumer_state_topics``: what the alert
router and the webhook deliverer remember per lead, the webhook dead letters) are compacted
topics: of each key, only the last value (or tombstone) is kept.

Only closed segments are compacted: a writer holds an exclusive ``flock`` on the segment
it appends to, so a segment whose lock can be taken will never grow again. The segments
of one topic prefix and partition count become one new segment, written under a
temporary name, fsynced and renamed into place before the old ones are deleted; a crash
at any point leaves either the old segments or the new one (or both for a moment, which
a replay handles: the duplicates are ignored downstream). Replays read under a shared
directory lock, compaction runs under the exclusive one.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from jiandu.errors import SchemaError
from jiandu.journal import (
    JournalEntry,
    Segment,
    directory_lock,
    entries_of,
    fsync_directory,
    segment_writer,
    segments,
)
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue

__all__ = ["CompactionReport", "accepted_identity", "compact_journal"]

_BLOCK = 10_000
_PARTIAL = ".partial"


@dataclass(frozen=True, slots=True)
class CompactionReport:
    """What one compaction did."""

    segments_before: int
    segments_after: int
    messages_before: int
    messages_after: int
    bytes_before: int
    bytes_after: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.segments_before} closed segments → {self.segments_after}, {self.messages_before} messages → "
            f"{self.messages_after}, {self.bytes_before:,} bytes → {self.bytes_after:,} in {self.seconds:.1f} s"
        )


def accepted_identity(codec: AvroCodec | None = None) -> Callable[[JournalEntry], str | None]:
    """What makes a journaled message the same as another: an event's ``event_id``, an action's ``action_id``.

    None (always kept) for dead letters and anything that does not decode.
    """
    codec = codec or AvroCodec()

    def identity(entry: JournalEntry) -> str | None:
        field = "event_id" if ".events." in entry.topic else "action_id" if entry.topic.endswith(".outcomes") else None
        if field is None:
            return None
        try:
            value = codec.decode(entry.value)[1].get(field) if entry.value is not None else None
        except SchemaError:
            return None
        return f"{entry.topic}\x1f{value}" if value else None

    return identity


def compact_journal(directory: Path, identity: Callable[[JournalEntry], str | None] | None = None) -> CompactionReport:
    """Merge the closed segments of ``directory`` per topic prefix, keeping the first message of each identity."""
    started = time.monotonic()
    identity = identity or accepted_identity()
    with directory_lock(directory, exclusive=True), contextlib.ExitStack() as locks:
        for stale in directory.glob(f"*{_PARTIAL}"):
            stale.unlink()  # a compaction that crashed before its rename
        closed = [s for s in segments(directory) if _lock_if_closed(s.path, locks)]
        groups: dict[tuple[str, int], list[Segment]] = {}
        for segment in closed:
            groups.setdefault((segment.topic_prefix, segment.partitions), []).append(segment)
        before = sum(s.path.stat().st_size for s in closed)
        counts = [0, 0]
        written: list[Path] = []
        for number, ((prefix, partitions), group) in enumerate(sorted(groups.items()), 1):
            path, read, kept = _rewrite(
                directory / f"compacted-{_stamp()}-{os.getpid()}-{number:04d}.avro", prefix, partitions, group, identity
            )
            counts[0] += read
            counts[1] += kept
            written.append(path)
        fsync_directory(directory)
        for segment in closed:
            segment.path.unlink()
        fsync_directory(directory)
    after = sum(p.stat().st_size for p in written)
    return CompactionReport(len(closed), len(written), counts[0], counts[1], before, after, time.monotonic() - started)


def _lock_if_closed(path: Path, locks: contextlib.ExitStack) -> bool:
    file = locks.enter_context(path.open("rb"))
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its writer still appends to it
    return True


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def _rewrite(
    final: Path,
    prefix: str,
    partitions: int,
    group: list[Segment],
    identity: Callable[[JournalEntry], str | None],
) -> tuple[Path, int, int]:
    """One new segment with the first message of each identity of ``group``; returns (path, read, kept)."""
    partial = final.with_name(final.name + _PARTIAL)
    metadata = {
        "jiandu.writer": "compacted",
        "jiandu.pid": str(os.getpid()),
        "jiandu.topic_prefix": prefix,
        "jiandu.partitions": str(partitions),
    }
    kept = 0
    with partial.open("xb") as file:
        writer = segment_writer(file, metadata)
        state_topics = frozenset(TopicCatalogue(prefix, partitions).consumer_state_topics())
        for entry in _first_of_each(group, identity, _last_of_each_key(group, state_topics)):
            kept += 1
            writer.write(_row(entry))
            if kept % _BLOCK == 0:
                writer.flush()
        writer.flush()
        _sync(file)
    read = sum(1 for segment in group for _ in entries_of(segment.path))
    partial.rename(final)
    return final, read, kept


def _merged(group: list[Segment]) -> Iterator[JournalEntry]:
    return heapq.merge(*(entries_of(s.path) for s in group), key=lambda e: e.timestamp_ms)


def _last_of_each_key(group: list[Segment], topics: frozenset[str]) -> dict[tuple[str, int, bytes | None], int]:
    """For the compacted state ``topics``: the position in the merged order of each key's last message."""
    return {(e.topic, e.partition, e.key): n for n, e in enumerate(_merged(group)) if e.topic in topics}


def _first_of_each(
    group: list[Segment],
    identity: Callable[[JournalEntry], str | None],
    last_of_key: dict[tuple[str, int, bytes | None], int],
) -> Iterator[JournalEntry]:
    """The first message of each identity (and every message without one), the last of each state key,
    in journal-time order."""
    seen: set[str] = set()
    for number, entry in enumerate(_merged(group)):
        state_key = (entry.topic, entry.partition, entry.key)
        if state_key in last_of_key:
            if last_of_key[state_key] == number:
                yield entry
            continue
        key = identity(entry)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        yield entry


def _row(entry: JournalEntry) -> dict[str, object]:
    return {
        "topic": entry.topic,
        "partition": entry.partition,
        "key": entry.key,
        "value": entry.value,
        "timestamp_ms": entry.timestamp_ms,
    }


def _sync(file: IO[bytes]) -> None:
    file.flush()
    os.fsync(file.fileno())
