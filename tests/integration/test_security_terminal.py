"""Agency text printed by the commands reaches the terminal without escape sequences or control characters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jiandu.broker import EmbeddedBroker
from tests.pipeline import CONFORMANCE, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def test_ingest_prints_reasons_without_escape_sequences(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    env = settings_for(broker.bootstrap, topic_prefix).to_env()
    record = json.loads((CONFORMANCE / "records.jsonl").read_text().splitlines()[0])
    record["type"] = "police.\x1b]0;pwned\x07\x1b[2Jx\r"
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "ingest", str(path)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr  # nothing valid: nothing published, exit 2
    assert "rejected 1" in done.stdout and "unknown record type" in done.stdout
    assert not any(c in done.stdout + done.stderr for c in "\x1b\x07\r"), repr(done.stdout + done.stderr)
