"""Compaction of the journal (``jiandu journal compact``): closed segments merged, re-sent duplicates dropped.

Everything accepted is needed for a replay (the worker rebuilds from all events; the
dead letters and officers' actions are kept forever), except what was accepted twice:
an agency that re-sends a record after the push API forgot its id, a batch re-sent
after a 503 whose messages the broker had partly confirmed, a second ``jiandu run`` of
the same sample. The hub ignores those by ``event_id`` (events) and ``action_id``
(actions); compaction keeps the first of each, in journal-time order, and every dead
letter.

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
            value = codec.decode(entry.value)[1].get(field)
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
        for entry in _first_of_each(group, identity):
            kept += 1
            writer.write(_row(entry))
            if kept % _BLOCK == 0:
                writer.flush()
        writer.flush()
        _sync(file)
    read = sum(1 for segment in group for _ in entries_of(segment.path))
    partial.rename(final)
    return final, read, kept


def _first_of_each(group: list[Segment], identity: Callable[[JournalEntry], str | None]) -> Iterator[JournalEntry]:
    """The first message of each identity (and every message without one), in journal-time order."""
    seen: set[str] = set()
    for entry in heapq.merge(*(entries_of(s.path) for s in group), key=lambda e: e.timestamp_ms):
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
