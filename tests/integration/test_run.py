"""`jiandu run`: a newcomer sees leads within a minute, and everything stops cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jiandu.broker import find_free_port

pytestmark = [pytest.mark.timeout(150)]


def test_run_shows_leads_within_a_minute_and_stops_what_it_started(tmp_path: Path) -> None:
    broker_port, web_port, gateway_port = find_free_port(), find_free_port(), find_free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(
        JIANDU_BROKER_PORT=str(broker_port),
        JIANDU_WORKER_WEB_PORT=str(web_port),
        JIANDU_GATEWAY_PORT=str(gateway_port),
        JIANDU_DATA_DIR=str(tmp_path / "data"),
        JIANDU_LIVE_TICK_SECONDS="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "run", "--duration", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lead_line = re.compile(r"\[M\d\d (HIGH|MEDIUM|LOW) (OPEN|RESOLVED)\]")
    leads = [line for line in done.stdout.splitlines() if lead_line.match(line)]
    assert any("OPEN" in line for line in leads), done.stdout[-2000:]
    assert len({line[1:4] for line in leads}) >= 8, "leads of many models"
    assert any("社区矫正" in line for line in leads) and any("刑事拘留" in line for line in leads)
    # data arrived the three ways: REST pull, the push API and the file drop
    assert re.search(r"push API: [1-9]\d* accepted, [1-9]\d* rejected", done.stdout), done.stdout[-2000:]
    assert re.search(r"file drop: 10 files, [1-9]\d* accepted, 13 dead-lettered", done.stdout), done.stdout[-2000:]
    assert re.search(r"REST pull: [1-9]\d* records", done.stdout)
    # the embedded broker and the worker were stopped: their ports are free again
    import socket

    for port in (broker_port, web_port, gateway_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after jiandu run ended"
