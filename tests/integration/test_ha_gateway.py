"""Three push-gateway replicas (separate processes and data dirs, as on separate hosts) share one PostgreSQL:
the same records pushed to all three at once are accepted exactly once, and every accepted one is on its topic;
a replica killed with SIGKILL mid-stream behind a load balancer loses no record and has none accepted twice."""

from __future__ import annotations

import collections
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.gateway import BATCH_PATH
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of
from jiandu.cli.processes import HubProcess
from jiandu.serde import AvroCodec
from tests.integration.test_gateway import execution, write_agencies
from tests.pipeline import all_messages, settings_for
from tests.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

REPLICAS = 3
RECORDS = 240
BATCH = 40


def _url_of(replica: HubProcess, timeout: float = 40.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replica.check_alive()
        found = re.search(r"gateway: (http://127\.0\.0\.1:\d+)", replica.log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"{replica.name} did not start:\n{replica.log_tail()}")


def _start_replicas(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, shared: str) -> list[HubProcess]:
    return [
        HubProcess(
            settings_for(
                broker.bootstrap,
                topic_prefix,
                data_dir=tmp_path / f"host-{n}",
                gateway_agencies=str(tmp_path / "agencies.yaml"),
                gateway_receipts_url=shared,
                gateway_max_records=BATCH,
            ),
            ["gateway", "--port", "0"],
            name=f"gateway-{n}",
            log_path=tmp_path / f"gateway-{n}.log",
        ).start()
        for n in range(REPLICAS)
    ]


def _event_ids_on_topic(settings: Any) -> list[str]:
    codec = AvroCodec()
    topic = catalogue_of(settings).event_topic("court.execution_filed")
    return [codec.decode(m.split(b"\0", 1)[1])[1]["event_id"] for m in all_messages(settings.bootstrap, [topic])]


def test_replicas_on_a_shared_database_accept_each_record_once(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    tokens = write_agencies(tmp_path / "agencies.yaml")
    replicas = _start_replicas(broker, topic_prefix, tmp_path, postgres_server.database())
    try:
        urls = [_url_of(replica) for replica in replicas]
        records = [execution(f"ha-{i:04d}") for i in range(RECORDS)]
        answers: list[list[dict[str, Any]]] = [[] for _ in urls]
        start = threading.Barrier(len(urls))

        def push_all(n: int) -> None:
            headers = {"Authorization": f"Bearer {tokens['shenyang-court']}"}
            batches = [records[i : i + BATCH] for i in range(0, RECORDS, BATCH)]
            order = batches if n % 2 == 0 else batches[::-1]  # replicas meet the same records at different times
            start.wait()
            with httpx.Client(timeout=30) as client:
                for batch in order:
                    response = client.post(f"{urls[n]}{BATCH_PATH}", json={"records": batch}, headers=headers)
                    assert response.status_code == 200, response.text
                    answers[n].extend(response.json()["results"])

        threads = [threading.Thread(target=push_all, args=(n,)) for n in range(len(urls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for replica in replicas:
            replica.check_alive()
    finally:
        for replica in replicas:
            replica.stop()

    statuses = collections.Counter((r["event_id"], r["status"]) for answered in answers for r in answered)
    accepted = {event_id for (event_id, status), count in statuses.items() if status == "accepted"}
    assert all(len(answered) == RECORDS for answered in answers), "every replica answered every record"
    assert len(accepted) == RECORDS, "every record accepted by one replica"
    assert all(statuses[(event_id, "accepted")] == 1 for event_id in accepted), "none accepted twice"
    assert sum(statuses[(event_id, "duplicate")] for event_id in accepted) == RECORDS * (REPLICAS - 1)
    on_topic = _event_ids_on_topic(replicas[0].settings)
    assert accepted <= set(on_topic), "every accepted record is on its event topic"
    print(f"{RECORDS} records × {REPLICAS} replicas: {len(on_topic)} events on the topic ({len(on_topic) - RECORDS} "
          f"race losers' copies, ignored downstream by event id)")  # fmt: skip


def test_a_replica_killed_mid_stream_behind_a_load_balancer_loses_nothing_and_accepts_nothing_twice(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """An agency's client pushes batches round robin over the replicas, as a load balancer would, and sends
    a batch that got no answer to the next replica. Replica 0 is killed with SIGKILL half-way."""
    tokens = write_agencies(tmp_path / "agencies.yaml")
    replicas = _start_replicas(broker, topic_prefix, tmp_path, postgres_server.database())
    headers = {"Authorization": f"Bearer {tokens['shenyang-court']}"}
    records = [execution(f"kill-{i:04d}") for i in range(RECORDS)]
    batches = [records[i : i + BATCH] for i in range(0, RECORDS, BATCH)]
    final: dict[str, str] = {}  # event id -> the answer the agency kept (the last one it got)
    accepted_answers: collections.Counter[str] = collections.Counter()
    try:
        urls = [_url_of(replica) for replica in replicas]
        alive = list(range(REPLICAS))
        with httpx.Client(timeout=10) as client:
            for n, batch in enumerate(batches):
                if n == len(batches) // 2:
                    replicas[0].kill()
                for attempt in range(2 * REPLICAS):
                    target = alive[(n + attempt) % len(alive)]
                    try:
                        response = client.post(f"{urls[target]}{BATCH_PATH}", json={"records": batch}, headers=headers)
                    except httpx.TransportError:  # the balancer's health check takes the dead replica out
                        alive.remove(target)
                        continue
                    if response.status_code == 503:
                        time.sleep(0.2)
                        continue
                    assert response.status_code == 200, response.text
                    for result in response.json()["results"]:
                        final[result["event_id"]] = result["status"]
                        accepted_answers[result["event_id"]] += result["status"] == "accepted"
                    break
                else:
                    raise AssertionError(f"batch {n} was answered by no replica")
        assert 0 not in alive, "the killed replica was never met"
        for replica in replicas[1:]:
            replica.check_alive()
    finally:
        for replica in replicas:
            replica.stop()

    assert len(final) == RECORDS and set(final.values()) <= {"accepted", "duplicate"}, collections.Counter(
        final.values()
    )
    assert max(accepted_answers.values()) == 1, "a record answered `accepted` twice"
    on_topic = set(_event_ids_on_topic(replicas[1].settings))
    assert set(final) <= on_topic, (
        f"{len(set(final) - on_topic)} records answered accepted or duplicate are not on the topic"
    )
