"""Deadline arithmetic: CPL day counting in China Standard Time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jiandu.core.timeutil import (
    CST,
    add_months,
    deadline_after,
    format_cst,
    from_ms,
    local_date,
    parse_datetime,
    to_ms,
    utc_now_ms,
)


def ms(text: str) -> int:
    return to_ms(parse_datetime(text))


def test_starting_day_is_not_counted() -> None:
    due = deadline_after(ms("2024-03-01T15:20:00+08:00"), 10)
    assert format_cst(due) == "2024-03-12T00:00:00+08:00"


def test_last_second_of_the_last_day_counts_and_midnight_is_late() -> None:
    due = deadline_after(ms("2024-03-01T09:00:00+08:00"), 3)
    assert ms("2024-03-04T23:59:59+08:00") < due
    assert not ms("2024-03-05T00:00:00+08:00") < due


def test_local_date_is_china_standard_time() -> None:
    # 2024-03-01T17:30Z is already 2 March in China
    assert local_date(ms("2024-03-01T17:30:00Z")) == date(2024, 3, 2)
    assert format_cst(deadline_after(ms("2024-03-01T17:30:00Z"), 1)) == "2024-03-04T00:00:00+08:00"


def test_timestamp_without_offset_is_read_as_cst() -> None:
    assert ms("2024-03-01T08:00:00") == ms("2024-03-01T00:00:00Z")


def test_calendar_months_clamp_to_month_end() -> None:
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2023, 3, 31), -1) == date(2023, 2, 28)
    assert add_months(date(2024, 1, 15), -13) == date(2022, 12, 15)


@settings(max_examples=500, derandomize=True)
@given(
    value=st.datetimes(
        min_value=datetime(1900, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds and adds the zone)
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, CST]),
    )
)
def test_to_ms_floors_to_the_millisecond_as_timedelta_division_does(value: datetime) -> None:
    assert to_ms(value) == (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert from_ms(to_ms(value)) == value.replace(microsecond=value.microsecond // 1000 * 1000)


def test_utc_now_ms_is_the_wall_clock() -> None:
    before = to_ms(datetime.now(UTC))
    now = utc_now_ms()
    assert before <= now <= to_ms(datetime.now(UTC))


@settings(max_examples=500, derandomize=True)
@given(
    value=st.datetimes(
        min_value=datetime(1900, 1, 1),  # noqa: DTZ001
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, CST]),
    ),
    days=st.integers(min_value=0, max_value=3_650),
)
def test_the_deadline_is_midnight_cst_of_the_day_after_the_last_allowed_day(value: datetime, days: int) -> None:
    """The integer arithmetic of ``deadline_after`` against the calendar: date(T) + days + 1 at 00:00 CST."""
    last_day = value.astimezone(CST).date() + timedelta(days=days)
    expected = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=CST)
    assert deadline_after(to_ms(value), days) == to_ms(expected)
    assert local_date(to_ms(value)) == value.astimezone(CST).date()
