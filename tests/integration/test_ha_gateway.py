"""Three push-gateway replicas (separate processes and data dirs, as on separate hosts) share one PostgreSQL:
the same records pushed to all three at once are accepted exactly once, and every accepted one is on its topic."""

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
from tests.unit.consumers.test_archive_pg import PostgresServer, postgres_server

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


def test_replicas_on_a_shared_database_accept_each_record_once(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    tokens = write_agencies(tmp_path / "agencies.yaml")
    shared = postgres_server.database()
    replicas = [
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
    settings = replicas[0].settings
    codec = AvroCodec()
    topic = catalogue_of(settings).event_topic("court.execution_filed")
    on_topic = [codec.decode(m.split(b"\0", 1)[1])[1]["event_id"] for m in all_messages(settings.bootstrap, [topic])]
    assert accepted <= set(on_topic), "every accepted record is on its event topic"
    print(f"{RECORDS} records × {REPLICAS} replicas: {len(on_topic)} events on the topic ({len(on_topic) - RECORDS} "
          f"race losers' copies, ignored downstream by event id)")  # fmt: skip
