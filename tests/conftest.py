"""Shared fixtures: one embedded broker per test session, a fresh topic prefix per test."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from uuid import uuid4

import pytest

from jiandu.broker import EmbeddedBroker, find_free_port
from tests.pipeline import FREE_METRICS_PORTS

# processes the tests start serve /metrics on free ports; tests of the endpoints set their own
os.environ.setdefault("JIANDU_METRICS_PORTS", FREE_METRICS_PORTS)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--today",
        metavar="YYYY-MM-DD",
        help="run the tests as if it were 23:59 China time on this day (`make test-dates`); "
        "processes the tests start keep the real date",
    )


@pytest.fixture(scope="session", autouse=True)
def calendar_day(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``--today``, the test process's wall clock starts at 23:59 CST of that day and ticks on."""
    day = request.config.getoption("--today")
    if not day:
        yield
        return
    import time_machine

    try:
        start = datetime.fromisoformat(f"{day}T23:59:00+08:00")
    except ValueError:
        raise pytest.UsageError(f"--today={day}: give a date as YYYY-MM-DD") from None
    with time_machine.travel(start, tick=True):
        yield


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tansu_defect: shows a defect of the embedded Tansu broker that a shim in "
        "jiandu/broker/tansu_compat.py works around; fails once Tansu fixes it",
    )


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded broker on a free loopback port for the whole session."""
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = EmbeddedBroker(find_free_port(), log_path=log_path)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()  # SIGTERM then SIGKILL, by the pid it started


def _kafka_client_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kafka-io-") and t.is_alive()}


@pytest.fixture(autouse=True)
def closes_its_kafka_clients() -> Iterator[None]:
    """A test closes every kafka-python client it (or the code it calls) opened: a client left open
    goes on connecting, and logging, from its thread for the rest of the session (one once logged
    into another test's captured log and failed it)."""
    before = _kafka_client_threads()
    yield
    deadline = time.monotonic() + 3.0
    while (left := _kafka_client_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"kafka-python clients left open: {sorted(t.name for t in left)}"


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix (and consumer group stem) for one test."""
    return f"t{uuid4().hex[:10]}"
