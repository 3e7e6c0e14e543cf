"""`make run` stopped and started again on the same data directory keeps everything from the first run and
duplicates nothing: the journal is replayed into the new broker, the rebuilt worker re-emits its leads, and
the archive stores no second version, no lead moved back, no raised time overwritten."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from consumers.archive.store import _row_digest
from consumers.lead_versions import is_repeat
from jiandu.broker import find_free_port

pytestmark = [pytest.mark.timeout(400)]

DURATION = 50


def _run(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "run", "--duration", str(DURATION)],
        env=env,
        capture_output=True,
        text=True,
        timeout=DURATION + 120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _archive(data: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    db = sqlite3.connect(data / "archive.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        versions = [dict(r) for r in db.execute("SELECT * FROM lead_versions ORDER BY lead_id, version")]
        leads = {r["lead_id"]: dict(r) for r in db.execute("SELECT * FROM leads")}
    finally:
        db.close()
    return versions, leads


def test_a_second_run_on_the_same_data_dir_keeps_everything_and_duplicates_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(
        JIANDU_BROKER_PORT=str(find_free_port()),
        JIANDU_WORKER_WEB_PORT=str(find_free_port()),
        JIANDU_GATEWAY_PORT=str(find_free_port()),
        JIANDU_CONSOLE_PORT=str(find_free_port()),
        JIANDU_METRICS_PORTS=",".join(f"{p}=-1" for p in ("run", "alerts", "archive", "console")),
        JIANDU_DATA_DIR=str(tmp_path / "data"),
        JIANDU_LIVE_TICK_SECONDS="1",
    )
    _run(env)
    first_versions, first_leads = _archive(tmp_path / "data")
    assert first_leads, "the first run archived leads"
    second = _run(env)
    replayed = re.search(r"journal: (\d+) journaled messages", second)
    assert replayed and int(replayed[1]) > 0, second[-2000:]
    versions, leads = _archive(tmp_path / "data")

    assert first_leads.keys() <= leads.keys(), "every lead of the first run is still there"
    assert {i: r["raised_at"] for i, r in first_leads.items()} == {i: leads[i]["raised_at"] for i in first_leads}
    history: dict[str, list[str]] = {}
    for row in versions:
        seen = history.setdefault(row["lead_id"], [])
        assert not is_repeat(seen, _row_digest(row)), f"{row['lead_id']}: a version stored twice"
        seen.append(_row_digest(row))
    assert len({(r["lead_id"], r["raised_at"]) for r in versions}) == len(leads), "one raised time per lead"
    new_versions = len(versions) - len(first_versions)
    print(f"first run {len(first_versions)} versions of {len(first_leads)} leads; second run added {new_versions}")
