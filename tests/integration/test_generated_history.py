"""Generated histories through the real pipeline: exact per model, and the same leads as the batch collision.

`jiandu simulate` plants compliant histories, violations and boundary near-misses for every model;
the independent oracle (`jiandu.simulate.oracle`, written from models.md without the engine) says
which leads a correct hub ends with. `jiandu backtest` (ingest → Kafka → Faust → leads) must end
with exactly those OPEN leads, and `jiandu backtest --batch` (the same declarations over the whole
history in memory, no Kafka) must produce the very same OPEN lead records: two evaluators of one
declaration catch each other's bugs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jiandu.core.timeutil import parse_datetime
from jiandu.simulate.oracle import expected_leads
from tests.pipeline import lead_identity, open_leads

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

KEY = "generator-key"
MODELS = [f"M{n:02}" for n in range(1, 15)]
WALL_CLOCK_FIELDS = ("raised_at", "detected_at", "updated_at")  # wall clock, or the hub clock when raised


@dataclass(frozen=True)
class Run:
    expected: list[dict[str, Any]]
    streamed: list[dict[str, Any]]
    batch: list[dict[str, Any]]
    invalid: int
    stdout: str


def _jiandu(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env["JIANDU_PSEUDONYM_KEY"] = KEY
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", *args], env=env, capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module", params=[5, 23])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp(f"seed{request.param}")
    records, streamed, batch = work / "records.jsonl", work / "leads.jsonl", work / "batch.jsonl"
    made = _jiandu("simulate", "--seed", str(request.param), "--persons", "700", "--out", str(records))
    clock_end = made.stdout.split("clock end ")[1].split(";")[0]
    invalid = int(made.stdout.split("(")[1].split(" invalid")[0])
    ran = _jiandu("backtest", "--input", str(records), "--clock-end", clock_end, "--out", str(streamed))
    _jiandu("backtest", "--batch", "--input", str(records), "--clock-end", clock_end, "--out", str(batch))
    lines = records.read_text(encoding="utf-8").splitlines()
    expected = expected_leads(lines, pseudonym_key=KEY.encode(), clock_end=parse_datetime(clock_end))
    return Run(expected, _read(streamed), _read(batch), invalid, ran.stdout)


@pytest.mark.parametrize("model", MODELS)
def test_the_pipeline_raises_exactly_the_expected_leads(run: Run, model: str) -> None:
    expected = open_leads(run.expected, {model})
    assert expected, f"the history plants {model} violations"
    assert open_leads(run.streamed, {model}) == expected


def test_no_lead_is_open_where_closing_evidence_exists_or_the_deadline_has_not_passed(run: Run) -> None:
    settled = {lead_identity(e) for e in run.expected if e["status"] != "OPEN"}
    assert {s for s in (lead_identity(e) for e in run.expected if e["status"] == "RESOLVED")}, "closing evidence"
    assert {lead_identity(lead) for lead in run.streamed if lead["status"] == "OPEN"}.isdisjoint(settled)


def test_the_stream_and_the_batch_collision_produce_the_same_leads(run: Run) -> None:
    def comparable(leads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            lead["lead_id"]: {k: v for k, v in lead.items() if k not in WALL_CLOCK_FIELDS}
            for lead in leads
            if lead["status"] == "OPEN"
        }

    streamed, batch = comparable(run.streamed), comparable(run.batch)
    assert streamed.keys() == batch.keys()
    different = [lead_id for lead_id in streamed if streamed[lead_id] != batch[lead_id]]
    assert different == [], f"{len(different)} leads differ, e.g. {streamed[different[0]]} vs {batch[different[0]]}"
    assert {lead["status"] for lead in run.batch} == {"OPEN"}, "the batch sees the whole history: nothing to resolve"


def test_invalid_lines_are_dead_lettered_and_every_lead_is_one_finding(run: Run) -> None:
    assert f"rejected {run.invalid};" in run.stdout
    assert len({lead_identity(lead) for lead in run.streamed}) == len(run.streamed)
