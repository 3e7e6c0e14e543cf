"""Read the dead-letter topic: what was rejected, from which source, why — and which letters were re-submitted.

The reading side of ``jiandu dlq``. A :class:`DeadLetter` keeps the sealed
original bytes (they may hold raw ID numbers) but never shows them: its repr and
every listing leave them out; only :meth:`DeadLetter.open` with the hub's
:class:`~jiandu.core.sealing.PayloadSeal` gives them back, for re-submission.

The topic is append-only, so which letters have been dealt with is kept beside
it, in a small SQLite :class:`ResubmissionLedger` under the data directory:
a letter re-submitted once is not re-submitted again (a record still bad on
re-submission is a new letter with its new reason).
"""

from __future__ import annotations

import collections
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from jiandu.broker import KafkaConsumer, high_watermarks
from jiandu.core.sealing import PayloadSeal
from jiandu.core.timeutil import to_ms, utc_now_ms
from jiandu.errors import SchemaError
from jiandu.serde import AvroCodec

__all__ = [
    "OPEN",
    "DeadLetter",
    "ResubmissionLedger",
    "matching",
    "read_dead_letters",
    "reason_pattern",
    "summarise",
]

OPEN = "open"
_DETAIL = re.compile(r"'[^']*'|\d+")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of the dead-letter topic; ``received_at`` is epoch milliseconds (UTC)."""

    topic: str
    partition: int
    offset: int
    reason: str
    source: str | None
    record_type: str | None
    source_record_id: str | None
    adapter: str
    origin: str
    received_at: int
    payload_sealed: bytes = field(repr=False)

    @property
    def position(self) -> tuple[str, int, int]:
        """(topic, partition, offset): where the letter is, which identifies it."""
        return self.topic, self.partition, self.offset

    def open(self, seal: PayloadSeal) -> bytes:
        """The original bytes as received (they may hold raw ID numbers: never log or print them)."""
        return seal.open(self.payload_sealed)

    @classmethod
    def from_avro(cls, topic: str, partition: int, offset: int, value: Mapping[str, Any]) -> DeadLetter:
        """A decoded ``dead_letter`` value at its position."""
        received = value["received_at"]
        return cls(
            topic,
            partition,
            offset,
            value["reason"],
            value["source"],
            value["record_type"],
            value["source_record_id"],
            value["adapter"],
            value["origin"],
            received if isinstance(received, int) else to_ms(received),
            value["payload_sealed"],
        )


def read_dead_letters(client_config: Mapping[str, Any], topic: str, *, timeout: float = 60.0) -> list[DeadLetter]:
    """Every letter on ``topic`` up to its current end, in partition and offset order."""
    settings = {k: v for k, v in client_config.items() if k != "bootstrap_servers"}
    ends = high_watermarks(",".join(client_config["bootstrap_servers"]), [topic], settings)
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    codec = AvroCodec()
    letters: list[DeadLetter] = []
    consumer = KafkaConsumer(**client_config, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end within {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                letters.extend(_letter(codec, r.topic, r.partition, r.offset, r.value) for r in records)
    finally:
        consumer.close()
    return sorted(letters, key=lambda letter: letter.position)


def _letter(codec: AvroCodec, topic: str, partition: int, offset: int, value: bytes) -> DeadLetter:
    try:
        name, record = codec.decode(value)
    except SchemaError as exc:
        raise SchemaError(f'topic "{topic}" partition {partition} offset {offset}: {exc}') from exc
    if name != "dead_letter":
        raise SchemaError(f'topic "{topic}" partition {partition} offset {offset}: a {name}, not a dead letter')
    return DeadLetter.from_avro(topic, partition, offset, record)


def matching(
    letters: Iterable[DeadLetter], *, source: str | None = None, reason: str | None = None
) -> list[DeadLetter]:
    """Letters whose source starts with ``source`` and whose reason contains ``reason`` (case-insensitive)."""
    needle = reason.lower() if reason else None
    return [
        letter
        for letter in letters
        if (source is None or (letter.source or "").startswith(source))
        and (needle is None or needle in letter.reason.lower())
    ]


def reason_pattern(reason: str) -> str:
    """The reason with its particular values masked, so that alike reasons count together.

    ``id_number: impossible birth date 19900631`` → ``id_number: impossible birth date …``.
    """
    return _DETAIL.sub("…", reason)


def summarise(
    letters: Iterable[DeadLetter], states: Mapping[tuple[str, int, int], str]
) -> list[tuple[str, str, int, int]]:
    """(source, reason pattern, letters, still open) rows, most letters first."""
    total: collections.Counter[tuple[str, str]] = collections.Counter()
    still_open: collections.Counter[tuple[str, str]] = collections.Counter()
    for letter in letters:
        key = (letter.source or "(unknown)", reason_pattern(letter.reason))
        total[key] += 1
        still_open[key] += states.get(letter.position, OPEN) == OPEN
    return [(source, reason, n, still_open[(source, reason)]) for (source, reason), n in total.most_common()]


class ResubmissionLedger:
    """Which letters were re-submitted, and with what outcome (``accepted``, or ``rejected-again`` as a new letter)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS resubmitted (topic TEXT, partition INTEGER, offset INTEGER, "
            "outcome TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (topic, partition, offset))"
        )

    def states(self, letters: Iterable[DeadLetter]) -> dict[tuple[str, int, int], str]:
        """``open`` or the re-submission outcome of each letter."""
        recorded = {
            (t, p, o): outcome
            for t, p, o, outcome in self._db.execute("SELECT topic, partition, offset, outcome FROM resubmitted")
        }
        return {letter.position: recorded.get(letter.position, OPEN) for letter in letters}

    def record(self, outcomes: Iterable[tuple[DeadLetter, str]]) -> None:
        """Remember outcomes of re-submissions the broker confirmed."""
        now = utc_now_ms()
        rows = [(*letter.position, outcome, now) for letter, outcome in outcomes]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO resubmitted VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> ResubmissionLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
