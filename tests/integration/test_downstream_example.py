"""``examples/consume_alerts.py``, run as a downstream team runs it, against the embedded broker.

With the client's default 45 s session it printed its first lead after ≈ 23 s (the
embedded broker answers a group join after about half a session) and one Ctrl-C
during the join waited 15-50 s in the consumer's close. docs/downstream.md gives the
settings; this holds the example to them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import create_topics
from tests.lead_versions import lead_version, publish_leads
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def _start(broker: EmbeddedBroker, topic: str, group: str) -> tuple[subprocess.Popen[str], list[float], list[str]]:
    """The example as a process; the times (since start) of its output lines, and the lines."""
    example = [sys.executable, str(ROOT / "examples" / "consume_alerts.py"), "--bootstrap", broker.bootstrap]
    process = subprocess.Popen(
        [*example, "--topic", topic, "--group", group, "--schemas", str(ROOT / "schemas")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    times: list[float] = []
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            times.append(time.monotonic() - started)
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    return process, times, lines


def _stopped_by_one_ctrl_c(process: subprocess.Popen[str]) -> float:
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return time.monotonic() - sent


def test_the_example_reads_its_first_lead_within_seconds_and_stops_on_one_ctrl_c(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix)
    create_topics(settings)
    topic = f"{topic_prefix}.alerts.severity.high"
    publish_leads(broker.bootstrap, topic, [lead_version(1, 1)])
    process, times, lines = _start(broker, topic, f"{topic_prefix}-team")
    deadline = time.monotonic() + 30
    while not times and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert times, f"no lead printed in 30 s: {lines}"
    assert times[0] < 10, f"first lead after {times[0]:.1f} s"
    assert lines[0].startswith("[M02 HIGH OPEN]"), lines
    assert _stopped_by_one_ctrl_c(process) < 5
    assert process.returncode == 0, lines


def test_one_ctrl_c_during_the_group_join_stops_the_example(broker: EmbeddedBroker, topic_prefix: str) -> None:
    create_topics(settings_for(broker.bootstrap, topic_prefix))
    process, _, lines = _start(broker, f"{topic_prefix}.alerts.severity.low", f"{topic_prefix}-team")
    time.sleep(2.5)  # started, joining its group
    assert _stopped_by_one_ctrl_c(process) < 5, lines
    assert "Traceback" not in "\n".join(lines), lines
