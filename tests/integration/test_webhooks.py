"""`jiandu webhooks` against the real broker and a real HTTP receiver on 127.0.0.1.

The receiver verifies every signature and can fail on purpose: the first K
attempts of one lead, or everything until it is healed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
)
from jiandu.broker import EmbeddedBroker, high_watermarks
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.cli.webhooks import store_path
from jiandu.core.leads import Lead
from jiandu.settings import Settings, kafka_client_config
from tests.lead_versions import lead_version, publish_leads
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


@dataclass
class Receiver:
    """What a threading http.server saw: every attempt, in arrival order; bad signatures counted."""

    port: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    bad_signatures: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)  # lead_id -> attempts to fail
    always_fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, subscription: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{subscription}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            if not verify_signature(SECRET, headers, body):
                self.bad_signatures += 1
                return 401
            lead = json.loads(body)
            ok = not self.always_fail and self.fail_first.get(lead["lead_id"], 0) <= 0
            if not ok and lead["lead_id"] in self.fail_first:
                self.fail_first[lead["lead_id"]] -= 1
            attempt = Attempt(
                path.rsplit("/", 1)[-1],
                lead["lead_id"],
                lead["updated_at"],
                headers["X-Jiandu-Delivery"],
                ok,
                time.monotonic(),
            )
            self.attempts.append(attempt)
            return 204 if ok else 503

    def delivered(self, subscription: str | None = None) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if a.ok and subscription in (None, a.subscription)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(state.handle(self.path, dict(self.headers.items()), body))
            self.send_header("Content-Length", "0")
            self.end_headers()

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
    with FailedDeliveryStore(tmp_path / "failed.sqlite") as store:
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


def test_retries_keep_each_leads_versions_in_order_without_blocking_other_leads(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, receiver: Receiver
) -> None:
    slow = [lead_version(0, v) for v in (1, 2, 3)]
    others = [lead_version(n, 1) for n in range(1, 6)]
    settings = setup(broker, topic_prefix, tmp_path, [slow[0], *others[:2], slow[1], *others[2:], slow[2]])
    receiver.fail_first[slow[0].lead_id] = 3  # waits 0.2 + 0.4 + 0.8 s before the first version gets through
    with FailedDeliveryStore(tmp_path / "failed.sqlite") as store:
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
    group = f"{topic_prefix}-webhooks"
    with FailedDeliveryStore(store_path(settings, group)) as store:
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
    env.update(settings.replace(webhook_subscriptions=str(subs_file)).to_env())
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
    with FailedDeliveryStore(store_path(settings, group)) as store:
        assert store.failed() == []
