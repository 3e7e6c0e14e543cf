"""Three replicas of `jiandu alerts` and of `jiandu webhooks run`, as on three hosts, one `kill -9` mid-stream.

Each replica is a process of its own with a data directory of its own (nothing on a host is
shared), in one consumer group on the real broker. The lead topic gets a first version of
every lead; once the group has committed it, later versions arrive while one replica is
killed with SIGKILL; the other two take its partitions over. What a replica remembers per
lead must come with the partition: an escalation after the failover still reaches the topic
of the lead's earlier severity, a version re-emitted after the failover (equal but for its
wall-clock fields) is neither routed nor delivered, every version reaches the webhook
receiver (at most the ones in flight at the kill twice, identical), and `jiandu webhooks
failed`, run with yet another data directory, lists every replica's dead letters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from kafka import TopicPartition

from jiandu.broker import EmbeddedBroker, KafkaConsumer, find_free_port, high_watermarks
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.core.leads import Lead
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.lead_versions import lead_version, publish_leads, reemitted
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]

REPLICAS = 3
HOUR = 3_600_000
SECRET = "replica-test-secret-0123456789abcdef"


class Replica:
    """One `jiandu …` process with its own data directory and metrics port, stopped by its pid."""

    def __init__(self, settings: Settings, args: list[str], data_dir: Path) -> None:
        self.port = find_free_port()
        self.log = data_dir / "replica.log"
        data_dir.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
        metrics = f"{args[0]}={self.port}"
        env.update(settings.replace(data_dir=data_dir, metrics_ports=metrics).to_env())
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jiandu.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def ready(self) -> bool:
        assert self.process.poll() is None, f"replica exited: {self.output()[-3000:]}"
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL, by the pid this test started
        self.process.wait(timeout=10)


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        yield started
    finally:
        for replica in started:
            replica.kill()


def until(condition: Callable[[], bool], what: str, timeout: float = 45, replicas: Sequence[Replica] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}{_log_tails(replicas)}"
        time.sleep(0.1)


def _log_tails(replicas: Sequence[Replica]) -> str:
    """The last lines each replica logged (what its consumer group was doing when a wait timed out)."""
    return "".join(
        f"\n--- replica {n} (exit code {r.process.poll()}):\n" + "\n".join(r.output().splitlines()[-15:])
        for n, r in enumerate(replicas)
    )


def committed_to_end(bootstrap: str, group: str, topic: str) -> Callable[[], bool]:
    """A check: has ``group`` committed every partition of ``topic`` to its end?"""

    def check() -> bool:
        ends = high_watermarks(bootstrap, [topic])
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        try:
            return all((consumer.committed(TopicPartition(t, p)) or 0) >= end for (t, p), end in ends.items())
        finally:
            consumer.close()

    return check


def feed_while(kill: Callable[[], None], bootstrap: str, topic: str, versions: list[Lead]) -> None:
    """Publish ``versions`` in small chunks over a few seconds, calling ``kill`` a third of the way in."""
    chunks = [versions[i : i + 6] for i in range(0, len(versions), 6)]
    for number, chunk in enumerate(chunks):
        if number == len(chunks) // 3:
            kill()
        publish_leads(bootstrap, topic, chunk)
        time.sleep(0.15)


def start_replicas(settings: Settings, args: list[str], root: Path, replicas: list[Replica]) -> None:
    replicas.extend(Replica(settings, args, root / f"host-{n}") for n in range(REPLICAS))
    until(
        lambda: all(r.ready() for r in replicas),
        "every replica joined its group and restored its state",
        replicas=replicas,
    )


def test_alert_routers_hand_over_what_they_remember_when_one_is_killed(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, replicas: list[Replica]
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, session_timeout_seconds=3.0)
    catalogue = catalogue_of(settings)
    create_topics(settings)
    n_leads = 40
    # even leads escalate MEDIUM -> HIGH after the kill, odd ones stay LOW
    first = [lead_version(n, 1, severity="MEDIUM" if n % 2 == 0 else "LOW") for n in range(n_leads)]
    later = [lead_version(n, v, severity="HIGH" if n % 2 == 0 else "LOW") for v in (2, 3) for n in range(n_leads)]
    again = [reemitted(x, HOUR) for x in first]
    start_replicas(settings, ["alerts"], tmp_path, replicas)

    publish_leads(broker.bootstrap, catalogue.leads, first)
    until(
        committed_to_end(broker.bootstrap, f"{topic_prefix}-alerts", catalogue.leads),
        "first versions committed",
        replicas=replicas,
    )
    victim = replicas[0]
    feed_while(victim.kill, broker.bootstrap, catalogue.leads, [*later[:n_leads], *again, *later[n_leads:]])
    until(
        committed_to_end(broker.bootstrap, f"{topic_prefix}-alerts", catalogue.leads),
        "the survivors took over",
        replicas=replicas,
    )
    assert all(r.ready() for r in replicas[1:])

    codec = AvroCodec()
    got = {
        topic: [Lead.from_avro(codec.decode(value)[1]) for _, value in messages]
        for topic, messages in _read(broker.bootstrap, catalogue.alert_topics()).items()
    }

    def on(topic: str) -> dict[str, list[int]]:
        per_lead: dict[str, list[int]] = defaultdict(list)
        for x in got.get(topic, []):
            per_lead[x.lead_id].append(x.updated_at)
        return per_lead

    department, medium, high, low = (
        on(catalogue.department_alerts(first[0].department)),
        *(on(catalogue.severity_alerts(s)) for s in ("MEDIUM", "HIGH", "LOW")),
    )
    times = [lead_version(0, v).updated_at for v in (1, 2, 3)]
    re_emitted = {x.updated_at for x in again}
    duplicates = 0
    for n in range(n_leads):
        lead_id = first[n].lead_id
        routed = department[lead_id]
        assert not re_emitted & set(routed), f"{lead_id}: a re-emitted version was routed after the failover"
        assert list(dict.fromkeys(routed)) == times, f"{lead_id}: every version, in order"
        assert routed.count(times[0]) == 1, f"{lead_id}: a version committed before the kill was routed again"
        duplicates += len(routed) - len(times)
        if n % 2 == 0:  # the escalation after the failover reaches the earlier severity's topic too
            assert list(dict.fromkeys(medium[lead_id])) == times, f"{lead_id} on the MEDIUM topic"
            assert list(dict.fromkeys(high[lead_id])) == times[1:], f"{lead_id} on the HIGH topic"
        else:
            assert list(dict.fromkeys(low[lead_id])) == times and lead_id not in medium, f"{lead_id} on LOW"
    print(f"alert copies routed again after kill -9 (in flight, uncommitted): {duplicates}")
    assert duplicates <= 2 * n_leads


class Receiver:
    """Webhook receiver on 127.0.0.1: ``/hooks/dead`` always answers 503, ``/hooks/all`` 204 after a short wait."""

    def __init__(self) -> None:
        self.delivered: Counter[tuple[str, int, str]] = Counter()  # (lead_id, updated_at, delivery id)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.path.endswith("/all")
                if ok:
                    time.sleep(0.03)  # requests in flight when a replica dies
                    lead = json.loads(body)
                    with receiver.lock:
                        key = (lead["lead_id"], lead["updated_at"], self.headers["X-Jiandu-Delivery"])
                        receiver.delivered[key] += 1
                try:
                    self.send_response(204 if ok else 503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{path}"


def test_webhook_deliverers_hand_over_sent_versions_and_share_dead_letters_when_one_is_killed(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, replicas: list[Replica]
) -> None:
    receiver = Receiver()
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(
        "subscriptions:\n"
        f"  - id: all\n    url: {receiver.url('all')}\n    secret: {SECRET}\n"
        f"  - id: dead\n    url: {receiver.url('dead')}\n    secret: {SECRET}\n    filter: {{models: [M09]}}\n",
        encoding="utf-8",
    )
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        session_timeout_seconds=3.0,
        webhook_subscriptions=str(subscriptions),
        webhook_max_attempts=2,
        webhook_backoff_seconds=0.05,
        webhook_backoff_max_seconds=0.1,
    )
    catalogue = catalogue_of(settings)
    create_topics(settings)
    n_leads = 32
    first = [lead_version(n, 1) for n in range(n_leads)]
    later = [lead_version(n, v) for v in (2, 3) for n in range(n_leads)]
    again = [reemitted(x, HOUR) for x in first]
    doomed = [lead_version(100 + n, 1, model_id="M09") for n in range(8)]  # on every partition, most likely
    start_replicas(settings, ["webhooks"], tmp_path, replicas)

    publish_leads(broker.bootstrap, catalogue.leads, [*first, *doomed])
    group = f"{topic_prefix}-webhooks"
    until(
        committed_to_end(broker.bootstrap, group, catalogue.leads),
        "first versions delivered or dead-lettered",
        replicas=replicas,
    )
    # the victim: a replica that dead-lettered something (its dead letters must outlive it)
    victim = next((r for r in replicas if "dead-lettered after" in r.output()), replicas[0])
    feed_while(victim.kill, broker.bootstrap, catalogue.leads, [*later[:n_leads], *again, *later[n_leads:]])
    until(
        committed_to_end(broker.bootstrap, group, catalogue.leads),
        "the survivors took over",
        timeout=120,
        replicas=replicas,
    )

    with receiver.lock:
        delivered = Counter(receiver.delivered)
    per_version: dict[tuple[str, int], list[str]] = defaultdict(list)
    for (lead_id, updated_at, delivery_id), count in delivered.items():
        per_version[(lead_id, updated_at)].extend([delivery_id] * count)
    expected = {(x.lead_id, x.to_json()["updated_at"]) for x in [*first, *later, *doomed]}
    got = {(lead_id, updated_at) for lead_id, updated_at, _ in delivered}
    re_emitted = {(x.lead_id, x.to_json()["updated_at"]) for x in again}
    assert got >= expected, f"never delivered: {sorted(expected - got)[:5]}"
    assert not got & re_emitted, "a version re-emitted after the failover was delivered"
    assert got == expected
    twice = {version: ids for version, ids in per_version.items() if len(ids) > 1}
    assert all(len(ids) == 2 and len(set(ids)) == 1 for ids in twice.values()), "sent again: once more, identical"
    committed_before_kill = first[0].to_json()["updated_at"]
    assert not [v for v in twice if v[1] == committed_before_kill], "a version committed before the kill, sent again"
    print(f"webhook versions sent twice after kill -9 (in flight at the kill): {len(twice)} of {len(expected)}")

    elsewhere = tmp_path / "another-host"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(settings.replace(data_dir=elsewhere).to_env())
    listing = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "webhooks", "failed", "--subscription", "dead"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"{len(doomed)} failed deliveries" in listing.stdout, listing.stdout
    assert all(x.lead_id in listing.stdout for x in doomed)


def _read(bootstrap: str, topics: list[str]) -> dict[str, list[tuple[bytes, bytes]]]:
    """(key, value) of every message per topic, in offset order per partition."""
    ends = high_watermarks(bootstrap, topics)
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    out: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            for tp, records in consumer.poll(timeout_ms=500).items():
                out[tp.topic].extend((r.key, r.value) for r in records)
    finally:
        consumer.close()
    return out
