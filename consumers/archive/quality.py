"""The data-quality scorecard (数据质量通报): how well each agency source shares, counted by the archiver.

Every event and dead letter the archiver reads is counted once per month of arrival (China time) and
source: records per type, duplicates (an ``event_id`` already seen), rejections by reason, and two
delays as distributions — recording (``recorded_at`` − ``occurred_at``: how long the agency took to
enter it) and upload (arrival − ``recorded_at``: how long it took to reach the hub). Counting is
exactly once: the next offset of each partition moves in the same transaction as the counts, so a
message read again after a crash is skipped. Nothing here holds a person: sources, types, reasons.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jiandu.core.rejections import field_and_rule
from jiandu.core.timeutil import format_cst

__all__ = [
    "DELAY_BUCKETS",
    "DELAY_LABELS",
    "Arrival",
    "SourceScore",
    "apply_arrivals",
    "delay_bucket",
    "read_scorecard",
    "rejection_key",
]

_HOUR, _DAY = 3_600_000, 86_400_000
#: Upper bounds (exclusive) of the delay buckets in ms; the last bucket is everything longer.
DELAY_BUCKETS = (_HOUR, _DAY, 3 * _DAY, 7 * _DAY, 30 * _DAY)
DELAY_LABELS = ("1 小时内", "1 日内", "3 日内", "7 日内", "30 日内", "30 日以上")
_INDEX = re.compile(r"\[\d+\]")
_REC = tuple(f"rec_{i}" for i in range(6))
_ARR = tuple(f"arr_{i}" for i in range(6))

Rows = Callable[[Any, str, Sequence[Any]], list[dict[str, Any]]]
Run = Callable[[Any, str, Sequence[Any]], Any]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message of an event topic or the dead-letter topic, as the scorecard counts it."""

    topic: str
    partition: int
    offset: int
    source: str
    arrived_at: int
    record_type: str | None = None  # None: a dead letter
    event_id: str | None = None
    occurred_at: int | None = None
    recorded_at: int | None = None
    reason: str | None = None
    duplicate: bool = False  # set when counted: the event_id had been seen before


@dataclass(slots=True)
class SourceScore:
    """One source's month: records, duplicates, rejections by reason, both delays, last arrival."""

    source: str
    accepted: int = 0
    duplicates: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    recording: list[int] = field(default_factory=lambda: [0] * 6)
    upload: list[int] = field(default_factory=lambda: [0] * 6)
    last_arrival: int | None = None

    @property
    def rejected(self) -> int:
        """Records refused at the door this month."""
        return sum(self.rejections.values())

    @property
    def rejection_rate(self) -> float | None:
        """Rejected among everything received (accepted, duplicate or rejected); None when nothing came."""
        received = self.accepted + self.duplicates + self.rejected
        return self.rejected / received if received else None


def rejection_key(reason: str) -> str:
    """``<field>:<rule>`` of a dead letter's reason (``suspects[].id_number:check_character``): what the
    scorecard groups by — the reason's text carries the rejected value, which varies and may be personal."""
    field, rule = field_and_rule(reason)
    if rule == "invalid" and field in ("source", "type") and ("not among its" in reason or "types, not" in reason):
        rule = f"{field}_not_allowed"  # the adapters' own policy (push API credentials, REST feed limits)
    return f"{_INDEX.sub('[]', field or '-')}:{rule}"


def delay_bucket(delay_ms: int) -> int:
    """The index of :data:`DELAY_BUCKETS` a delay falls in (a negative delay counts as none)."""
    return next((i for i, bound in enumerate(DELAY_BUCKETS) if delay_ms < bound), len(DELAY_BUCKETS))


def _month(ms: int) -> str:
    return format_cst(ms)[:7]


def apply_arrivals(cur: Any, rows: Rows, run: Run, arrivals: Iterable[Arrival]) -> list[Arrival]:
    """Count the arrivals not counted yet (by partition offset) inside the caller's transaction; returns them.

    Replicas of the archiver share the database and count into the same rows (a source's last
    arrival, a month's counts) from different partitions at once. So a batch's counts are summed
    first, then written in one global order — partition offsets, event ids, sources, monthly counts,
    rejections, each sorted by key — with rows created by ``INSERT … ON CONFLICT DO NOTHING``: two
    transactions then wait for each other at most once, never in a cycle (replicas deadlocked on
    ``dq_sources`` when each locked rows in arrival order), and never both create a row.
    """
    fresh = _not_counted(cur, rows, run, arrivals)
    first_seen = _first_seen(cur, run, sorted({a.event_id for a in fresh if a.record_type is not None and a.event_id}))
    counted: list[Arrival] = []
    last_arrival: dict[str, int] = {}
    monthly: dict[tuple[str, str, str], dict[str, int]] = {}
    rejections: dict[tuple[str, str, str], int] = {}
    for a in fresh:
        last_arrival[a.source] = max(a.arrived_at, last_arrival.get(a.source, a.arrived_at))
        month = _month(a.arrived_at)
        if a.record_type is None:
            key = (month, a.source, (a.reason or "")[:200])
            rejections[key] = rejections.get(key, 0) + 1
            counted.append(dataclasses.replace(a, duplicate=False))
            continue
        duplicate = bool(a.event_id) and a.event_id not in first_seen
        first_seen.discard(a.event_id)  # a second arrival of it in this batch is a duplicate
        counts = monthly.setdefault((month, a.source, a.record_type), {})
        for column, n in _counts(a, duplicate).items():
            counts[column] = counts.get(column, 0) + n
        counted.append(dataclasses.replace(a, duplicate=duplicate))
    for source, arrived_at in sorted(last_arrival.items()):
        run(cur, "INSERT INTO dq_sources (source, last_arrival) VALUES (?, ?) ON CONFLICT DO NOTHING", (source, 0))
        update = "UPDATE dq_sources SET last_arrival = ? WHERE source = ? AND last_arrival < ?"
        run(cur, update, (arrived_at, source, arrived_at))
    for (month, source, record_type), counts in sorted(monthly.items()):
        _add(cur, run, "dq_monthly", {"month": month, "source": source, "record_type": record_type}, counts)
    for (month, source, reason), n in sorted(rejections.items()):
        _add(cur, run, "dq_rejections", {"month": month, "source": source, "reason": reason}, {"n": n})
    return counted


def _not_counted(cur: Any, rows: Rows, run: Run, arrivals: Iterable[Arrival]) -> list[Arrival]:
    """The arrivals at or past their partition's next offset to count; moves those offsets past them."""
    batch = list(arrivals)
    next_offsets: dict[tuple[str, int], int] = {}
    for key in sorted({(a.topic, a.partition) for a in batch}):
        run(cur, "INSERT INTO dq_offsets (topic, part, next_offset) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (*key, 0))
        found = rows(cur, "SELECT next_offset FROM dq_offsets WHERE topic = ? AND part = ?", key)
        next_offsets[key] = int(found[0]["next_offset"])
    fresh = []
    for a in batch:
        key = (a.topic, a.partition)
        if a.offset >= next_offsets[key]:
            next_offsets[key] = a.offset + 1
            fresh.append(a)
    for (topic, part), next_offset in sorted(next_offsets.items()):
        run(cur, "UPDATE dq_offsets SET next_offset = ? WHERE topic = ? AND part = ?", (next_offset, topic, part))
    return fresh


def _first_seen(cur: Any, run: Run, event_ids: list[str]) -> set[str]:
    """Record ``event_ids`` (sorted) as seen; the ones not seen before."""
    first = set()
    for event_id in event_ids:
        if run(cur, "INSERT INTO dq_seen (event_id) VALUES (?) ON CONFLICT DO NOTHING", (event_id,)).rowcount == 1:
            first.add(event_id)
    return first


def _counts(a: Arrival, duplicate: bool) -> dict[str, int]:
    """What one event adds to its month's row."""
    if duplicate:
        return {"duplicates": 1}
    assert a.occurred_at is not None and a.recorded_at is not None
    return {
        "accepted": 1,
        _REC[delay_bucket(a.recorded_at - a.occurred_at)]: 1,
        _ARR[delay_bucket(a.arrived_at - a.recorded_at)]: 1,
    }


def _add(cur: Any, run: Run, table: str, key: dict[str, Any], counts: dict[str, int]) -> None:
    """Add ``counts`` to the row of ``table`` at ``key`` (created with zeros first)."""
    columns = list(key) + (["accepted", "duplicates", *_REC, *_ARR] if table == "dq_monthly" else ["n"])
    values = [*key.values()] + [0] * (len(columns) - len(key))
    placeholders = ", ".join("?" * len(columns))
    run(cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING", values)
    where = " AND ".join(f"{k} = ?" for k in key)
    sets = ", ".join(f"{c} = {c} + ?" for c in counts)
    run(cur, f"UPDATE {table} SET {sets} WHERE {where}", (*counts.values(), *key.values()))


def read_scorecard(cur: Any, rows: Rows, month: str) -> list[SourceScore]:
    """Every source's scorecard for ``month`` (``YYYY-MM``), by source; sources silent that month included."""
    scores: dict[str, SourceScore] = {}
    for r in rows(cur, "SELECT source, last_arrival FROM dq_sources ORDER BY source", ()):
        scores[r["source"]] = SourceScore(r["source"], last_arrival=int(r["last_arrival"]))
    for r in rows(cur, "SELECT * FROM dq_monthly WHERE month = ?", (month,)):
        s = scores.setdefault(r["source"], SourceScore(r["source"]))
        s.accepted += int(r["accepted"])
        s.duplicates += int(r["duplicates"])
        s.by_type[r["record_type"]] = s.by_type.get(r["record_type"], 0) + int(r["accepted"])
        s.recording = [x + int(r[c]) for x, c in zip(s.recording, _REC, strict=True)]
        s.upload = [x + int(r[c]) for x, c in zip(s.upload, _ARR, strict=True)]
    for r in rows(cur, "SELECT source, reason, n FROM dq_rejections WHERE month = ?", (month,)):
        s = scores.setdefault(r["source"], SourceScore(r["source"]))
        s.rejections[r["reason"]] = int(r["n"])
    return [scores[k] for k in sorted(scores)]
