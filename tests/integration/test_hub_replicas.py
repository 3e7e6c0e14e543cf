"""Issue 15: three streams workers and three archivers, each a separate process with its own data dir
(as on three hosts), one Kafka cluster and one shared PostgreSQL archive. While records arrive, one
worker and one archiver are killed with SIGKILL and not restarted: the others take their partitions
over. Afterwards the OPEN leads equal the batch evaluator's, and the shared archive holds every lead
at its last published version, no version twice and one raised time per lead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from adapters.jsonl import read_lines
from consumers import read_leads
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.archive import group_id as archive_group
from jiandu.cli.backtest import advance_clock, collide, wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import HubProcess, WorkerProcess
from jiandu.core.leads import Lead
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.models.configuration import build_engine
from jiandu.settings import Settings, kafka_client_config
from streams import BACKTEST
from tests.faults import _METRICS_OFF, _wait_committed, archive_problems, compare_open
from tests.faults import _open as open_without_wall_clock
from tests.pipeline import CONFORMANCE
from tests.postgres import PostgresServer, postgres_server  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

CLOCK_END = to_ms(parse_datetime("2025-03-01T00:00:00+08:00"))
REPLICAS = 3
_CHUNK = 150


class _Survivors:
    """The replicas still meant to run: ``check_alive`` raises if one of them died."""

    def __init__(self, processes: list[HubProcess]) -> None:
        self.processes = processes

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()


@pytest.fixture
def cluster(tmp_path: Path, topic_prefix: str) -> Iterator[Settings]:
    """The Kafka cluster the hosts share (an embedded broker), its topics created."""
    settings = Settings(
        topic_prefix=topic_prefix,
        pseudonym_key="conformance-key",
        data_dir=tmp_path / "broker",
        broker_port=find_free_port(),
        metrics_ports=_METRICS_OFF,
        journal="off",
    )
    broker = EmbeddedBroker(settings.broker_port, log_path=tmp_path / "tansu.log")
    broker.start(timeout=120)
    try:
        create_topics(settings)
        yield settings
    finally:
        broker.stop()


def _host(settings: Settings, tmp_path: Path, n: int) -> Settings:
    return settings.replace(data_dir=tmp_path / f"host{n}")


def _feed(settings: Settings, halfway: threading.Event) -> None:
    lines = [(f"records.jsonl:{n}", line) for n, line in read_lines(CONFORMANCE / "records.jsonl")]
    publisher, intake = new_intake(settings, adapter="replicas", timeout=10.0)
    with publisher:
        for start in range(0, len(lines), _CHUNK):
            for origin, line in lines[start : start + _CHUNK]:
                intake.submit_bytes(line, origin)
            intake.confirm()
            if start >= len(lines) // 3:
                halfway.set()
            time.sleep(0.4)
    halfway.set()


def test_three_workers_and_three_archivers_lose_one_each_and_nothing_else(
    cluster: Settings,
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    archive_url = postgres_server.database()
    hosts = [_host(cluster, tmp_path, n).replace(archive_url=archive_url) for n in range(REPLICAS)]
    workers = [WorkerProcess(host, mode=BACKTEST, log_path=host.data_dir / "worker.log").start() for host in hosts]
    archivers = [
        HubProcess(host, ["archive", "run"], name=f"archiver {n}", log_path=host.data_dir / "archive.log").start()
        for n, host in enumerate(hosts)
    ]
    try:
        halfway = threading.Event()
        feeder = threading.Thread(target=_feed, args=(cluster, halfway), name="feeder", daemon=True)
        feeder.start()
        assert halfway.wait(120)
        workers[0].kill()  # mid-stream, and not restarted: the other hosts take its partitions over
        archivers[1].kill()
        feeder.join(timeout=180)
        assert not feeder.is_alive()

        running = _Survivors([*workers[1:], archivers[0], archivers[2]])
        wait_until_routed(cluster, running, timeout=180, show_progress=False)
        publisher, _ = new_intake(cluster, adapter="ticks")
        with publisher:
            advance_clock(cluster, publisher, CLOCK_END)
        wait_for_clock(cluster, CLOCK_END, running, timeout=180, show_progress=False)

        final = read_leads(kafka_client_config(cluster), catalogue_of(cluster).leads)
        streamed = open_without_wall_clock(final.values())
        batch = open_without_wall_clock(
            collide(build_engine(cluster), cluster, [CONFORMANCE / "records.jsonl"], CLOCK_END)
        )
        assert streamed, "no OPEN lead: the run raised nothing"
        assert compare_open(streamed, batch) is None, compare_open(streamed, batch)

        _wait_committed(cluster, archive_group(cluster), archivers[0], timeout=180)
        assert _archive_problems(archive_url, final) == []
    finally:
        for process in (*archivers, *workers):
            process.stop()


def _archive_problems(url: str, final: dict[str, Lead]) -> list[str]:
    """The shared PostgreSQL archive, checked as the fault injection checks the SQLite one."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows: list[dict[str, Any]] = conn.execute("SELECT * FROM lead_versions ORDER BY lead_id, version").fetchall()
        latest = {r["lead_id"]: r for r in conn.execute("SELECT * FROM leads").fetchall()}
    return archive_problems(rows, latest, final)
