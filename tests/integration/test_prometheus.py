"""A real Prometheus (Debian's /usr/bin/prometheus) scraping real hub processes, with the shipped rules.

Each case starts hub processes with their metrics on free ports, generates a
Prometheus configuration from ``deploy/prometheus/prometheus.yml`` (its job names,
the test's targets, 1 s scrapes, storage in tmp_path, the shipped rule files),
feeds a known input and polls Prometheus's HTTP API until the series arrive with
the expected values. Every process is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.gateway import BATCH_PATH
from adapters.jsonl import ingest_jsonl
from jiandu.broker import EmbeddedBroker, find_free_port, high_watermarks
from jiandu.cli.gateway import write_development_agencies
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.identity import make_id_number
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.pipeline import CONFORMANCE, all_messages, settings_for

pytestmark = [pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((DEPLOY / "rules").glob("*.yml"))
DASHBOARD = ROOT / "deploy" / "grafana" / "jiandu-dashboard.json"
PROMETHEUS_BINARY = Path("/usr/bin/prometheus")

PERSON = make_id_number("210102", date(1985, 3, 17), 241)
BAD_CHECK = PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")


# -- Prometheus ------------------------------------------------------------------------------------


class Prometheus:
    """A running Prometheus server and its HTTP API."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log
        self.client = httpx.Client(base_url=url, timeout=10.0)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now (an error of the query fails the test)."""
        body = self.client.get("/api/v1/query", params={"query": expr}).json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The value of a one-sample result, None when ``expr`` has no sample."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} has several series: {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: Callable[[float], bool] | float, timeout: float = 30.0) -> float:
        """Poll until ``expr`` has a value equal to (or satisfying) ``expected``; returns the value."""
        check = expected if callable(expected) else (lambda value: value == expected)
        value = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.value(expr)
            if value is not None and check(value):
                return value
            time.sleep(0.5)
        pytest.fail(
            f"{expr} is {value} after {timeout:.0f} s, expected {expected}; targets: {self.targets()}\n"
            f"Prometheus log:\n{tail(self.log)}"
        )

    def targets(self) -> list[tuple[str, str, str, str]]:
        """(job, instance, health, last error) of every scrape target, for failure messages."""
        active = self.client.get("/api/v1/targets").json()["data"]["activeTargets"]
        return [(t["labels"]["job"], t["labels"]["instance"], t["health"], t["lastError"]) for t in active]

    def rules(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every loaded rule, once each has been evaluated (health ok or err, not unknown)."""
        deadline = time.monotonic() + timeout
        while True:
            groups = self.client.get("/api/v1/rules").json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            if (rules and all(rule["health"] != "unknown" for rule in rules)) or time.monotonic() > deadline:
                return rules
            time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus_binary() -> Path:
    if not PROMETHEUS_BINARY.exists():
        message = f"{PROMETHEUS_BINARY} is missing (Debian package prometheus: scripts/install-system-packages.sh)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run this test")
        pytest.skip(message)
    return PROMETHEUS_BINARY


def scrape_config(targets: dict[str, int]) -> dict[str, Any]:
    """The shipped configuration's jobs (those named in ``targets``, job → port) scraping every second."""
    shipped = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in shipped["scrape_configs"]}
    assert set(targets) <= set(jobs), f"jobs of deploy/prometheus/prometheus.yml: {sorted(jobs)}"
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {**jobs[job], "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]} for job, port in targets.items()
        ],
    }


@contextlib.contextmanager
def prometheus_scraping(binary: Path, work: Path, targets: dict[str, int]) -> Iterator[Prometheus]:
    """A Prometheus on a free 127.0.0.1 port scraping ``targets``; stopped by its pid at the end."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets)), encoding="utf-8")
    port, log = find_free_port(), work / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_served(f"{url}/-/ready", process, log, timeout=30)
        server = Prometheus(url, log)
        try:
            yield server
        finally:
            server.client.close()
    finally:
        stop(process)


# -- hub processes ---------------------------------------------------------------------------------


def hub_env(settings: Settings) -> dict[str, str]:
    """This environment without any JIANDU_* variable, plus the settings'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(settings.to_env())
    return env


@contextlib.contextmanager
def hub_process(
    args: list[str], env: dict[str, str], log: Path, stop_timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """``jiandu <args>`` with its output in ``log``; SIGTERM (then SIGKILL) by its pid at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jiandu.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        stop(process, stop_timeout)


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_until_served(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, what: str = "") -> None:
    """Poll ``url`` until it answers 200; fail early with the log's tail if the process ended."""
    wait_until_all_served({what or url: url}, process, log, timeout)


def wait_until_all_served(urls: dict[str, str], process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll every URL (by what it is) until each answered 200 once; the failure names those that did not."""
    waiting = dict(urls)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{process.args} ended ({process.returncode}) before {', '.join(waiting)} answered:\n{tail(log)}"
            )
        for what, url in list(waiting.items()):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    del waiting[what]
        time.sleep(0.25)
    if waiting:
        missing = ", ".join(f"{what} ({url})" for what, url in waiting.items())
        pytest.fail(f"no answer 200 within {timeout:.0f} s from {missing}:\n{tail(log)}")


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def assert_rules_loaded_and_healthy(prometheus: Prometheus) -> None:
    """Every rule of the shipped files is loaded and evaluates without error."""
    shipped = {
        rule.get("alert") or rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }
    rules = prometheus.rules()
    assert {rule["name"] for rule in rules} == shipped
    unhealthy = {rule["name"]: (rule["health"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"}
    assert not unhealthy, unhealthy


def assert_dashboard_queries_evaluate(prometheus: Prometheus) -> None:
    """Every dashboard query, Grafana's variables filled in, evaluates on the real server."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in board["panels"] if p["type"] != "row" for t in p["targets"]]
    grafana = {"$__rate_interval": "5s", "$__interval": "1s", "$__range": "5m"}
    for expr in exprs:
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        prometheus.query(re.sub(r"\$\{[^}]*\}|\$\w+", ".*", expr))


# -- jiandu gateway --------------------------------------------------------------------------------


def execution(number: str, id_number: str = PERSON) -> dict[str, Any]:
    """A court.execution_filed record of court:210100."""
    return {
        "type": "court.execution_filed",
        "source": "court:210100",
        "source_record_id": f"E-{number}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "jurisdiction": "210100",
        "execution_no": f"E-{number}",
        "case_no": f"(2024)辽01刑初{number}号",
        "id_number": id_number,
    }


@pytest.mark.broker
def test_prometheus_sees_the_push_api_count_accepted_and_rejected_records(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, prometheus_binary: Path
) -> None:
    valid, invalid = 7, 3
    api_port, metrics_port = find_free_port(), find_free_port()
    tokens = write_development_agencies(tmp_path / "agencies.yaml", ["court:210100"])
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        data_dir=tmp_path / "data",
        gateway_agencies=str(tmp_path / "agencies.yaml"),
        gateway_port=api_port,
        metrics_ports=f"gateway={metrics_port}",
    )
    with hub_process(["gateway"], hub_env(settings), tmp_path / "gateway.log") as gateway:
        wait_until_served(f"http://127.0.0.1:{api_port}/healthz", gateway, tmp_path / "gateway.log", timeout=60)
        wait_until_served(
            f"http://127.0.0.1:{metrics_port}/metrics",
            gateway,
            tmp_path / "gateway.log",
            timeout=10,
            what=f"/metrics of `jiandu gateway` at JIANDU_METRICS_PORTS=gateway={metrics_port}",
        )
        with prometheus_scraping(prometheus_binary, tmp_path / "prometheus", {"jiandu-gateway": metrics_port}) as prom:
            prom.wait_for('up{job="jiandu-gateway"}', 1)
            selector = 'job="jiandu-gateway",adapter="gateway",source="court:210100",type="court.execution_filed"'
            assert prom.value(f"sum(jiandu_records_accepted_total{{{selector}}})") in (None, 0.0)

            records = [execution(f"ok-{i}") for i in range(valid)]
            records += [execution(f"bad-{i}", id_number=BAD_CHECK) for i in range(invalid)]
            answer = httpx.post(
                f"http://127.0.0.1:{api_port}{BATCH_PATH}",
                json={"records": records},
                headers={"Authorization": f"Bearer {tokens['court']}"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            assert (answer.json()["accepted"], answer.json()["rejected"]) == (valid, invalid)

            prom.wait_for(f"sum(jiandu_records_received_total{{{selector}}})", valid + invalid)
            prom.wait_for(f"sum(jiandu_records_accepted_total{{{selector}}})", valid)
            prom.wait_for(
                f'sum(jiandu_records_rejected_total{{{selector},reason="id_number:check_character"}})', invalid
            )
            prom.wait_for('sum(jiandu_gateway_requests_total{job="jiandu-gateway",status_class="2xx"})', 1)
            prom.wait_for(
                'jiandu_adapter_last_success_age_seconds{job="jiandu-gateway",adapter="gateway",source="court:210100"}',
                lambda age: 0 <= age < 60,
            )
            assert_rules_loaded_and_healthy(prom)
            assert_dashboard_queries_evaluate(prom)


# -- jiandu worker ---------------------------------------------------------------------------------


def status_changes(settings: Settings) -> Counter[tuple[str, str]]:
    """Per (model, status): lead versions on the lead topic whose status differs from the lead's previous one.

    What ``jiandu_leads_total`` counts: a lead raised (OPEN), resolved or withdrawn; a version
    that only changes the evidence is not a change of status. A lead's versions share a partition,
    so their order is the order they were published in.
    """
    topic = catalogue_of(settings).leads
    codec = AvroCodec()
    last: dict[str, str] = {}
    changes: Counter[tuple[str, str]] = Counter()
    if not any(high_watermarks(settings.bootstrap, [topic]).values()):
        return changes
    for message in all_messages(settings.bootstrap, [topic]):
        lead = codec.decode(message.split(b"\0", 1)[1])[1]
        if last.get(lead["lead_id"]) != lead["status"]:
            changes[(lead["model_id"], lead["status"])] += 1
        last[lead["lead_id"]] = lead["status"]
    return changes


@pytest.mark.broker
def test_prometheus_sees_the_leads_a_streams_worker_publishes(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, prometheus_binary: Path
) -> None:
    web_port = find_free_port()
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", live_tick_seconds=1.0)
    create_topics(settings)
    log = tmp_path / "worker.log"
    with hub_process(["worker", "--mode", "live", "--web-port", str(web_port)], hub_env(settings), log) as worker:
        wait_until_served(
            f"http://127.0.0.1:{web_port}/metrics", worker, log, timeout=60, what="/metrics of the worker"
        )
        with prometheus_scraping(prometheus_binary, tmp_path / "prometheus", {"jiandu-worker": web_port}) as prom:
            prom.wait_for('up{job="jiandu-worker"}', 1)
            publisher, intake = new_intake(settings, adapter="jsonl")
            with publisher:  # the conformance history: live, its deadlines are long past, so leads come at once
                report = ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
            events = 'sum(jiandu_stream_events_processed_total{job="jiandu-worker"})'
            prom.wait_for(events, report.accepted, timeout=60)  # every accepted event routed once

            deadline = time.monotonic() + 90
            while True:
                expected = status_changes(settings)
                result = prom.query('sum by (model, status) (jiandu_leads_total{job="jiandu-worker"})')
                seen = {(r["metric"]["model"], r["metric"]["status"]): float(r["value"][1]) for r in result}
                if expected and seen == {key: float(n) for key, n in expected.items()}:
                    break
                assert time.monotonic() < deadline, f"leads per model and status: topic {expected}, Prometheus {seen}"
                time.sleep(1.0)
            assert len({model for model, _ in expected}) >= 5, "leads of many models"

            prom.wait_for('sum(jiandu_lead_latency_seconds_count{job="jiandu-worker"})', lambda n: n > 0)
            grace = settings.clock_grace_seconds  # live, the hub clock trails wall time by the grace
            prom.wait_for(
                'max(jiandu_hub_clock_behind_seconds{job="jiandu-worker"})', lambda s: grace <= s < grace + 60
            )
            assert_rules_loaded_and_healthy(prom)


# -- jiandu run ------------------------------------------------------------------------------------


def test_prometheus_sees_leads_of_jiandu_run(tmp_path: Path, prometheus_binary: Path) -> None:
    processes = ("run", "alerts", "archive", "console")
    metrics = {process: find_free_port() for process in processes}
    worker_port = find_free_port()
    others = ",".join(f"{p}=0" for p in ("filedrop", "rest-pull", "gateway", "webhooks"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(
        JIANDU_BROKER_PORT=str(find_free_port()),
        JIANDU_WORKER_WEB_PORT=str(worker_port),
        JIANDU_GATEWAY_PORT=str(find_free_port()),
        JIANDU_CONSOLE_PORT=str(find_free_port()),
        JIANDU_DATA_DIR=str(tmp_path / "data"),
        JIANDU_LIVE_TICK_SECONDS="1",
        JIANDU_METRICS_PORTS=",".join(f"{p}={port}" for p, port in metrics.items()) + f",{others}",
    )
    jobs = {f"jiandu-{process}": port for process, port in metrics.items()} | {"jiandu-worker": worker_port}
    log = tmp_path / "run.log"
    # SIGTERM: `jiandu run` stops what it started (broker, worker, …) before it exits
    with hub_process(["run", "--duration", "150"], env, log, stop_timeout=60) as run:
        endpoints = {f"/metrics of {job}": f"http://127.0.0.1:{port}/metrics" for job, port in jobs.items()}
        wait_until_all_served(endpoints, run, log, timeout=90)
        with prometheus_scraping(prometheus_binary, tmp_path / "prometheus", jobs) as prom:
            for job in jobs:
                prom.wait_for(f'up{{job="{job}"}}', 1)
            prom.wait_for('sum(jiandu_records_accepted_total{job="jiandu-run"})', lambda n: n > 0, timeout=60)
            prom.wait_for('sum(jiandu_leads_total{job="jiandu-worker",status="OPEN"})', lambda n: n > 0, timeout=90)
            prom.wait_for('count(count by (model) (jiandu_leads_total{job="jiandu-worker"}))', lambda n: n >= 3)
            prom.wait_for('count(jiandu_hub_clock_timestamp_seconds{job="jiandu-worker"})', lambda n: n > 0)
            prom.wait_for('sum(jiandu_alerts_routed_total{job="jiandu-alerts"})', lambda n: n > 0)
            prom.wait_for('sum(jiandu_archive_writes_total{job="jiandu-archive",kind="lead_version"})', lambda n: n > 0)
            assert_rules_loaded_and_healthy(prom)
            assert_dashboard_queries_evaluate(prom)
