"""A mistake on the command line is one clear line on stderr and a non-zero exit, never a traceback.

Each case runs the real ``jiandu`` in a subprocess; the cases that need Kafka use the
session's embedded broker. "Fast" matters too: a command that cannot work says so
before it starts anything or waits on anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jiandu.broker import EmbeddedBroker, find_free_port

pytestmark = [pytest.mark.timeout(120)]


@dataclass
class Case:
    argv: list[str]
    says: str  # a fragment of the one line on stderr
    code: int = 2
    broker: bool = False  # runs against the session's embedded broker


def _nothing_valid(tmp: Path) -> str:
    path = tmp / "nothing-valid.jsonl"
    path.write_text('{"type": "no.such_type"}\nnot json at all\n', encoding="utf-8")
    return str(path)


CASES: dict[str, Callable[[Path, int], Case]] = {
    "simulate negative persons": lambda tmp, _: Case(
        ["simulate", "--persons", "-5", "--out", str(tmp / "x.jsonl")], "--persons: -5 is not a positive whole number"
    ),
    "agency-sim port out of range": lambda tmp, _: Case(["agency-sim", "--port", "99999"], "port 99999 is outside"),
    "console port not a number": lambda tmp, _: Case(["console", "--port", "http"], "'http' is not a whole number"),
    "schemas folder missing": lambda tmp, _: Case(
        ["schemas", "--dir", str(tmp / "nonexistent")], "does not exist; pass --dir"
    ),
    "unknown option of a sub-command": lambda tmp, _: Case(
        ["dlq", "list", "--bogus"], "jiandu dlq list: unrecognized arguments: --bogus (see `jiandu dlq list --help`)"
    ),
    "no command": lambda tmp, _: Case([], "the following arguments are required: COMMAND"),
    "run sample missing": lambda tmp, _: Case(["run", "--sample", str(tmp / "nonexistent.jsonl")], "no such file"),
    "run with a taken port": lambda tmp, taken: Case(
        ["run"], f"port {taken} on 127.0.0.1 (console) is taken by another process", code=1
    ),
    "ingest without a broker": lambda tmp, _: Case(
        ["ingest", _nothing_valid(tmp)], "no Kafka broker answers at 127.0.0.1:", code=1
    ),
    "dlq without a broker": lambda tmp, _: Case(["dlq", "summary"], "no Kafka broker answers", code=1),
    "worker without a broker": lambda tmp, _: Case(["worker", "--web-port", "-1"], "no Kafka broker answers", code=1),
    "topics without a broker": lambda tmp, _: Case(["topics"], "no Kafka broker answers", code=1),
    "ingest missing file": lambda tmp, _: Case(["ingest", str(tmp / "absent.jsonl")], "no such file"),
    "ingest of nothing valid": lambda tmp, _: Case(
        ["ingest", _nothing_valid(tmp)], "none of the 2 records was valid", broker=True
    ),
    "worker web port out of range": lambda tmp, _: Case(["worker", "--web-port", "70000"], "port 70000 is outside"),
    "run duration negative": lambda tmp, _: Case(["run", "--duration", "-3"], "--duration: -3 is not a finite"),
}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_mistake_is_one_line_and_a_non_zero_exit(
    name: str, tmp_path: Path, taken_port: int, request: pytest.FixtureRequest
) -> None:
    case = CASES[name](tmp_path, taken_port)
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(
        JIANDU_DATA_DIR=str(data_dir),
        JIANDU_BROKER_PORT=str(find_free_port()),  # nothing listens there
        JIANDU_CONSOLE_PORT=str(taken_port),
        JIANDU_GATEWAY_PORT=str(find_free_port()),
        JIANDU_WORKER_WEB_PORT=str(find_free_port()),
        JIANDU_METRICS_PORTS="run=0,alerts=0,archive=0,console=0,webhooks=0",
    )
    if case.broker:
        broker: EmbeddedBroker = request.getfixturevalue("broker")
        env.update(JIANDU_KAFKA_BOOTSTRAP=broker.bootstrap, JIANDU_TOPIC_PREFIX=request.getfixturevalue("topic_prefix"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", *case.argv], env=env, capture_output=True, text=True, timeout=90
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == case.code, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr:\n{done.stderr}"
    assert case.says in lines[0], lines[0]
    assert lines[0].startswith("jiandu"), lines[0]
    assert seconds < (30 if case.broker else 10), f"{seconds:.0f} s to fail"
    if case.argv[:1] == ["run"]:
        assert "password" not in done.stdout, "nothing starts before the arguments and ports are checked"
        assert not data_dir.exists(), "nothing is written before the arguments and ports are checked"
