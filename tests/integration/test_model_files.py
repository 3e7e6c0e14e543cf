"""A model declared only in a test file runs through the real pipeline (`jiandu backtest`, JIANDU_MODEL_FILES)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jiandu.core.identity import make_id_number

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]

M15 = Path(__file__).resolve().parents[1] / "models" / "m15_bail_overdue.py"


def bail(record_id: str, when: str, id_number: str, case_no: str, action: str) -> dict[str, object]:
    return {
        "type": "police.coercive_measure",
        "source": "police:210102",
        "source_record_id": record_id,
        "occurred_at": when,
        "jurisdiction": "210102",
        "case_no": case_no,
        "id_number": id_number,
        "measure": "BAIL",
        "action": action,
    }


def test_a_model_from_a_file_raises_its_leads_through_the_pipeline(tmp_path: Path) -> None:
    first = make_id_number("210102", datetime.date(1980, 5, 1), 123)
    second = make_id_number("210102", datetime.date(1985, 7, 9), 456)
    records = [
        bail("QB1", "2023-06-01T10:00:00+08:00", first, "A1", "START"),  # never ended: overdue
        bail("QB2", "2023-06-01T10:00:00+08:00", second, "A2", "START"),
        bail("QB3", "2024-05-31T23:59:59+08:00", second, "A2", "END"),  # last second of the 365th day
    ]
    history = tmp_path / "bail.jsonl"
    history.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "leads.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(JIANDU_PSEUDONYM_KEY="test-key", JIANDU_MODEL_FILES=str(M15))
    command = [sys.executable, "-m", "jiandu.cli", "backtest", "--input", str(history), "--out", str(out)]
    command += ["--clock-end", "2025-01-01T00:00:00+08:00"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    leads = [json.loads(line) for line in out.read_text().splitlines()]
    m15 = [(lead["trigger_event_id"], lead["status"], lead["model_version"], lead["due_at"]) for lead in leads]
    assert m15 == [
        ("police:210102/police.coercive_measure/QB1", "OPEN", "0.1.0", "2024-06-01T00:00:00+08:00"),
    ]
