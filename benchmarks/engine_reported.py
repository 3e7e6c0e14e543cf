"""The engine benchmark's figures against the last ones reported in the README.

``benchmarks/engine_reported.json`` holds the figures of the run the README reports
(its command, date and load). Every run prints, for the figures that say whether the
pipeline got slower, the value now, then, and the change; a change for the worse past
the noise of the shared machine is marked ``REGRESSION``. CPU per event moves much less
with the load than the rates do, so those are the figures to read first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

__all__ = ["REPORTED", "compare_with_reported"]

REPORTED = Path(__file__).with_name("engine_reported.json")
#: Figure → True when lower is better.
_WATCHED = {
    "pipeline_cpu_us_per_event": True,
    "ingest_cpu_us_per_event": True,
    "worker_cpu_us_per_event": True,
    "broker_cpu_us_per_event": True,
    "batch_cpu_us_per_event": True,
    "changelog_writes_per_event": True,
    "stream_to_batch_cpu_bound": False,
    "stream_to_batch_ratio": False,
    "m14_lead_latency_p50_ms": True,
    "m14_lead_latency_p99_ms": True,
    "deadline_lead_latency_p99_ms": True,
}
#: A change for the worse beyond this fraction is marked (CPU figures of one workload vary ≈ ±15 % with the load).
_NOISE = 0.25


def compare_with_reported(figures: Mapping[str, float], reported: Path = REPORTED) -> list[str]:
    """Lines comparing ``figures`` with the reported ones (none when nothing was reported)."""
    if not reported.is_file():
        return []
    last = json.loads(reported.read_text(encoding="utf-8"))
    lines = [f"against the figures reported {last['date']} ({last['command']}; load {last['load']}):"]
    for name, lower_is_better in _WATCHED.items():
        now, then = figures.get(name, math.nan), last["figures"].get(name, math.nan)
        if math.isnan(now) or math.isnan(then) or then == 0:
            continue
        change = now / then - 1
        worse = change > _NOISE if lower_is_better else change < -_NOISE
        mark = "  REGRESSION" if worse else ""
        lines.append(f"  {name:34} now {now:12,.2f}   then {then:12,.2f}   {change:+7.0%}{mark}")
    return lines
