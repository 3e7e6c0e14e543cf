"""One agency's records in upload order, paged the way the agency's REST API pages them.

Positions are what cursors and page tokens encode: record ``n`` (0-based) sits at
position ``n`` and a cursor ``c<n>`` means "everything before position n was seen".
Records only ever appear at the end of what is visible (new uploads, injected bad
records), so a cursor handed out once stays valid for the life of the feed.
"""

from __future__ import annotations

import bisect
import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jiandu.core.timeutil import parse_datetime

__all__ = ["AgencyFeed", "FeedPage", "FeedQueryError", "load_records", "source_matches"]

MAX_LIMIT = 1000
_CURSOR = re.compile(r"c(\d{1,12})")
_TOKEN = re.compile(r"t(\d{1,12})")
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


class FeedQueryError(ValueError):
    """A request the agency answers with HTTP 400 (bad ``since``, ``page_token`` or ``limit``)."""


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the feed, as the API returns it."""

    records: list[dict[str, Any]]
    next_page_token: str | None
    cursor: str
    start: int  # position of the first record: the page's place in the feed (for the simulator's log)

    def body(self) -> dict[str, Any]:
        """The JSON body of ``GET /api/v1/records``."""
        return {"records": self.records, "next_page_token": self.next_page_token, "cursor": self.cursor}


def source_matches(source: object, patterns: Iterable[str]) -> bool:
    """True when ``source`` is one of ``patterns`` or a unit under one.

    ``police:210000`` covers ``police:210000:hotel``; an empty pattern list matches every source.
    """
    wanted = list(patterns)
    if not wanted:
        return True
    text = source if isinstance(source, str) else ""
    return any(text == p or text.startswith(p + ":") for p in wanted)


def load_records(path: Path, sources: Iterable[str] = ()) -> tuple[list[dict[str, Any]], int]:
    """The JSON-object lines of a JSON-lines file whose source matches, and how many other lines were skipped.

    Lines that are not JSON objects are skipped: an API serves objects (``--fault
    malformed`` simulates a broken body instead). OSError if the file cannot be read.
    """
    wanted = list(sources)
    records: list[dict[str, Any]] = []
    skipped = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            value = None
        if isinstance(value, dict) and source_matches(value.get("source"), wanted):
            records.append(value)
        else:
            skipped += 1
    return records, skipped


class AgencyFeed:
    """The records an agency serves, visible all at once or appearing at ``per_second`` (to look live).

    Thread-safe: the simulator's request threads share one feed.
    """

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        initial: int | None = None,
        per_second: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records = [dict(r) for r in records]
        self._uploaded = _upload_times(self._records)
        self._initial = len(self._records) if initial is None else max(0, min(initial, len(self._records)))
        self._per_second = max(0.0, per_second)
        self._clock = clock
        self._started = clock()
        self._extra = 0  # injected records, visible at once
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Every record the feed holds, visible or not yet."""
        with self._lock:
            return len(self._records)

    def visible(self) -> int:
        """How many records the agency has uploaded so far."""
        with self._lock:
            return self._visible()

    def records(self) -> list[dict[str, Any]]:
        """A copy of every record in upload order (tests compare what arrived with this)."""
        with self._lock:
            return copy.deepcopy(self._records)

    def page(self, *, since: str | None, page_token: str | None, limit: int) -> FeedPage:
        """The page a ``GET /api/v1/records`` asks for; ``page_token`` wins over ``since``."""
        if not 1 <= limit <= MAX_LIMIT:
            raise FeedQueryError(f"limit {limit}: use 1..{MAX_LIMIT}")
        with self._lock:
            visible = self._visible()
            start = self._start_of(since, page_token, visible)
            end = min(start + limit, visible)
            records = copy.deepcopy(self._records[start:end])
        more = end < visible
        return FeedPage(records, f"t{end}" if more else None, f"c{max(start, end)}", start)

    def insert(self, record: Mapping[str, Any]) -> int:
        """Add a record right after what is visible, visible at once (an injected bad record).

        Returns its position; positions already handed out in cursors do not move.
        """
        with self._lock:
            where = self._visible()
            self._records.insert(where, dict(record))
            self._uploaded.insert(where, self._uploaded[where - 1] if where else _EPOCH)
            self._extra += 1
            return where

    def _visible(self) -> int:
        appeared = int((self._clock() - self._started) * self._per_second) if self._per_second else 0
        return min(len(self._records), self._initial + self._extra + appeared)

    def _start_of(self, since: str | None, page_token: str | None, visible: int) -> int:
        if page_token:
            match = _TOKEN.fullmatch(page_token)
            if match is None:
                raise FeedQueryError(f"page_token {page_token!r} is not one this API issued")
            return min(int(match.group(1)), visible)
        if not since:
            return 0
        match = _CURSOR.fullmatch(since)
        if match is not None:
            return min(int(match.group(1)), visible)
        try:
            instant = parse_datetime(since)
        except ValueError:
            raise FeedQueryError(f"since {since!r} is neither a cursor nor an ISO 8601 date-time") from None
        return min(bisect.bisect_left(self._uploaded, instant), visible)


def _upload_times(records: list[dict[str, Any]]) -> list[datetime]:
    """When each record reached the agency's system: ``recorded_at`` (else ``occurred_at``), never going back.

    The running maximum keeps the list sorted, so ``since=<ISO>`` is a binary search
    and means "uploaded at or after".
    """
    out: list[datetime] = []
    latest = _EPOCH
    for record in records:
        for name in ("recorded_at", "occurred_at"):
            try:
                latest = max(latest, parse_datetime(record[name]))
                break
            except (KeyError, ValueError, TypeError):
                continue
        out.append(latest)
    return out
