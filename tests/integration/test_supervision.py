"""`jiandu run`'s supervisor on real processes: a crashed child restarts with backoff and one line per event;
a killed embedded broker comes back on the same port with the journal replayed, then its clients restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.jsonl import ingest_jsonl
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import HubProcess
from jiandu.cli.supervise import Supervisor
from tests.faults import Hub
from tests.pipeline import CONFORMANCE, all_messages

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def _supervise(supervisor: Supervisor, seconds: float, until: object = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):  # type: ignore[operator]
        supervisor.check()
        time.sleep(0.1)


def test_a_child_that_keeps_crashing_restarts_with_backoff_and_one_line_per_event(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "data", "nobroker")
    crashing = ["schemas", "--dir", str(tmp_path / "missing")]  # exits 1 at once: the schemas are not there
    child = HubProcess(hub.settings, crashing, name="schemas", log_path=tmp_path / "schemas.log").start()
    lines: list[str] = []
    supervisor = Supervisor([child], report=lines.append)
    try:  # until the third crash (1 + 2 s of backoff and three starts of a child: longer on a loaded machine)
        _supervise(supervisor, 60.0, until=lambda: sum("exited with code" in line for line in lines) >= 3)
    finally:
        child.stop()
    crashes = [line for line in lines if "exited with code" in line]
    restarts = [line for line in lines if "restarted" in line]
    waits = [line.rsplit("restart in ", 1)[1] for line in crashes]
    assert waits[:3] == ["1 s", "2 s", "4 s"], lines  # doubling, not a flood
    assert len(lines) == len(crashes) + len(restarts) and len(restarts) == 2, lines


def test_a_killed_broker_comes_back_with_the_journal_and_its_clients_restart(tmp_path: Path, topic_prefix: str) -> None:
    hub = Hub(tmp_path / "data", topic_prefix)
    broker = hub.start_broker()
    create_topics(hub.settings)
    publisher, intake = new_intake(hub.settings, adapter="jsonl")
    with publisher:
        ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
    catalogue = catalogue_of(hub.settings)
    before = sorted(all_messages(hub.settings.bootstrap, catalogue.event_topics()))
    worker = hub.start_worker()
    lines: list[str] = []
    supervisor = Supervisor([worker], broker, report=lines.append)
    try:
        old_worker = worker.pid
        hub.kill_broker_only()
        _supervise(supervisor, 60, until=lambda: any("restarted against the new broker" in line for line in lines))
        assert worker.pid != old_worker and worker.exit_code() is None
        assert sorted(all_messages(hub.settings.bootstrap, catalogue.event_topics())) == before
        worker.kill()
        _supervise(supervisor, 10, until=lambda: worker.exit_code() is None and worker.pid is not None)
    finally:
        hub.stop()
    assert [line.split(" (")[0].split(";")[0] for line in lines] == [
        "supervisor: the embedded broker",
        "supervisor: embedded broker restarted",
        "supervisor: restarted against the new broker: streams worker",
        "supervisor: streams worker",
        "supervisor: streams worker restarted",
    ], lines
