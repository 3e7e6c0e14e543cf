"""Issue 12's fault injection, short and seeded: `kill -9` of the embedded broker, the streams worker and the
archiver at seeded random moments while records arrive; each restarted on the same data directory.

Afterwards every accepted event id is on its event topic, the OPEN leads equal the batch evaluator's over
everything accepted, and the archive holds no duplicate or regressing version and keeps each lead's first
raised time. The longer run is `python -m tests.faults` (README, "Durability").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jiandu.core.timeutil import parse_datetime, to_ms
from tests.faults import run_faults
from tests.pipeline import CONFORMANCE

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

CLOCK_END = to_ms(parse_datetime("2025-03-01T00:00:00+08:00"))


@pytest.mark.parametrize("seed", [7, 12])
def test_kill_9_at_seeded_moments_loses_nothing_accepted(seed: int, tmp_path: Path) -> None:
    report = run_faults(
        seed, CONFORMANCE / "records.jsonl", tmp_path, kills=3, clock_end=CLOCK_END, key="conformance-key"
    )
    print(report)
    assert report.kills, "the run was too short to kill anything"
    assert report.problems == []
