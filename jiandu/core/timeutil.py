"""Time on the hub: China Standard Time dates, epoch milliseconds, CPL deadlines.

The engine works in integer epoch milliseconds (UTC); local dates are always
China Standard Time (UTC+8, no daylight saving), as the spec requires.
"""

from __future__ import annotations

import calendar
import functools
import time
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "CST",
    "DAY_MS",
    "add_months",
    "deadline_after",
    "format_cst",
    "from_ms",
    "local_date",
    "local_midnight_ms",
    "parse_date",
    "parse_datetime",
    "to_ms",
    "utc_now_ms",
]

CST = timezone(timedelta(hours=8), "CST")
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CST_OFFSET_MS = 8 * 3_600_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date-time; without an offset it is China Standard Time. Raises ValueError."""
    if not isinstance(text, str) or len(text) < 16 or text[10] not in "T ":
        raise ValueError(text)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=CST)


def parse_date(text: str) -> date:
    """``YYYY-MM-DD``. Raises ValueError."""
    if not isinstance(text, str) or len(text) != 10:
        raise ValueError(text)
    return date.fromisoformat(text)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime, floored (a quarter of the cost of ``// timedelta(ms=1)``)."""
    since = value - _EPOCH
    return since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


@functools.lru_cache(maxsize=4096)  # deadlines are few distinct midnights, formatted at every evaluation
def format_cst(ms: int) -> str:
    """ISO 8601 in China Standard Time, second precision: ``2024-03-01T00:00:00+08:00``."""
    return from_ms(ms).astimezone(CST).isoformat(timespec="seconds")


def local_date(ms: int) -> date:
    """The China Standard Time calendar date of an instant."""
    return date.fromordinal((ms + _CST_OFFSET_MS) // DAY_MS + _EPOCH_ORDINAL)


def local_midnight_ms(day: date) -> int:
    """00:00 CST of a calendar day, in epoch milliseconds."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS - _CST_OFFSET_MS


def deadline_after(trigger_ms: int, days: int) -> int:
    """Exclusive deadline of "within ``days`` days of the trigger" (CPL counting).

    The starting day is not counted: the last allowed day is ``date(T) + days``, so
    the deadline instant is 00:00 CST of the day after it. A follow-up satisfies
    the deadline when it occurred strictly before this instant.
    """
    return ((trigger_ms + _CST_OFFSET_MS) // DAY_MS + days + 1) * DAY_MS - _CST_OFFSET_MS


def add_months(day: date, months: int) -> date:
    """Calendar-month arithmetic, the day clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def utc_now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
