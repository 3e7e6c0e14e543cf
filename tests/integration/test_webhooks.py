"""`jiandu webhooks` against the real broker and a real HTTP receiver on 127.0.0.1.

The receiver verifies every signature and can fail on purpose: the first K
attempts of one lead, scripted answers (429 / 503 with ``Retry-After``), or
everything until it is healed; it can answer slowly, to catch requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from consumers._group import GroupOptions
from consumers.webhooks import (
    FailedDeliveryStore,
    LeadFilter,
    RetryPolicy,
    Subscription,
    WebhookDeliverer,
    verify_signature,
    webhook_group,
)
from jiandu.broker import EmbeddedBroker, high_watermarks
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.core.leads import Lead
from jiandu.settings import Settings, kafka_client_config
from tests.lead_versions import lead_version, publish_leads, reemitted
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

SECRET = "test-secret-0123456789abcdef"


@dataclass
class Attempt:
    subscription: str
    lead_id: str
    updated_at: str
    delivery_id: str
    ok: bool
    at: float
    run: int = 1


#: An answer to script: the status and, when not None, the Retry-After header (made when answering).
Scripted = tuple[int, Callable[[], str] | None]


@dataclass
class Receiver:
    """What a threading http.server saw: every attempt, in arrival order; bad signatures counted.

    An attempt is recorded when it arrives, before the answer: one in flight when its sender dies
    counts as received (the sender never learnt it was).
    """

    port: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    bad_signatures: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)  # lead_id -> attempts to fail
    script: dict[str, list[Scripted]] = field(default_factory=dict)  # lead_id -> its first answers
    always_fail: bool = False
    delay_seconds: float = 0.0  # before answering
    run: int = 1  # stamped on each attempt: which run of a restarted deliverer sent it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, subscription: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{subscription}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        with self.lock:
            if not verify_signature(SECRET, headers, body):
                self.bad_signatures += 1
                return 401, {}
            lead = json.loads(body)
            status, answer_headers = self._answer(lead["lead_id"])
            attempt = Attempt(
                path.rsplit("/", 1)[-1],
                lead["lead_id"],
                lead["updated_at"],
                headers["X-Jiandu-Delivery"],
                status == 204,
                time.monotonic(),
                self.run,
            )
            self.attempts.append(attempt)
        time.sleep(self.delay_seconds)
        return status, answer_headers

    def _answer(self, lead_id: str) -> tuple[int, dict[str, str]]:
        if self.script.get(lead_id):
            status, retry_after = self.script[lead_id].pop(0)
            return status, ({} if retry_after is None else {"Retry-After": retry_after()})
        ok = not self.always_fail and self.fail_first.get(lead_id, 0) <= 0
        if not ok and lead_id in self.fail_first:
            self.fail_first[lead_id] -= 1
        return (204 if ok else 503), {}

    def delivered(self, subscription: str | None = None) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if a.ok and subscription in (None, a.subscription)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, headers = state.handle(self.path, dict(self.headers.items()), body)
            try:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the deliverer was killed while we answered

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def subscription(receiver: Receiver, sub_id: str, **criteria: tuple[str, ...]) -> Subscription:
    return Subscription(sub_id, receiver.url(sub_id), SECRET, LeadFilter(**criteria))


def deliver_until(
    settings: Settings,
    subscriptions: list[Subscription],
    store: FailedDeliveryStore,
    done: Callable[[WebhookDeliverer], bool],
    *,
    policy: RetryPolicy,
    timeout: float = 40,
) -> WebhookDeliverer:
    """Run a deliverer in a thread until ``done`` and every lead-topic partition is committed to its end."""
    catalogue = catalogue_of(settings)
    deliverer = WebhookDeliverer(
        kafka_client_config(settings), catalogue, subscriptions, store, policy=policy, options=GroupOptions(6.0, 20)
    )
    ends = {tp: end for tp, end in high_watermarks(settings.bootstrap, [catalogue.leads]).items() if end > 0}
    stop = threading.Event()
    thread = threading.Thread(target=asyncio.run, args=(deliverer.run(stop.is_set),), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            committed = {(tp.topic, tp.partition): offset for tp, offset in deliverer.committed.items()}
            if done(deliverer) and all(committed.get(tp) == end for tp, end in ends.items()):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"deliverer did not finish: {deliverer.counts}, committed {deliverer.committed}")
    finally:
        stop.set()
        thread.join(timeout=15)
    return deliverer


def dead_letters(settings: Settings) -> FailedDeliveryStore:
    """The default group's webhook dead letters (on their topic)."""
    catalogue = catalogue_of(settings)
    return FailedDeliveryStore(kafka_client_config(settings), catalogue.webhook_dead_letters, webhook_group(catalogue))


def setup(broker: EmbeddedBroker, prefix: str, tmp_path: Path, leads: list[Lead], **changes: object) -> Settings:
    settings = settings_for(broker.bootstrap, prefix, data_dir=tmp_path / "data", **changes)
    create_topics(settings)
    publish_leads(broker.bootstrap, catalogue_of(settings).leads, leads, partition=0)
    return settings


def test_filters_select_leads_and_every_signature_verifies(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    leads = [
        lead_version(1, 1, "刑事执行检察", "HIGH", jurisdiction="210102"),
        lead_version(2, 1, "刑事执行检察", "LOW", jurisdiction="210102"),
        lead_version(3, 1, "刑事执行检察", "HIGH", jurisdiction="220100"),
        lead_version(4, 1, "民事检察", "HIGH", jurisdiction="210103", model_id="M08"),
        lead_version(1, 2, "刑事执行检察", "HIGH", jurisdiction="210102", status="RESOLVED"),
    ]
    settings = setup(broker, topic_prefix, tmp_path, leads)
    subs = [
        subscription(
            receiver, "shenyang-high", departments=("刑事执行检察",), jurisdictions=("2101",), severities=("HIGH",)
        ),
        subscription(receiver, "open-m08", models=("M08",), statuses=("OPEN",)),
        subscription(receiver, "everything"),
    ]
    with dead_letters(settings) as store:
        deliver_until(
            settings, subs, store, lambda d: d.counts.delivered == 2 + 1 + 5, policy=RetryPolicy(3, 0.05, 0.1)
        )

    assert receiver.bad_signatures == 0
    assert [(a.lead_id, a.updated_at) for a in receiver.delivered("shenyang-high")] == [
        (leads[0].lead_id, leads[0].to_json()["updated_at"]),
        (leads[4].lead_id, leads[4].to_json()["updated_at"]),
    ]
    assert [a.lead_id for a in receiver.delivered("open-m08")] == [leads[3].lead_id]
    assert len(receiver.delivered("everything")) == len(leads)
    assert len({a.delivery_id for a in receiver.attempts}) == len(
        receiver.attempts
    )  # one id per (subscription, version)


def test_re_emitted_versions_are_not_delivered_again(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Reprocessing re-emits versions that differ only in wall-clock fields, or move a lead back: none is sent."""
    raised, resolved = lead_version(1, 1), lead_version(1, 2, status="RESOLVED")
    hour = 3_600_000
    settings = setup(broker, topic_prefix, tmp_path, [raised, resolved])
    subs = [subscription(receiver, "everything"), subscription(receiver, "open", statuses=("OPEN",))]
    with dead_letters(settings) as store:
        deliver_until(settings, subs, store, lambda d: d.counts.delivered == 3, policy=RetryPolicy(3, 0.05, 0.1))
        again = [reemitted(raised, hour), reemitted(resolved, hour), reemitted(raised, 2 * hour)]
        publish_leads(broker.bootstrap, catalogue_of(settings).leads, again, partition=0)
        deliverer = deliver_until(
            settings, subs, store, lambda d: d.counts.repeats == 5, policy=RetryPolicy(3, 0.05, 0.1)
        )
    assert deliverer.counts.delivered == 0
    assert sorted((a.subscription, a.updated_at) for a in receiver.delivered()) == [
        ("everything", raised.to_json()["updated_at"]),
        ("everything", resolved.to_json()["updated_at"]),
        ("open", raised.to_json()["updated_at"]),
    ]
    assert len(receiver.delivered()) == 3


def test_retries_keep_each_leads_versions_in_order_without_blocking_other_leads(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    slow = [lead_version(0, v) for v in (1, 2, 3)]
    others = [lead_version(n, 1) for n in range(1, 6)]
    settings = setup(broker, topic_prefix, tmp_path, [slow[0], *others[:2], slow[1], *others[2:], slow[2]])
    receiver.fail_first[slow[0].lead_id] = 3  # waits 0.2 + 0.4 + 0.8 s before the first version gets through
    with dead_letters(settings) as store:
        deliverer = deliver_until(
            settings,
            [subscription(receiver, "all")],
            store,
            lambda d: d.counts.delivered == 8,
            policy=RetryPolicy(5, 0.2, 5),
        )
    assert deliverer.counts.dead_lettered == 0 and receiver.bad_signatures == 0
    slow_attempts = [(a.updated_at, a.ok) for a in receiver.attempts if a.lead_id == slow[0].lead_id]
    v1, v2, v3 = (x.to_json()["updated_at"] for x in slow)
    assert slow_attempts == [(v1, False)] * 3 + [(v1, True), (v2, True), (v3, True)]
    first_slow_success = next(a.at for a in receiver.delivered() if a.lead_id == slow[0].lead_id)
    assert all(a.at < first_slow_success for a in receiver.delivered() if a.lead_id != slow[0].lead_id)
    assert {a.lead_id for a in receiver.delivered()} == {x.lead_id for x in slow + others}


def test_dead_letters_after_max_attempts_then_redeliver_succeeds(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    leads = [lead_version(0, 1), lead_version(1, 1), lead_version(0, 2)]
    settings = setup(broker, topic_prefix, tmp_path, leads, webhook_max_attempts=3)
    receiver.always_fail = True
    subs = [subscription(receiver, "ops")]
    with dead_letters(settings) as store:
        deliver_until(settings, subs, store, lambda d: d.counts.dead_lettered == 3, policy=RetryPolicy(3, 0.05, 0.1))
        failed = store.failed()
    assert [(f.lead_id, f.version, f.attempts, f.last_error) for f in failed] == [
        (leads[0].lead_id, leads[0].updated_at, 3, "HTTP 503"),
        (leads[2].lead_id, leads[2].updated_at, 3, "HTTP 503"),
        (leads[1].lead_id, leads[1].updated_at, 3, "HTTP 503"),
    ]
    lead0 = [a.updated_at for a in receiver.attempts if a.lead_id == leads[0].lead_id]
    assert lead0 == [leads[0].to_json()["updated_at"]] * 3 + [leads[2].to_json()["updated_at"]] * 3

    receiver.always_fail = False
    subs_file = tmp_path / "subscriptions.yaml"
    subs_file.write_text(
        f"subscriptions:\n  - id: ops\n    url: {receiver.url('ops')}\n    secret: {SECRET}\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    # the child drops the session's JIANDU_* variables: its metrics port (default 9465) would collide
    env.update(settings.replace(webhook_subscriptions=str(subs_file), metrics_ports="webhooks=0").to_env())
    result = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "webhooks", "redeliver"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "redelivered 3" in result.stdout
    redelivered = [(a.lead_id, a.updated_at) for a in receiver.delivered()]
    assert redelivered == [(x.lead_id, x.to_json()["updated_at"]) for x in (leads[0], leads[2], leads[1])]
    assert receiver.bad_signatures == 0
    with dead_letters(settings) as store:
        assert store.failed() == []


def test_retry_after_on_429_and_503_delays_the_next_attempt_instead_of_the_backoff(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    leads = [lead_version(n, 1) for n in range(4)]
    settings = setup(broker, topic_prefix, tmp_path, leads)
    receiver.script = {
        leads[0].lead_id: [(429, lambda: "2")],
        leads[1].lead_id: [(503, lambda: formatdate(time.time() + 3, usegmt=True))],  # whole seconds: >= 2 s away
        leads[2].lead_id: [(503, None)],  # no Retry-After: the backoff (0.05 s)
        leads[3].lead_id: [(429, lambda: "3600")],  # capped at 5 x the longest backoff: 5 s
    }
    with dead_letters(settings) as store:
        deliverer = deliver_until(
            settings,
            [subscription(receiver, "all")],
            store,
            lambda d: d.counts.delivered == 4,
            policy=RetryPolicy(3, 0.05, 1.0),
        )
    assert deliverer.counts.dead_lettered == 0 and receiver.bad_signatures == 0
    gaps = {}
    for lead in leads:
        first, second = (a for a in receiver.attempts if a.lead_id == lead.lead_id)
        assert (first.ok, second.ok) == (False, True)
        gaps[lead.lead_id] = second.at - first.at
    assert gaps[leads[0].lead_id] >= 2.0, "Retry-After: 2 on a 429"
    assert gaps[leads[1].lead_id] >= 2.0, "Retry-After as an HTTP date on a 503"
    assert gaps[leads[2].lead_id] < 1.0, "no Retry-After: the backoff"
    assert 5.0 <= gaps[leads[3].lead_id] < 8.0, "Retry-After beyond the cap: the cap"


def _by_run(attempts: list[Attempt]) -> dict[int, dict[str, list[str]]]:
    """Delivered versions (updated_at) per run, per lead, in arrival order."""
    runs: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for a in attempts:
        if a.ok:
            runs[a.run][a.lead_id].append(a.updated_at)
    return runs


def _start_deliverer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jiandu.cli", "webhooks", "run"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the deliverer exited: {log.read_text(errors='replace')[-3000:]}"
        assert time.monotonic() < deadline, f"timed out: {log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.01)


@pytest.mark.timeout(180)
def test_kill_9_mid_stream_then_restart_delivers_every_version_in_order_with_at_most_the_in_flight_again(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    """`jiandu webhooks run` killed with SIGKILL mid-stream and started again: every version of every lead
    arrives, in order per lead within each run, and the restarted run sends again only what was in flight
    (sent, not yet answered or not yet recorded as settled): at most one version per lead, its last one."""
    n_leads, n_versions = 8, 25
    leads = [lead_version(n, v) for v in range(1, n_versions + 1) for n in range(n_leads)]
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    create_topics(settings)
    publish_leads(broker.bootstrap, catalogue_of(settings).leads, leads)  # keyed by lead: 4 partitions
    expected = defaultdict(list)
    for lead in leads:
        expected[lead.lead_id].append(lead.to_json()["updated_at"])
    subs_file = tmp_path / "subscriptions.yaml"
    subs_file.write_text(
        f"subscriptions:\n  - id: crash\n    url: {receiver.url('crash')}\n    secret: {SECRET}\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    # the child drops the session's JIANDU_* variables: its metrics port (default 9465) would collide
    env.update(settings.replace(webhook_subscriptions=str(subs_file), metrics_ports="webhooks=0").to_env())
    receiver.delay_seconds = 0.1  # each lane has a request in flight most of the time
    log = tmp_path / "webhooks.log"

    first = _start_deliverer(env, log)
    try:
        _wait_for(lambda: len(receiver.delivered()) >= 60, first, log, timeout=60)
    finally:
        first.kill()  # SIGKILL, by the pid this test started
        first.wait(timeout=10)
    time.sleep(0.3)  # requests already received finish being recorded as run 1
    with receiver.lock:
        receiver.run = 2
    delivered_in_run_1 = len(receiver.delivered())
    assert delivered_in_run_1 < len(leads), "killed mid-stream"

    second = _start_deliverer(env, log)
    try:
        everything = {(lead.lead_id, lead.to_json()["updated_at"]) for lead in leads}
        _wait_for(lambda: {(a.lead_id, a.updated_at) for a in receiver.delivered()} >= everything, second, log, 90)
        time.sleep(0.5)  # anything more it would send
    finally:
        second.terminate()  # SIGTERM: commits and leaves the group
        assert second.wait(timeout=30) == 0, log.read_text(errors="replace")[-3000:]

    assert receiver.bad_signatures == 0
    runs = _by_run(receiver.attempts)
    duplicates = 0
    for lead_id, versions in expected.items():
        before, after = runs[1][lead_id], runs[2][lead_id]
        assert before == versions[: len(before)], f"{lead_id}: run 1 delivered a prefix, in order"
        resumed_at = len(versions) - len(after)
        assert after == versions[resumed_at:], f"{lead_id}: run 2 delivered the rest, in order"
        assert resumed_at >= len(before) - 1, f"{lead_id}: run 2 sent again more than the one in flight"
        duplicates += len(before) - resumed_at
    print(
        f"delivered {delivered_in_run_1} before kill -9; sent again after the restart: {duplicates} (bound {n_leads})"
    )
    assert duplicates <= n_leads
