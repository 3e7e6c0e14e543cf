"""The adapters' /metrics, /healthz and /readyz, scraped from real processes after a known input.

Each case runs a real ``jiandu`` command (gateway, filedrop, rest-pull) on the
session's broker with its metrics on an explicit free port, feeds valid records
and records with bad ID numbers, then reads /metrics as Prometheus would (the
text exposition, parsed by prometheus-client's parser) and checks exact counts
per source, type and reason. Every exposition is also searched for the raw ID
numbers fed and the person keys the process derived from them: neither may appear.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.agency_sim import AgencyFeed, AgencySimulator
from adapters.gateway import BATCH_PATH, hash_token, new_token
from adapters.rest import unit_of
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.core.identity import make_id_number, person_key
from jiandu.settings import Settings
from tests.pipeline import adapter_checkpoint, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

PERSONS = [make_id_number("210102", date(1960, 1, 1) + timedelta(days=97 * i), 100 + i) for i in range(8)]
BAD_CHECK = [p[:-1] + ("0" if p[-1] != "0" else "1") for p in PERSONS[:3]]
BAD_LENGTH = [p[:17] for p in PERSONS[3:5]]
FED = [*PERSONS, *BAD_CHECK, *BAD_LENGTH]
INTAKE = ("jiandu_records_received_total", "jiandu_records_accepted_total", "jiandu_records_rejected_total")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class HubProcess:
    """A ``jiandu`` command as a child process; its stdout lines collected, its stderr in a log file."""

    def __init__(self, args: list[str], settings: Settings, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
        env.update(settings.to_env())
        self.log = log
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jiandu.cli", *args], env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line(self, prefix: str, timeout: float = 60.0) -> str:
        """The first stdout line starting with ``prefix`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if line.startswith(prefix)]
            if found:
                return found[0]
            assert self.process.poll() is None, f"exited {self.process.returncode}: {self.log.read_text()[-3000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no line {prefix!r} in {timeout} s: {self.lines}\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 30 s (by the pid started here); the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._stderr.close()
        return self.process.returncode


@pytest.fixture
def started() -> Iterator[list[HubProcess]]:
    """Processes a test starts; each is stopped at the end, whatever happened."""
    processes: list[HubProcess] = []
    yield processes
    for process in processes:
        process.stop()


def scrape(port: int) -> tuple[str, Samples]:
    """The exposition text of /metrics and its samples by (name, labels)."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return response.text, samples


def family(samples: Samples, name: str, **fixed: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name`` with the ``fixed`` labels, keyed by its other labels (sorted)."""
    out = {}
    for (sample, labels), value in samples.items():
        if sample == name and set(fixed.items()) <= labels:
            out[tuple(sorted(kv for kv in labels if kv[0] not in fixed))] = value
    return out


def counts(samples: Samples, name: str, adapter: str) -> dict[tuple[str, ...], float]:
    """An intake counter of one adapter as {(source, type[, reason]): value}."""
    order = ("source", "type", "reason")
    return {
        tuple(dict(labels)[n] for n in order if n in dict(labels)): value
        for labels, value in family(samples, name, adapter=adapter).items()
    }


def nonzero(values: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
    """Without the series at 0 (the file drop exports its known flows at 0 from the start)."""
    return {key: value for key, value in values.items() if value}


def assert_private(text: str, key: bytes) -> None:
    """No raw ID number fed, nor the person key of a valid one, anywhere in the exposition."""
    lowered = text.lower()
    leaked = [n for n in FED if n.lower() in lowered]
    leaked += [k for k in (person_key(p, key) for p in PERSONS) if k in lowered or k[:16] in lowered]
    assert not leaked, f"personal values in /metrics: {leaked}"


def ready(port: int, timeout: float = 30.0) -> dict[str, Any]:
    """The /readyz body once it answers 200 (fails with the last answer otherwise)."""
    deadline, answer = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        if answer.status_code == 200:
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(0.2)
    raise AssertionError(f"/readyz not ready: {answer.text if answer else None}")


# -- push API -------------------------------------------------------------------------------------


def write_agencies(path: Path) -> str:
    """Credentials of one court agency owning court:210100; returns its token."""
    token = new_token("shenyang-court")
    path.write_text(
        f'agencies:\n  - id: shenyang-court\n    category: court\n    sources: ["court:210100"]\n'
        f'    token_hash: "{hash_token(token)}"\n',
        encoding="utf-8",
    )
    return token


def execution(number: str, id_number: str, source: str = "court:210100", **changes: Any) -> dict[str, Any]:
    """A court.execution_filed record."""
    return {
        "type": "court.execution_filed",
        "source": source,
        "source_record_id": f"E-{number}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "jurisdiction": "210100",
        "execution_no": f"E-{number}",
        "case_no": f"(2024)辽01刑初{number}号",
        "id_number": id_number,
        **changes,
    }


def gateway_settings(broker: EmbeddedBroker | str, prefix: str, tmp_path: Path, metrics_port: int) -> Settings:
    return settings_for(
        broker if isinstance(broker, str) else broker.bootstrap,
        prefix,
        data_dir=tmp_path / "data",
        gateway_agencies=str(tmp_path / "agencies.yaml"),
        gateway_port=find_free_port(),
        metrics_ports=f"gateway={metrics_port}",
    )


def push(settings: Settings, token: str, records: list[Any]) -> httpx.Response:
    """POST a batch (no Authorization header when ``token`` is empty)."""
    url = f"http://127.0.0.1:{settings.gateway_port}{BATCH_PATH}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json={"records": records}, headers=headers, timeout=30)


def test_gateway_counts_records_requests_and_sources_exactly_and_privately(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, started: list[HubProcess]
) -> None:
    token, port = write_agencies(tmp_path / "agencies.yaml"), find_free_port()
    settings = gateway_settings(broker, topic_prefix, tmp_path, port)
    started.append(gateway := HubProcess(["gateway"], settings, tmp_path / "gateway.log"))
    gateway.line("gateway: http://127.0.0.1:")
    assert gateway.line("metrics: ") == f"metrics: http://127.0.0.1:{port}/metrics"
    assert ready(port)["checks"] == {"broker": "ok", "topics": "ok", "credentials": "ok", "push_api": "ok"}

    first = [execution(f"ok-{i}", p) for i, p in enumerate(PERSONS[:4])]
    first += [execution(f"unit-{i}", p, source="court:210100:criminal-2") for i, p in enumerate(PERSONS[4:6])]
    first += [execution(f"check-{i}", p) for i, p in enumerate(BAD_CHECK)]
    first += [execution(f"length-{i}", p) for i, p in enumerate(BAD_LENGTH)]
    first += [
        execution("foreign", PERSONS[6], source="court:210200"),
        {**execution("type", PERSONS[7]), "type": "police.arrest_requested"},
    ]
    answer = push(settings, token, first)
    assert answer.status_code == 200 and (answer.json()["accepted"], answer.json()["rejected"]) == (6, 7), answer.text
    assert push(settings, token, first[:2]).json()["duplicate"] == 2, "duplicates are never handed to the intake"
    assert push(settings, "shenyang-court.wrong-secret", first[:1]).status_code == 401
    assert push(settings, "", first[:1]).status_code == 401
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = f"http://127.0.0.1:{settings.gateway_port}{BATCH_PATH}"
    assert httpx.post(url, content=b"{", headers=headers, timeout=10).status_code == 400

    text, samples = scrape(port)
    court, unit, execution_type = "court:210100", "court:210100:criminal-2", "court.execution_filed"
    assert counts(samples, INTAKE[0], "gateway") == {
        (court, execution_type): 9,
        (unit, execution_type): 2,
        ("court:210200", execution_type): 1,
        (court, "police.arrest_requested"): 1,
        ("invalid", "invalid"): 1,  # the body answered 400, dead-lettered as it came
    }
    assert counts(samples, INTAKE[1], "gateway") == {
        (court, execution_type): 4,
        (unit, execution_type): 2,
        ("court:210200", execution_type): 0,  # a source and type seen has its accepted series, if only at 0
        (court, "police.arrest_requested"): 0,
        ("invalid", "invalid"): 0,
    }
    assert counts(samples, INTAKE[2], "gateway") == {
        (court, execution_type, "id_number:check_character"): 3,
        (court, execution_type, "id_number:length"): 2,
        ("court:210200", execution_type, "source:source_not_allowed"): 1,
        (court, "police.arrest_requested", "type:type_not_allowed"): 1,
        ("invalid", "invalid", "json"): 1,
    }
    requests = family(samples, "jiandu_gateway_requests_total")
    assert requests == {  # every configured agency's classes exported from 0
        (("agency", "shenyang-court"), ("status_class", "2xx")): 2,
        (("agency", "shenyang-court"), ("status_class", "4xx")): 1,
        (("agency", "shenyang-court"), ("status_class", "5xx")): 0,
        (("agency", "unknown"), ("status_class", "4xx")): 2,
    }
    assert samples[("jiandu_gateway_request_seconds_count", frozenset())] == 5
    ages = family(samples, "jiandu_adapter_last_success_age_seconds", adapter="gateway")
    assert set(ages) == {(("source", court),), (("source", unit),)} and all(0 <= a < 60 for a in ages.values())
    assert_private(text, settings.pseudonym_key_bytes)

    agency_port = httpx.get(f"http://127.0.0.1:{settings.gateway_port}/metrics", timeout=10)
    assert agency_port.status_code == 404, "the agency-facing port does not serve /metrics"
    assert httpx.get(f"http://127.0.0.1:{settings.gateway_port}/healthz", timeout=10).status_code == 200
    assert gateway.stop() == 0


@pytest.mark.timeout(240)
def test_readyz_is_503_naming_the_broker_when_it_is_gone(
    topic_prefix: str, tmp_path: Path, started: list[HubProcess]
) -> None:
    """The broker's port closes under a running gateway: /readyz says so, /healthz stays live.

    A probe of a closed port waits out kafka-python's bootstrap (30 s by default), hence the long read timeout.
    """
    own = EmbeddedBroker(find_free_port(), log_path=tmp_path / "tansu.log")
    own.start()
    try:
        write_agencies(tmp_path / "agencies.yaml")
        port = find_free_port()
        settings = gateway_settings(own.bootstrap, topic_prefix, tmp_path, port)
        started.append(gateway := HubProcess(["gateway"], settings, tmp_path / "gateway.log"))
        gateway.line("metrics: ")
        assert ready(port)["status"] == "ready"
    finally:
        own.stop()  # by the pid it started; its port is closed from now on
    deadline, answer = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=120)
        if answer.status_code == 503:
            break
        time.sleep(0.5)
    assert answer is not None and answer.status_code == 503, answer.text if answer else None
    body = answer.json()
    assert body["status"] == "not ready" and body["checks"]["credentials"] == "ok"
    assert "unreachable" in body["checks"]["broker"] and own.bootstrap in body["checks"]["broker"]
    live = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert live.status_code == 200 and live.json() == {"status": "live", "process": "gateway"}


# -- file drop ------------------------------------------------------------------------------------


def pension_export(path: Path) -> None:
    """A pension export of social:210100: 5 valid rows, 2 wrong check characters, 1 unmappable month."""
    rows = [(f"YL{i:04d}", p, "202403") for i, p in enumerate(PERSONS[:5])]
    rows += [(f"YL9{i:03d}", p, "202403") for i, p in enumerate(BAD_CHECK[:2])]
    rows += [("YL8000", PERSONS[5], "2024-3")]
    lines = ["发放流水号,公民身份号码,姓名,发放年月,发放金额,发放日期,经办机构"]
    lines += [
        f"{sid},{person},何老汉,{month},3250.60,20240305,沈阳市社会保险事业服务中心" for sid, person, month in rows
    ]
    path.parent.mkdir(parents=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    path.with_name(path.name + ".done").touch()


def test_filedrop_counts_rows_files_and_checkpoints(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, started: list[HubProcess]
) -> None:
    drop, port = tmp_path / "drop", find_free_port()
    pension_export(drop / "social_210100" / "养老金发放_202403.csv")
    (drop / "court_210102").mkdir()
    (drop / "court_210102" / "说明.csv").write_text("no mapping applies\n", encoding="utf-8")
    (drop / "court_210102" / "说明.csv.done").touch()
    settings = settings_for(
        broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", metrics_ports=f"filedrop={port}"
    )
    started.append(filedrop := HubProcess(["filedrop", "--drop", str(drop)], settings, tmp_path / "filedrop.log"))
    assert filedrop.line("metrics: ") == f"metrics: http://127.0.0.1:{port}/metrics"
    filedrop.line("social_210100/养老金发放_202403.csv: 8 rows")
    filedrop.line("court_210102/说明.csv: no mapping applies")
    assert ready(port)["checks"] == {"broker": "ok", "topics": "ok", "drop_folder": "ok"}

    text, samples = scrape(port)
    social, pension = "social:210100", "social.pension_paid"
    assert nonzero(counts(samples, INTAKE[0], "filedrop")) == {(social, pension): 8}
    assert nonzero(counts(samples, INTAKE[1], "filedrop")) == {(social, pension): 5}
    assert nonzero(counts(samples, INTAKE[2], "filedrop")) == {
        (social, pension, "id_number:check_character"): 2,
        (social, pension, "mapping"): 1,
    }
    assert family(samples, "jiandu_files_processed_total") == {  # every source folder's outcomes, from 0
        (("outcome", "done"), ("source", social)): 1,
        (("outcome", "failed"), ("source", social)): 0,
        (("outcome", "done"), ("source", "court:210102")): 0,
        (("outcome", "failed"), ("source", "court:210102")): 1,
    }
    for name in ("jiandu_adapter_last_success_age_seconds", "jiandu_adapter_checkpoint_age_seconds"):
        ages = family(samples, name, adapter="filedrop")
        assert set(ages) == {(("source", social),)} and 0 <= ages[(("source", social),)] < 60, name
    assert_private(text, settings.pseudonym_key_bytes)
    assert filedrop.stop() == 0


# -- REST pull ------------------------------------------------------------------------------------


def _checkpointed(settings: Settings, source: str) -> int:
    """Records the source's checkpoint on the broker counts."""
    return int((adapter_checkpoint(settings, unit_of(source)) or {}).get("records", 0))


def test_rest_pull_counts_answers_retries_and_records(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, started: list[HubProcess]
) -> None:
    records = [execution(f"r{i}", p) for i, p in enumerate(PERSONS[:6])]
    records += [execution(f"rb{i}", p) for i, p in enumerate(BAD_CHECK[:2])]
    port = find_free_port()
    settings = settings_for(
        broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", metrics_ports=f"rest-pull={port}"
    )
    with AgencySimulator(AgencyFeed(records)) as sim:
        sim.set_faults({"http_500": 2, "timeout": 1, "timeout_seconds": 1.5})
        config = tmp_path / "sources.yaml"
        config.write_text(
            f"sources:\n  - source: court:210100\n    base_url: {sim.url}\n    page_size: 3\n"
            "    poll_interval_seconds: 0.3\n    timeout_seconds: 0.5\n    backoff_seconds: 0.05\n",
            encoding="utf-8",
        )
        started.append(pull := HubProcess(["rest-pull", "--config", str(config)], settings, tmp_path / "rest.log"))
        assert pull.line("metrics: ") == f"metrics: http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        # the page after the last record is asked for only once the page before is checkpointed (read from
        # the simulator: reading the checkpoint topic in a loop slowed this process's agency into timeouts)
        while not any(r.is_page and (r.start or 0) >= len(records) for r in sim.served()):
            assert time.monotonic() < deadline, pull.log.read_text()[-3000:]
            time.sleep(0.1)
        assert _checkpointed(settings, "court:210100") == len(records), pull.log.read_text()[-3000:]
        assert ready(port)["checks"] == {"broker": "ok", "topics": "ok", "pollers": "ok"}
        text, samples = scrape(port)
        assert pull.stop() == 0

    court, execution_type = "court:210100", "court.execution_filed"
    assert counts(samples, INTAKE[0], "rest-pull") == {(court, execution_type): 8}
    assert counts(samples, INTAKE[1], "rest-pull") == {(court, execution_type): 6}
    assert counts(samples, INTAKE[2], "rest-pull") == {(court, execution_type, "id_number:check_character"): 2}
    answers = family(samples, "jiandu_agency_api_responses_total", source=court)
    by_class = {dict(labels)["status_class"]: value for labels, value in answers.items()}
    assert by_class.pop("2xx") >= 3, "three pages at least, then a poll every 0.3 s"
    assert by_class == {"3xx": 0, "4xx": 0, "5xx": 2, "error": 1}, "two HTTP 500, one timeout (every class from 0)"
    assert family(samples, "jiandu_adapter_retries_total") == {(("adapter", "rest-pull"), ("source", court)): 3}
    for name in ("jiandu_adapter_last_success_age_seconds", "jiandu_adapter_checkpoint_age_seconds"):
        assert set(family(samples, name, adapter="rest-pull")) == {(("source", court),)}, name
    assert_private(text, settings.pseudonym_key_bytes)
