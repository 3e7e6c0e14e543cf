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
    """Count the arrivals not counted yet (by partition offset) inside the caller's transaction; returns them."""
    done: dict[tuple[str, int], int] = {}
    applied = []
    for a in arrivals:
        key = (a.topic, a.partition)
        if key not in done:
            found = rows(cur, "SELECT next_offset FROM dq_offsets WHERE topic = ? AND part = ?", key)
            done[key] = int(found[0]["next_offset"]) if found else -1
            if not found:
                run(cur, "INSERT INTO dq_offsets (topic, part, next_offset) VALUES (?, ?, ?)", (*key, 0))
        if a.offset < done[key]:
            continue
        done[key] = a.offset + 1
        applied.append(dataclasses.replace(a, duplicate=_count(cur, rows, run, a)))
    for (topic, part), next_offset in done.items():
        if next_offset >= 0:
            run(cur, "UPDATE dq_offsets SET next_offset = ? WHERE topic = ? AND part = ?", (next_offset, topic, part))
    return applied


def _count(cur: Any, rows: Rows, run: Run, a: Arrival) -> bool:
    """Count one arrival; True when it is an event whose event_id was seen before."""
    month = _month(a.arrived_at)
    last = rows(cur, "SELECT last_arrival FROM dq_sources WHERE source = ?", (a.source,))
    if not last:
        run(cur, "INSERT INTO dq_sources (source, last_arrival) VALUES (?, ?)", (a.source, a.arrived_at))
    elif last[0]["last_arrival"] < a.arrived_at:
        run(cur, "UPDATE dq_sources SET last_arrival = ? WHERE source = ?", (a.arrived_at, a.source))
    if a.record_type is None:
        key = {"month": month, "source": a.source, "reason": (a.reason or "")[:200]}
        _add(cur, rows, run, "dq_rejections", key, {"n": 1})
        return False
    duplicate = bool(rows(cur, "SELECT 1 AS x FROM dq_seen WHERE event_id = ?", (a.event_id,)))
    counts = {"accepted": int(not duplicate), "duplicates": int(duplicate)}
    if not duplicate:
        run(cur, "INSERT INTO dq_seen (event_id) VALUES (?)", (a.event_id,))
        assert a.occurred_at is not None and a.recorded_at is not None
        counts[_REC[delay_bucket(a.recorded_at - a.occurred_at)]] = 1
        counts[_ARR[delay_bucket(a.arrived_at - a.recorded_at)]] = 1
    key = {"month": month, "source": a.source, "record_type": a.record_type}
    _add(cur, rows, run, "dq_monthly", key, counts)
    return duplicate


def _add(cur: Any, rows: Rows, run: Run, table: str, key: dict[str, Any], counts: dict[str, int]) -> None:
    """Add ``counts`` to the row of ``table`` at ``key`` (created with zeros first)."""
    where = " AND ".join(f"{k} = ?" for k in key)
    if not rows(cur, f"SELECT 1 AS x FROM {table} WHERE {where}", tuple(key.values())):
        columns = list(key) + (["accepted", "duplicates", *_REC, *_ARR] if table == "dq_monthly" else ["n"])
        values = [*key.values()] + [0] * (len(columns) - len(key))
        run(cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)
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
