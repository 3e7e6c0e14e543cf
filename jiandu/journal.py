"""The durable journal: every accepted event, dead letter and officer action, on local disk.

The embedded broker keeps everything in memory (``notes/tansu.md``): a restart is an
empty cluster. So on the embedded default the hub keeps what it accepted itself.
Each writing process appends to segment files of its own (Avro Object Container
Files, one per process and roll-over, so writers never share a file); a batch of
messages is one Avro block, written and fsynced after the broker confirmed the
batch and before any of it counts as accepted. At start, the embedded broker is
filled again from every segment (:func:`jiandu.broker.replay_journal`) before it
reports ready.

A segment's header names the writer, its pid, the topic prefix and the partition
count, so a replay can create the topics before producing into them. A crash
while a block is written leaves a torn tail; reading stops there (those messages
never counted as accepted: the fsync had not returned).

Production (``JIANDU_KAFKA_BOOTSTRAP``: a replicated Kafka) needs no journal; it is
off there unless ``JIANDU_JOURNAL=on``.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import fastavro
from fastavro.write import Writer

from jiandu.errors import JournalError

__all__ = [
    "JOURNAL_SCHEMA",
    "AppendCheck",
    "JournalEntry",
    "JournalWriter",
    "Segment",
    "directory_lock",
    "entries_of",
    "fsync_directory",
    "read_journal",
    "segment_writer",
    "segments",
]

_log = logging.getLogger(__name__)

JOURNAL_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "JournalEntry",
    "namespace": "cn.jiandu.journal",
    "doc": "One message the broker confirmed, as it was produced (value: the Avro single-object bytes).",
    "fields": [
        {"name": "topic", "type": "string", "doc": "Full topic name, prefix included."},
        {"name": "partition", "type": "int", "doc": "The partition the broker confirmed it on."},
        {"name": "key", "type": ["null", "bytes"], "doc": "Message key."},
        {"name": "value", "type": ["null", "bytes"], "doc": "Message value (null: a tombstone of a compacted topic)."},
        {"name": "timestamp_ms", "type": "long", "doc": "When it was journaled (ms since the epoch, UTC)."},
    ],
}
_PARSED_SCHEMA = fastavro.parse_schema(JOURNAL_SCHEMA)
_SUFFIX = ".avro"
_FIELDS = ("topic", "partition", "key", "value", "timestamp_ms")
#: Numbers the segments a process creates: several writers of one name in one process (a REST poller per
#: source) never pick the same file name.
_SEGMENT_NUMBERS = itertools.count(1)
#: A segment is closed and a new one started after this many bytes.
SEGMENT_BYTES = 64 * 2**20


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journaled message."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment file and what its header says about its writer."""

    path: Path
    writer: str
    topic_prefix: str
    partitions: int


class AppendCheck(Protocol):
    """Run after each append's fsync; raising says the appended messages do not count as accepted.

    The embedded broker's (``jiandu.cli.hub.journal_for``): the broker that confirmed them still
    serves, so they are on it or in what its next start replays.
    """

    def __call__(self) -> None: ...

    def close(self) -> None: ...


class JournalWriter:
    """Appends confirmed messages of one process to its own segment files under ``directory``.

    Thread-safe; :meth:`append` returns only after the batch is on disk (fsync), and after
    ``check`` (if any) passed: what it raises, the caller gets, and nothing of the batch counts
    as accepted. ``topics``: journal only messages of these topics (what is accepted: events,
    dead letters, officers' actions; not control messages such as clock ticks). None: all.
    """

    def __init__(
        self,
        directory: Path,
        *,
        writer: str,
        topic_prefix: str,
        partitions: int,
        topics: Iterable[str] | None = None,
        segment_bytes: int = SEGMENT_BYTES,
        check: AppendCheck | None = None,
    ) -> None:
        if not writer.replace("-", "").replace("_", "").isalnum():
            raise JournalError(f"journal writer name {writer!r}: use letters, digits, - and _")
        self.directory = directory
        self._writer_name = writer
        self._metadata = {
            "jiandu.writer": writer,
            "jiandu.pid": str(os.getpid()),
            "jiandu.topic_prefix": topic_prefix,
            "jiandu.partitions": str(partitions),
        }
        self._segment_bytes = segment_bytes
        self._topics = None if topics is None else frozenset(topics)
        self._check = check
        self._file: IO[bytes] | None = None
        self._avro: Writer | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path | None:
        """The segment being written (None before the first append)."""
        return Path(self._file.name) if self._file is not None else None

    def append(self, entries: Iterable[JournalEntry]) -> int:
        """Write ``entries`` as one block and fsync; returns how many were written."""
        rows = [
            {"topic": e.topic, "partition": e.partition, "key": e.key, "value": e.value, "timestamp_ms": e.timestamp_ms}
            for e in entries
            if self._topics is None or e.topic in self._topics
        ]
        if not rows:
            return 0
        with self._lock:
            try:
                avro, file = self._current()
                for row in rows:
                    avro.write(row)
                avro.flush()
                file.flush()
                os.fsync(file.fileno())
            except OSError as exc:
                self._close()  # a half-written block: never append after it
                raise JournalError(f"cannot write the journal in {self.directory}: {exc}") from exc
            if file.tell() >= self._segment_bytes:
                self._close()
            if self._check is not None:
                self._check()
        return len(rows)

    def close(self) -> None:
        """Close the current segment (the next append starts a new one) and what ``check`` holds open."""
        with self._lock:
            self._close()
            if self._check is not None:
                self._check.close()

    def _current(self) -> tuple[Writer, IO[bytes]]:
        if self._avro is not None and self._file is not None:
            return self._avro, self._file
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{self._writer_name}-{stamp}-{os.getpid()}-{next(_SEGMENT_NUMBERS):04d}{_SUFFIX}"
        file = (self.directory / name).open("xb")
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while open: compaction leaves it alone
        self._file = file
        self._avro = segment_writer(file, self._metadata)
        file.flush()
        os.fsync(file.fileno())
        fsync_directory(self.directory)  # the new file's name must survive a crash too
        return self._avro, file

    def _close(self) -> None:
        file, self._file, self._avro = self._file, None, None
        if file is not None:
            file.close()


def segments(directory: Path) -> list[Segment]:
    """Every readable segment under ``directory``, oldest first (a file whose header was cut short is skipped)."""
    found = []
    for path in sorted(directory.glob(f"*{_SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name)):
        try:
            with path.open("rb") as file:
                metadata = fastavro.reader(file).metadata
            found.append(
                Segment(
                    path,
                    metadata.get("jiandu.writer", "?"),
                    metadata["jiandu.topic_prefix"],
                    int(metadata["jiandu.partitions"]),
                )
            )
        except (ValueError, KeyError, EOFError, OSError) as exc:
            _log.warning("journal segment %s skipped: no readable header (%s: %s)", path.name, type(exc).__name__, exc)
    return found


def read_journal(directory: Path) -> Iterator[JournalEntry]:
    """Every journaled message of every segment, merged by journal time (each segment in its own order)."""
    readers = [_entries(segment.path) for segment in segments(directory)]
    return heapq.merge(*readers, key=lambda entry: entry.timestamp_ms)


def entries_of(path: Path) -> Iterator[JournalEntry]:
    """The messages of one segment, in order, up to a torn tail."""
    return _entries(path)


def _entries(path: Path) -> Iterator[JournalEntry]:
    count = 0
    with path.open("rb") as file:
        try:
            for row in fastavro.reader(file):
                count += 1
                yield JournalEntry(*(row[k] for k in _FIELDS))  # type: ignore[arg-type,index,call-overload]
        except (ValueError, EOFError, StopIteration) as exc:
            # A block cut short by a crash: its fsync never returned, so none of it was accepted.
            _log.warning("journal segment %s: torn tail after %d messages (%s), ignored", path.name, count, exc)


@contextlib.contextmanager
def directory_lock(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Replays read under a shared lock, compaction rewrites under an exclusive one (writers need none:
    each appends only to the segment it created and holds locked)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def segment_writer(file: IO[bytes], metadata: dict[str, str]) -> Writer:
    """An Avro container writer of journal entries on ``file`` (its header written): blocks only on flush."""
    return Writer(file, _PARSED_SCHEMA, codec="null", sync_interval=1 << 30, metadata=metadata)


def fsync_directory(directory: Path) -> None:
    """Make the names in ``directory`` (a new or renamed segment) survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
