"""`jiandu simulate` + `jiandu backtest`: the pipeline reproduces the planted M02/M05 leads exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline import lead_identity, open_leads

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]


def _jiandu(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env["JIANDU_PSEUDONYM_KEY"] = "generator-key"
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", *args], env=env, capture_output=True, text=True, timeout=220
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize("seed", [5, 23])
def test_backtest_reproduces_the_planted_leads(tmp_path: Path, seed: int) -> None:
    records, expected_path, out = tmp_path / "records.jsonl", tmp_path / "expected.jsonl", tmp_path / "leads.jsonl"
    made = _jiandu(
        "simulate", "--seed", str(seed), "--persons", "250", "--out", str(records), "--expected", str(expected_path)
    )
    clock_end = made.stdout.split("clock end ")[1].split(";")[0]
    invalid = int(made.stdout.split("(")[1].split(" invalid")[0])
    ran = _jiandu("backtest", "--input", str(records), "--clock-end", clock_end, "--out", str(out))

    expected = [{**json.loads(line), "status": "OPEN"} for line in expected_path.read_text().splitlines()]
    leads = [json.loads(line) for line in out.read_text().splitlines()]
    assert expected, "the generator planted violations"
    assert open_leads(leads, {"M02", "M05"}) == open_leads(expected, {"M02", "M05"})
    assert f"rejected {invalid};" in ran.stdout
    assert len({lead_identity(lead) for lead in leads}) == len(leads)
