"""A live worker raises a deadline lead when its clock passes the due time, not at its next periodic tick."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.deadline_latency import measure_deadline_latency
from jiandu.broker import EmbeddedBroker
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(150)]

#: Far longer than the test: only ticks at the wake-ups the worker scheduled (and its first) can raise the leads.
_TICK_SECONDS = 600.0


def test_deadline_leads_arrive_when_the_clock_passes_their_due_time_with_periodic_ticks_ten_minutes_apart(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, live_tick_seconds=_TICK_SECONDS)

    # M02 judgments due at a midnight the live clock reaches 40 s after the worker starts (room for a loaded
    # machine to start the worker and ingest the triggers before it); the
    # measurement fails if any lead arrives before the clock reaches the due time
    result = measure_deadline_latency(settings, tmp_path, timeout=60, lead_seconds=40)

    assert result.leads == result.triggers > 0
    assert 0 <= result.max_ms < 2_000, result
