"""Right after start, each process exports its known label sets at 0 and nothing it does not measure.

A counter series that first appears already holding a count hides that count from
``rate()`` and ``increase()``: the dashboard's files processed and console requests
and the rejections stayed 0 through a whole run. And a gauge a process exports but never sets reads 0
beside the true value of the process that does set it (``jiandu_dead_letter_messages``
was 0 on the adapters' process while the worker said 20). Real processes on the
session's broker, scraped as soon as their endpoint answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumers.console import hash_password
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.gateway import write_development_agencies
from jiandu.cli.hub import create_topics
from jiandu.cli.processes import HubProcess
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

#: Families only the streams worker sets; any other process exporting them would report a false 0.
WORKER_ONLY = ("jiandu_dead_letter_messages", "jiandu_state_entities", "jiandu_state_bytes")

#: court_210102's mappings: the judgments (a fixed type) among them
COURT_JUDGMENTS = {"adapter": "filedrop", "source": "court:210102", "type": "court.judgment_effective"}

EXPECTED_ZEROS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "filedrop": [
        *[
            ("jiandu_files_processed_total", {"source": source, "outcome": outcome})
            for source in ("court:210102", "police:210102")
            for outcome in ("done", "failed")
        ],
        *[
            ("jiandu_records_rejected_total", {**COURT_JUDGMENTS, "reason": reason})
            for reason in ("id_number:check_character", "case_no:required", "occurred_at:datetime", "mapping")
        ],
        ("jiandu_records_received_total", COURT_JUDGMENTS),
        ("jiandu_records_accepted_total", COURT_JUDGMENTS),
    ],
    "console": [
        *[("jiandu_console_requests_total", {"status_class": status}) for status in ("2xx", "3xx", "4xx", "5xx")],
        *[("jiandu_console_signins_total", {"result": result}) for result in ("ok", "failed")],
        *[("jiandu_console_denied_total", {"reason": reason}) for reason in ("scope", "role", "csrf")],
    ],
    "alerts": [("jiandu_alerts_routed_total", {"kind": kind}) for kind in ("department", "severity")],
    "gateway": [
        *[("jiandu_gateway_requests_total", {"agency": "dev-court", "status_class": c}) for c in ("2xx", "4xx", "5xx")],
        ("jiandu_gateway_requests_total", {"agency": "unknown", "status_class": "4xx"}),
    ],
}


@pytest.fixture
def started(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Iterator[dict[str, int]]:
    """The file drop (two empty source folders), the console, the alert router and the push API (one
    agency); their metrics ports."""
    ports = {name: find_free_port() for name in EXPECTED_ZEROS}
    users = tmp_path / "users.yaml"
    users.write_text(
        f'users:\n  - username: admin\n    name: 管理员\n    password_hash: "{hash_password("pw-12345678")}"\n'
        '    role: admin\n    jurisdiction: ""\n',
        encoding="utf-8",
    )
    agencies = tmp_path / "agencies.yaml"
    write_development_agencies(agencies, ["court:210100"])
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        data_dir=tmp_path / "data",
        metrics_ports=",".join(f"{name}={port}" for name, port in ports.items()),
        console_port=find_free_port(),
        console_users=str(users),
        gateway_port=find_free_port(),
        gateway_agencies=str(agencies),
    )
    create_topics(settings)
    drop = tmp_path / "drop"
    for folder in ("court_210102", "police_210102"):
        (drop / folder).mkdir(parents=True)
    commands = {
        "filedrop": ["filedrop", "--drop", str(drop)],
        "console": ["console"],
        "alerts": ["alerts"],
        "gateway": ["gateway"],
    }
    processes = [
        HubProcess(settings, command, name=name, log_path=tmp_path / f"{name}.log").start()
        for name, command in commands.items()
    ]
    try:
        yield ports
    finally:
        for process in processes:
            process.stop()


def _first_scrapes(ports: dict[str, int]) -> dict[str, Samples]:
    """Each process's exposition the first time its endpoint answers (all polled together, so that each
    is read as early as a Prometheus server could)."""
    first: dict[str, Samples] = {}
    deadline = time.monotonic() + 60
    while len(first) < len(ports):
        assert time.monotonic() < deadline, f"no /metrics from {sorted(set(ports) - set(first))}"
        for name, port in ports.items():
            if name in first:
                continue
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.TransportError:
                continue
            first[name] = {
                (sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
        time.sleep(0.05)
    return first


def test_known_label_sets_are_exported_at_zero_from_the_start(started: dict[str, int]) -> None:
    first = _first_scrapes(started)
    for process, expected in EXPECTED_ZEROS.items():
        samples = first[process]
        for name, labels in expected:
            assert samples.get((name, frozenset(labels.items()))) == 0.0, (process, name, labels)
        exported = {name for name, _ in samples}
        assert not exported.intersection(WORKER_ONLY), f"{process} exports worker gauges it never sets"
