"""Clients across a broker restart: the push API answers a prompt 503 with Retry-After while the broker is away,
/readyz says so within seconds, and the gateway accepts again once the broker is back (journal replayed);
`jiandu broker` stops its Tansu child on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from adapters.gateway import BATCH_PATH
from jiandu.broker import find_free_port
from jiandu.cli.gateway import receipts_path
from jiandu.cli.hub import catalogue_of
from jiandu.cli.processes import HubProcess
from jiandu.serde import AvroCodec
from tests.faults import Hub
from tests.integration.test_gateway import execution, write_agencies
from tests.pipeline import all_messages

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]


def _wait(condition: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s"
        time.sleep(0.2)
    return time.monotonic() - started


def _readyz(port: int) -> tuple[int, float]:
    started = time.monotonic()
    answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    return answer.status_code, time.monotonic() - started


def test_the_push_api_answers_503_with_retry_after_while_the_broker_is_away_then_accepts_again(
    tmp_path: Path, topic_prefix: str
) -> None:
    hub = Hub(tmp_path / "data", topic_prefix)
    tokens = write_agencies(tmp_path / "agencies.yaml")
    gateway_port, metrics_port = find_free_port(), find_free_port()
    settings = hub.settings.replace(
        gateway_agencies=str(tmp_path / "agencies.yaml"),
        gateway_port=gateway_port,
        metrics_ports=f"gateway={metrics_port}",
    )
    hub.settings = settings
    url = f"http://127.0.0.1:{gateway_port}{BATCH_PATH}"
    headers = {"Authorization": f"Bearer {tokens['shenyang-court']}"}
    gateway = HubProcess(settings, ["gateway"], name="gateway", log_path=tmp_path / "gateway.log")

    def push(number: str) -> httpx.Response:
        return httpx.post(url, json={"records": [execution(number)]}, headers=headers, timeout=60)

    try:
        hub.start_broker()
        gateway.start()
        _wait(lambda: _port_open(gateway_port) and _readyz(metrics_port)[0] == 200, 60, "gateway ready")
        assert push("before").json()["accepted"] == 1

        hub.kill_broker()
        not_ready_after = _wait(lambda: _readyz(metrics_port)[0] == 503, 10, "/readyz not ready")
        assert _readyz(metrics_port)[1] < 1.0, "/readyz answers within a second"
        answers = []
        for n in range(3):
            started = time.monotonic()
            answer = push(f"away-{n}")
            answers.append((answer.status_code, answer.headers.get("Retry-After"), time.monotonic() - started))
        # Retry-After: what is left of the push API's outage window, at most JIANDU_GATEWAY_CONFIRM_SECONDS
        window = range(1, round(settings.gateway_confirm_seconds) + 1)
        assert all(status == 503 and int(retry) in window for status, retry, _ in answers), answers
        assert max(seconds for _, _, seconds in answers) < 5, answers  # prompt: never a multi-minute hang
        gateway.check_alive()

        hub.start_broker()  # the journal is replayed before it reports ready
        back_after = _wait(lambda: push("after").status_code == 200, 60, "accepting again")
        _wait(lambda: _readyz(metrics_port)[0] == 200, 20, "/readyz ready again")
        print(f"not ready after {not_ready_after:.1f} s; 503 in {[round(s, 1) for *_, s in answers]} s; "
              f"accepting again {back_after:.1f} s after the broker restarted")  # fmt: skip
        topic = catalogue_of(settings).event_topic("court.execution_filed")
        codec = AvroCodec()
        on_topic = [
            codec.decode(m.split(b"\0", 1)[1])[1]["source_record_id"] for m in all_messages(settings.bootstrap, [topic])
        ]
        # "before" (replayed) and "after"; a record answered 503 may still have reached the broker (re-sending is safe)
        assert {"E-before", "E-after"} <= set(on_topic) <= {"E-before", "E-after", "E-away-0", "E-away-1", "E-away-2"}
    finally:
        gateway.stop()
        hub.stop()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_jiandu_broker_stops_its_tansu_child_on_sigterm_and_sigint(tmp_path: Path, signum: int) -> None:
    port = find_free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env |= {"JIANDU_BROKER_PORT": str(port), "JIANDU_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "jiandu.cli", "broker"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        while "embedded broker on" not in line:
            assert line, "jiandu broker exited before it was ready"
            line = process.stdout.readline()
        tansu = int(line.split("(pid ")[1].split(")")[0])
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0
        _wait(lambda: not _alive(tansu), 5, "Tansu gone")
        assert not _port_open(port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("seed", [3])
def test_what_the_push_api_remembers_as_accepted_is_on_the_topics_after_kill_9_of_broker_and_gateway(
    tmp_path: Path, topic_prefix: str, seed: int
) -> None:
    """Issue 12, item 2: the gateway's duplicate database is never ahead of what is durable."""
    rng = random.Random(seed)
    hub = Hub(tmp_path / "data", topic_prefix)
    tokens = write_agencies(tmp_path / "agencies.yaml")
    gateway_port = find_free_port()
    settings = hub.settings.replace(gateway_agencies=str(tmp_path / "agencies.yaml"), gateway_port=gateway_port)
    hub.settings = settings
    gateway = HubProcess(settings, ["gateway"], name="gateway", log_path=tmp_path / "gateway.log")
    answered: dict[str, str] = {}
    stop = threading.Event()

    def pusher() -> None:
        url = f"http://127.0.0.1:{gateway_port}{BATCH_PATH}"
        headers = {"Authorization": f"Bearer {tokens['shenyang-court']}"}
        for batch in range(60):
            records = [execution(f"{seed}-{batch}-{i}") for i in range(20)]
            while not stop.is_set():
                try:
                    answer = httpx.post(url, json={"records": records}, headers=headers, timeout=30)
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    answered.update((r["event_id"], r["status"]) for r in answer.json()["results"])
                    break
                time.sleep(0.3)
            time.sleep(0.05)

    thread = threading.Thread(target=pusher, daemon=True)
    try:
        hub.start_broker()
        gateway.start()
        _wait(lambda: _port_open(gateway_port), 60, "gateway serving")
        thread.start()
        time.sleep(rng.uniform(0.5, 2.0))
        hub.kill_broker()
        time.sleep(rng.uniform(0.5, 2.0))
        gateway.kill()
        hub.start_broker()
        gateway.start()
        time.sleep(rng.uniform(0.5, 2.0))
        gateway.kill()
        gateway.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the pusher did not finish"
    finally:
        stop.set()
        gateway.stop()
        try:
            with sqlite3.connect(receipts_path(settings)) as db:
                remembered = {row[0] for row in db.execute("SELECT event_id FROM accepted")}
            topic = catalogue_of(settings).event_topic("court.execution_filed")
            codec = AvroCodec()
            on_topic = {
                codec.decode(m.split(b"\0", 1)[1])[1]["event_id"] for m in all_messages(settings.bootstrap, [topic])
            }
        finally:
            hub.stop()
    assert len(answered) == 60 * 20 and set(answered.values()) <= {"accepted", "duplicate"}
    assert remembered - on_topic == set(), "the push API remembers ids that are not on the topic"
    assert set(answered) - on_topic == set(), "answered accepted (or duplicate) but not on the topic"
