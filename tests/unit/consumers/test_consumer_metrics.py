"""The consumers' metrics and readiness pieces in plain values: webhook attempts, backlog and dead letters,
archive writes, group membership and the database probes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from kafka import TopicPartition
from prometheus_client import REGISTRY

from consumers._group import GroupMembership
from consumers.archive import Action
from consumers.archive.archiver import store_messages
from consumers.archive.probe import ArchiveProbe
from consumers.archive.store import SqliteArchive
from consumers.webhooks import Delivery, FailedDeliveryStore, RetryPolicy, Subscription
from consumers.webhooks.delivery import deliver
from consumers.webhooks.metrics import Backlog, DeadLetterGauge, outcome_of
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.serde import AvroCodec
from jiandu.settings import kafka_client_config
from tests.lead_versions import lead_version
from tests.pipeline import settings_for

SECRET = "s" * 32


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_attempts_outcome_is_delivered_failed_until_the_last_then_dead_lettered() -> None:
    assert outcome_of(None, last=False) == outcome_of(None, last=True) == "delivered"
    assert outcome_of("HTTP 503", last=False) == "failed"
    assert outcome_of("HTTP 503", last=True) == "dead_lettered"


def test_deliver_counts_and_times_every_attempt_and_reports_each_retry() -> None:
    answers = iter([503, 500, 204, 503, 503])
    transport = httpx.MockTransport(lambda request: httpx.Response(next(answers)))
    sub = Subscription("unit-attempts", "http://127.0.0.1:9/hook", SECRET)
    policy = RetryPolicy(3, 0.0, 0.0)
    retries: list[int] = []

    async def run() -> list[tuple[int, str | None]]:
        async with httpx.AsyncClient(transport=transport) as client:
            first = await deliver(client, Delivery.of(sub, lead_version(1, 1)), policy, lambda: retries.append(1))
            second = await deliver(client, Delivery.of(sub, lead_version(2, 1)), RetryPolicy(2, 0.0, 0.0))
            return [first, second]

    assert asyncio.run(run()) == [(3, None), (2, "HTTP 503")]
    assert len(retries) == 2
    counted = {
        o: sample("jiandu_webhook_deliveries_total", subscription=sub.id, outcome=o)
        for o in ("delivered", "failed", "dead_lettered")
    }
    assert counted == {"delivered": 1, "failed": 3, "dead_lettered": 1}
    assert sample("jiandu_webhook_attempt_seconds_count", subscription=sub.id) == 5


def test_the_backlog_counts_the_lanes_behind_a_failing_delivery_and_returns_to_zero() -> None:
    backlog = Backlog(["unit-backlog", "unit-idle"])
    gauge = lambda s: sample("jiandu_webhook_backlog", subscription=s)  # noqa: E731
    assert gauge("unit-backlog") == gauge("unit-idle") == 0
    a, b = ("unit-backlog", "lead-a"), ("unit-backlog", "lead-b")
    backlog.queued(a)  # a healthy lane: nothing waits because of a failure
    assert gauge("unit-backlog") == 0
    backlog.retrying(a, 2)  # its head failed, one version behind it
    backlog.retrying(a, 2)  # a second failure of the same delivery changes nothing
    backlog.queued(a)
    backlog.retrying(b, 1)
    assert gauge("unit-backlog") == 4 and backlog.waiting("unit-backlog") == 4
    backlog.settled(a, 3)  # the retried head settled: the rest is no longer behind a retry
    assert gauge("unit-backlog") == 1
    backlog.settled(a, 2)
    backlog.settled(b, 1)
    assert gauge("unit-backlog") == 0
    backlog.retrying(b, 5)
    backlog.clear()
    assert gauge("unit-backlog") == 0 and gauge("unit-idle") == 0


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_the_dead_letter_gauge_follows_the_store(broker: EmbeddedBroker, topic_prefix: str) -> None:
    sub = Subscription("unit-dead", "http://127.0.0.1:9/hook", SECRET)
    settings = settings_for(broker.bootstrap, topic_prefix)
    create_topics(settings)
    topic = catalogue_of(settings).webhook_dead_letters
    with FailedDeliveryStore(kafka_client_config(settings), topic, "group") as store:
        gauge = DeadLetterGauge(store, [sub.id, "unit-quiet"])
        assert gauge.refresh() == {"unit-dead": 0, "unit-quiet": 0}
        failures = [Delivery.of(sub, lead_version(n, 1)).failed(3, "HTTP 503") for n in range(3)]
        for failed in failures:
            store.add(failed)
        gone = Delivery.of(Subscription("unit-removed", sub.url, SECRET), lead_version(9, 1)).failed(1, "HTTP 500")
        store.add(gone)
        assert gauge.refresh() == {"unit-dead": 3, "unit-quiet": 0, "unit-removed": 1}
        assert sample("jiandu_webhook_dead_letters", subscription="unit-dead") == 3
        with FailedDeliveryStore(kafka_client_config(settings), topic, "group") as elsewhere:
            elsewhere.remove(failures[0])
            elsewhere.remove(gone)  # redelivered by another process: shown as 0, not left at its old value
        assert gauge.refresh() == {"unit-dead": 2, "unit-quiet": 0, "unit-removed": 0}
        assert sample("jiandu_webhook_dead_letters", subscription="unit-removed") == 0


def test_group_membership_is_ready_once_joined() -> None:
    membership = GroupMembership("t-alerts")
    assert membership.problem() == "consumer group t-alerts: not joined yet (no partitions assigned)"
    parts = {TopicPartition("leads", p) for p in range(4)}
    membership.on_partitions_revoked(set())
    membership.on_partitions_assigned(parts)
    assert membership.problem() is None and membership.partitions == 4
    membership.on_partitions_revoked(parts)
    membership.on_partitions_assigned(set())  # a member without partitions has joined too
    assert membership.problem() is None and membership.partitions == 0


def test_store_messages_counts_the_rows_written_by_kind(tmp_path: Path) -> None:
    codec = AvroCodec()
    leads = [lead_version(n, 1) for n in range(3)]
    action = Action(leads[0].lead_id, "王检察官", "acknowledge", at=1_700_000_000_000)
    messages = [
        SimpleNamespace(topic="leads", partition=0, offset=i, value=codec.encode("lead", lead.to_avro()))
        for i, lead in enumerate([*leads, leads[1]])  # the last one the archive already has
    ]
    messages.append(
        SimpleNamespace(topic="outcomes", partition=0, offset=0, value=codec.encode("action", action.row()))
    )
    before = {k: sample("jiandu_archive_writes_total", kind=k) for k in ("lead_version", "action")}
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    try:
        progress = store_messages(archive, codec, messages)
        store_messages(archive, codec, messages[-1:])  # the action again: not a write
    finally:
        archive.close()
    assert (progress.versions, progress.actions, progress.duplicates) == (3, 1, 1)
    after = {k: sample("jiandu_archive_writes_total", kind=k) - before[k] for k in before}
    assert after == {"lead_version": 3, "action": 1}


def test_the_archive_probe_answers_for_sqlite_and_hides_a_postgresql_password(tmp_path: Path) -> None:
    missing = ArchiveProbe("", tmp_path / "nowhere")
    problem = missing.problem()
    assert problem is not None and problem.startswith("the sqlite archive does not answer")
    assert not (tmp_path / "nowhere").exists()
    SqliteArchive(tmp_path / "data" / "archive.sqlite3").close()
    present = ArchiveProbe("", tmp_path / "data")
    assert present.problem() is None and present.problem() is None
    present.close()
    assert ArchiveProbe(f"sqlite:///{tmp_path / 'data' / 'archive.sqlite3'}", tmp_path).problem() is None

    unreachable = ArchiveProbe("postgresql://jiandu:hunter2-secret@127.0.0.1:1/jiandu", tmp_path)
    problem = unreachable.problem()
    assert problem is not None and problem.startswith("the postgresql archive does not answer")
    assert "hunter2-secret" not in problem


@pytest.mark.parametrize(
    "url", ["postgresql://u:pw-in-a-bad-url@[::1/x", "postgresql://u:pw-in-a-bad-url@h:notaport/x"]
)
def test_a_malformed_archive_url_never_reaches_the_probes_answer(url: str, tmp_path: Path) -> None:
    problem = ArchiveProbe(url, tmp_path).problem()
    assert problem is not None and "pw-in-a-bad-url" not in problem
