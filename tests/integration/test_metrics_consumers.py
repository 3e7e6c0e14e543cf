"""The consuming side's /metrics, /healthz and /readyz, scraped from real processes after a known stream of leads.

``jiandu alerts``, ``jiandu webhooks run``, ``jiandu archive run`` (on a real PostgreSQL) and
``jiandu console`` run as child processes on the session's broker, each with its metrics on an
explicit free port. Known lead versions go onto the lead topic (as the streams worker puts them),
then each exposition is read as Prometheus reads it (the text format, parsed by prometheus-client)
and checked for exact values; /healthz and /readyz must answer 200. No exposition may carry a
subject key (a person key), the raw ID number it was derived from, nor a webhook URL's credentials.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from consumers.archive import Action, publish_action
from consumers.console import hash_password
from consumers.console.sessions import CSRF_FIELD
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.core.identity import make_id_number, person_key
from jiandu.core.leads import Lead
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.lead_versions import lead_version, publish_leads
from tests.pipeline import settings_for
from tests.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]

pytestmark = [pytest.mark.broker, pytest.mark.timeout(150)]

KEY = b"conformance-key"
RAW_IDS = [make_id_number("210102", date(1970, 1, 1) + timedelta(days=211 * i), 300 + i) for i in range(8)]
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
HEX_KEY = re.compile(r"[0-9a-f]{32,}")
PASSWORD = "correct horse battery"
HOOK_CREDENTIALS = "hook-user:hook-pa55word"
SECRET = "metrics-test-secret-0123456789"
TOKEN = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def lead(n: int, version: int, department: str = "刑事执行检察", severity: str = "HIGH", **kw: str) -> Lead:
    """A lead version whose subject is a real person key (of ``RAW_IDS[n]``)."""
    base = lead_version(n, version, department, severity, **kw)
    return dataclasses.replace(base, subject_key=person_key(RAW_IDS[n], KEY))


class HubProcess:
    """A ``jiandu`` command as a child process (its JIANDU_* from ``settings`` only), output in a log file."""

    def __init__(self, args: list[str], settings: Settings, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
        env.update(settings.to_env())
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jiandu.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> None:
        assert self.process.poll() is None, f"exited {self.process.returncode}: {self.output()[-3000:]}"

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 30 s (by the pid started here); the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


@pytest.fixture
def started() -> Iterator[list[HubProcess]]:
    """Processes a test starts; each is stopped at the end, whatever happened."""
    processes: list[HubProcess] = []
    yield processes
    for process in processes:
        process.stop()


def start(started: list[HubProcess], args: list[str], settings: Settings, log: Path) -> HubProcess:
    process = HubProcess(args, settings, log)
    started.append(process)
    return process


def until(condition: Callable[[], bool], process: HubProcess, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail with the process's output after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        process.alive()
        try:
            if condition():
                return
        except httpx.TransportError:
            pass  # the endpoint is not up yet
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {process.output()[-3000:]}"
        time.sleep(0.05)


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


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def values(samples: Samples, name: str, label: str) -> dict[str, float]:
    """Every sample of ``name`` by its one label ``label``."""
    return {dict(labels)[label]: v for (n, labels), v in samples.items() if n == name}


def ready(port: int, process: HubProcess) -> dict[str, object]:
    """/healthz answers 200 once the process serves; /readyz turns 200 (every check ok); its checks."""
    until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200, process, "live")
    until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200, process, "ready")
    body = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
    assert body["status"] == "ready" and set(body["checks"].values()) == {"ok"}, body
    return body["checks"]


def assert_private(text: str, samples: Samples, leads: list[Lead]) -> None:
    """Neither a subject key nor a raw ID number anywhere, no label value shaped like one, no webhook credentials."""
    for x in leads:
        assert x.subject_key not in text
    for raw in RAW_IDS:
        assert raw not in text
    label_values = {v for _, labels in samples for _, v in labels}
    assert not [v for v in label_values if ID_NUMBER.search(v) or HEX_KEY.search(v)]
    assert "pa55word" not in text and "hook-user" not in text


def test_the_alert_router_counts_every_copy_by_kind(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, started: list[HubProcess]
) -> None:
    port = find_free_port()
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path, metrics_ports=f"alerts={port}")
    create_topics(settings)
    severities = ("HIGH", "MEDIUM", "LOW")
    departments = ("刑事执行检察", "民事检察", "行政检察")
    leads = [lead(n, v, departments[n % 3], severities[n % 3]) for v in (1, 2) for n in range(6)]
    publish_leads(broker.bootstrap, catalogue_of(settings).leads, leads)

    router = start(started, ["alerts"], settings, tmp_path / "alerts.log")
    checks = ready(port, router)
    assert {"broker", "topics", "group", "state"} <= set(checks)

    def routed() -> dict[str, float]:
        return values(scrape(port)[1], "jiandu_alerts_routed_total", "kind")

    until(lambda: routed() == {"department": len(leads), "severity": len(leads)}, router, "every copy routed")
    time.sleep(1.0)  # nothing more is counted
    text, samples = scrape(port)
    assert values(samples, "jiandu_alerts_routed_total", "kind") == {"department": 12, "severity": 12}
    assert_private(text, samples, leads)
    assert router.stop() == 0
    assert f"metrics: http://127.0.0.1:{port}/metrics" in router.output()


class Receiver:
    """A webhook receiver on 127.0.0.1: ``/hooks/broken`` always answers 503; ``/hooks/shenyang`` fails the
    first ``fail_first`` attempts of one lead, then answers 204. Every attempt is recorded."""

    def __init__(self, failing_lead: str, fail_first: int) -> None:
        self.attempts: Counter[tuple[str, int]] = Counter()  # (subscription, status)
        self.failing_lead, self.fail_left = failing_lead, fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answer(self.path.rsplit("/", 1)[-1], body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, subscription: str) -> str:
        return f"http://{HOOK_CREDENTIALS}@127.0.0.1:{self.server.server_address[1]}/hooks/{subscription}"

    def answer(self, subscription: str, body: bytes) -> int:
        with self.lock:
            status = 204
            if subscription == "broken":
                status = 503
            elif self.failing_lead.encode() in body and self.fail_left > 0:
                self.fail_left -= 1
                status = 503
            self.attempts[(subscription, status)] += 1
            return status

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_webhook_deliverer_counts_attempts_backlog_and_dead_letters(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, started: list[HubProcess]
) -> None:
    slow = [lead(0, v, jurisdiction="210102") for v in (1, 2, 3)]  # its first version fails twice
    others = [lead(n, 1, jurisdiction="210103") for n in (1, 2, 3)]
    m05 = [lead(n, 1, model_id="M05", jurisdiction="220100") for n in (4, 5)]  # only for the broken receiver
    leads = [slow[0], *others, slow[1], *m05, slow[2]]
    receiver = Receiver(slow[0].lead_id, fail_first=2)
    subscriptions = tmp_path / "subscriptions.yaml"
    entries = [("shenyang", "{jurisdictions: ['2101']}"), ("broken", "{models: [M05]}")]
    subscriptions.write_text(
        "subscriptions:\n"
        + "".join(f"  - {{id: {i}, url: '{receiver.url(i)}', secret: {SECRET}, filter: {f}}}\n" for i, f in entries),
        encoding="utf-8",
    )
    port = find_free_port()
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        data_dir=tmp_path / "data",
        metrics_ports=f"webhooks={port}",
        webhook_subscriptions=str(subscriptions),
        webhook_max_attempts=3,
        webhook_backoff_seconds=0.75,
        webhook_backoff_max_seconds=2.0,
    )
    create_topics(settings)
    publish_leads(broker.bootstrap, catalogue_of(settings).leads, leads, partition=0)
    try:
        deliverer = start(started, ["webhooks", "run"], settings, tmp_path / "webhooks.log")
        checks = ready(port, deliverer)
        assert {"broker", "topics", "group", "state"} <= set(checks)
        highest: Counter[str] = Counter()  # the largest backlog seen per subscription

        def finished() -> bool:
            samples = scrape(port)[1]
            for subscription, n in values(samples, "jiandu_webhook_backlog", "subscription").items():
                highest[subscription] = max(highest[subscription], int(n))
            delivered = value(samples, "jiandu_webhook_deliveries_total", subscription="shenyang", outcome="delivered")
            dead = value(samples, "jiandu_webhook_deliveries_total", subscription="broken", outcome="dead_lettered")
            backlog = values(samples, "jiandu_webhook_backlog", "subscription")
            return delivered == 6 and dead == 2 and backlog == {"shenyang": 0, "broken": 0}

        until(finished, deliverer, "every delivery settled", timeout=60)
        text, samples = scrape(port)
        assert deliverer.stop() == 0
    finally:
        receiver.close()

    deliveries = {
        (dict(labels)["subscription"], dict(labels)["outcome"]): v
        for (name, labels), v in samples.items()
        if name == "jiandu_webhook_deliveries_total"
    }
    assert deliveries == {
        ("shenyang", "delivered"): 6,  # 3 versions of the slow lead, 3 other leads
        ("shenyang", "failed"): 2,  # the receiver's forced failures
        ("shenyang", "dead_lettered"): 0,
        ("broken", "delivered"): 0,
        ("broken", "failed"): 4,  # 2 versions x (3 attempts - the last)
        ("broken", "dead_lettered"): 2,
    }
    assert receiver.attempts == {("shenyang", 503): 2, ("shenyang", 204): 6, ("broken", 503): 6}
    assert value(samples, "jiandu_webhook_attempt_seconds_count", subscription="shenyang") == 8
    assert value(samples, "jiandu_webhook_attempt_seconds_count", subscription="broken") == 6
    assert highest["shenyang"] == 3, "the slow lead's three versions waited behind its retries"
    assert 1 <= highest["broken"] <= 2
    assert values(samples, "jiandu_webhook_dead_letters", "subscription") == {"shenyang": 0, "broken": 2}
    assert_private(text, samples, leads)
    assert "/hooks/" not in text and "127.0.0.1" not in text, "no receiver URL in a label"


def _users(path: Path) -> Path:
    hashed = hash_password(PASSWORD)
    path.write_text(
        "users:\n"
        f'  - {{username: wang, name: 王检察官, password_hash: "{hashed}", role: officer, jurisdiction: "2101"}}\n'
        f'  - {{username: li, name: 李检察官, password_hash: "{hashed}", role: officer, jurisdiction: "2102"}}\n',
        encoding="utf-8",
    )
    return path


def _sign_in(client: httpx.Client, username: str, password: str) -> int:
    token = TOKEN.findall(client.get("/login").text)[0]
    return client.post("/login", data={"username": username, "password": password, CSRF_FIELD: token}).status_code


def test_the_archiver_and_the_console_on_postgresql(
    broker: EmbeddedBroker,
    topic_prefix: str,
    tmp_path: Path,
    started: list[HubProcess],
    postgres_server: PostgresServer,
) -> None:
    archive_port, console_metrics_port, console_port = find_free_port(), find_free_port(), find_free_port()
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        data_dir=tmp_path,
        archive_url=postgres_server.database(),
        metrics_ports=f"archive={archive_port},console={console_metrics_port}",
        console_users=str(_users(tmp_path / "users.yaml")),
        console_secret=SECRET,
    )
    create_topics(settings)
    catalogue = catalogue_of(settings)
    jurisdictions = ["210102", "210103"]
    leads = [lead(n, v, jurisdiction=jurisdictions[n % 2]) for v, ns in ((1, range(6)), (2, range(2))) for n in ns]
    publish_leads(broker.bootstrap, catalogue.leads, [*leads, leads[3]])  # the last: one the archive already has
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        action = Action(leads[0].lead_id, "王检察官", "acknowledge", at=1_700_000_000_000)
        publish_action(producer, AvroCodec(), catalogue.outcomes, action)
    finally:
        producer.close()

    archiver = start(started, ["archive", "run"], settings, tmp_path / "archive.log")
    checks = ready(archive_port, archiver)
    assert {"broker", "topics", "group", "database"} <= set(checks)
    expected = {"lead_version": 8, "action": 1}
    until(
        lambda: values(scrape(archive_port)[1], "jiandu_archive_writes_total", "kind") == expected,
        archiver,
        "every version and the action archived",
    )
    time.sleep(1.0)  # the duplicate was read too and is not a write
    archive_text, archive_samples = scrape(archive_port)
    assert values(archive_samples, "jiandu_archive_writes_total", "kind") == expected

    console = start(started, ["console", "--port", str(console_port)], settings, tmp_path / "console.log")
    checks = ready(console_metrics_port, console)
    assert {"broker", "topics", "database", "console"} <= set(checks)
    with httpx.Client(base_url=f"http://127.0.0.1:{console_port}", follow_redirects=False, timeout=10) as wang:
        assert _sign_in(wang, "wang", "wrong password") == 401
        assert _sign_in(wang, "wang", PASSWORD) == 303
    with httpx.Client(base_url=f"http://127.0.0.1:{console_port}", follow_redirects=False, timeout=10) as li:
        assert _sign_in(li, "li", PASSWORD) == 303
        assert li.get(f"/leads/{leads[0].lead_id}").status_code == 404  # a 2101 lead outside li's area: as if missing
        assert li.get("/metrics").status_code == 404, "metrics are not on the officers' port"
    console_text, samples = scrape(console_metrics_port)
    assert values(samples, "jiandu_console_signins_total", "result") == {"ok": 2, "failed": 1}
    assert values(samples, "jiandu_console_denied_total", "reason") == {"scope": 1, "role": 0, "csrf": 0}
    # GET /login x3; a wrong password; two sign-ins; the refused lead and /metrics on the officers' port
    requests = values(samples, "jiandu_console_requests_total", "status_class")
    assert requests == {"2xx": 3, "3xx": 2, "4xx": 3, "5xx": 0}  # every status class exported, from 0
    assert_private(archive_text, archive_samples, leads)
    assert_private(console_text, samples, leads)
    assert console.stop() == 0 and archiver.stop() == 0
    assert f"metrics: http://127.0.0.1:{console_metrics_port}/metrics" in console.output()
    assert f"metrics: http://127.0.0.1:{archive_port}/metrics" in archiver.output()
