"""The engine benchmark shows a regression against the last reported figures, and only one."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.engine_reported import REPORTED, compare_with_reported


def _reported(tmp_path: Path, figures: dict[str, float]) -> Path:
    path = tmp_path / "reported.json"
    path.write_text(json.dumps({"date": "d", "command": "c", "load": "1", "figures": figures}), encoding="utf-8")
    return path


def test_a_figure_worse_beyond_the_noise_is_marked_and_a_better_one_is_not(tmp_path: Path) -> None:
    reported = _reported(tmp_path, {"pipeline_cpu_us_per_event": 200.0, "stream_to_batch_ratio": 0.5})
    worse = compare_with_reported({"pipeline_cpu_us_per_event": 300.0, "stream_to_batch_ratio": 0.3}, reported)
    better = compare_with_reported({"pipeline_cpu_us_per_event": 150.0, "stream_to_batch_ratio": 0.6}, reported)
    assert [line.endswith("REGRESSION") for line in worse[1:]] == [True, True]
    assert [line.endswith("REGRESSION") for line in better[1:]] == [False, False]
    assert "+50%" in worse[1] and "-40%" in worse[2]


def test_the_committed_figures_are_readable_and_nothing_is_printed_without_them(tmp_path: Path) -> None:
    assert compare_with_reported({}, tmp_path / "absent.json") == []
    figures = json.loads(REPORTED.read_text(encoding="utf-8"))["figures"]
    same = compare_with_reported(figures)
    assert same[1:] and not any("REGRESSION" in line for line in same)
