"""The archiver against the real embedded broker, on SQLite and PostgreSQL: consume, commit, rebuild, CLI."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from consumers.archive import Action, ArchiveProgress, archive_stream, publish_action, rebuild
from consumers.archive.store import PostgresArchive, SqliteArchive
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.cli.main import main
from jiandu.core.leads import Lead
from jiandu.serde import AvroCodec
from tests.pipeline import settings_for
from tests.postgres import PostgresServer, postgres_server
from tests.unit.consumers.test_archive_store import make_lead

__all__ = ["postgres_server"]

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

Archive = SqliteArchive | PostgresArchive


@pytest.fixture(params=["sqlite", "postgresql"])
def new_archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes JIANDU_ARCHIVE_URLs of empty archives on each backend."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path / uuid.uuid4().hex}.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.database


@pytest.fixture
def archive_url(new_archive_url: Callable[[], str]) -> str:
    """The URL of an empty archive."""
    return new_archive_url()


def _open(url: str) -> Archive:
    return SqliteArchive(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else PostgresArchive(url)


@pytest.fixture
def archive(archive_url: str) -> Iterator[Archive]:
    store = _open(archive_url)
    try:
        yield store
    finally:
        store.close()


def _publish(bootstrap: str, topic: str, leads: list[Lead]) -> None:
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for lead in leads:
            producer.send(topic, key=lead.lead_id.encode(), value=codec.encode("lead", lead.to_avro()))
        producer.flush(timeout=30)
    finally:
        producer.close()


def _until(condition: Callable[[], bool], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


class _Archiver:
    """archive_stream in a thread, stopped by an event."""

    def __init__(self, archive: Archive, bootstrap: str, topics: list[str], group: str) -> None:
        self.stop = threading.Event()
        self.total = ArchiveProgress()
        config = {"bootstrap_servers": [bootstrap]}
        self.thread = threading.Thread(
            target=archive_stream,
            args=(archive, config, topics, group),
            kwargs={"should_stop": self.stop.is_set, "on_batch": self.total.add},
            daemon=True,
        )

    def __enter__(self) -> _Archiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def _leads() -> list[Lead]:
    first = [make_lead(f"M02-{i}", raised_at=make_lead().raised_at + i) for i in range(20)]
    resolved = dataclasses.replace(first[0], status="RESOLVED", updated_at=first[0].updated_at + 5_000)
    return [*first, first[1], resolved]  # a republished identical version, and a new version


def test_the_archiver_stores_versions_and_actions_and_commits_after_the_db(
    broker: EmbeddedBroker, topic_prefix: str, archive: Archive, new_archive_url: Callable[[], str]
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, partitions=2)
    create_topics(settings)
    catalogue = catalogue_of(settings)
    topics = [catalogue.leads, catalogue.outcomes]
    _publish(broker.bootstrap, catalogue.leads, _leads())
    action = Action("M02-0", "王检察官", "outcome", at=1_700_000_000_000, outcome="检察建议")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    publish_action(producer, AvroCodec(), catalogue.outcomes, action)
    producer.close()

    with _Archiver(archive, broker.bootstrap, topics, f"{topic_prefix}-archive") as run:
        _until(lambda: run.total.versions + run.total.duplicates >= 22 and run.total.actions == 1)
    assert (run.total.versions, run.total.duplicates, run.total.actions) == (21, 1, 1)
    page = archive.query(page_size=100)
    assert page.total == 20 and page.by_status == {"OPEN": 19, "RESOLVED": 1}
    history = archive.lead("M02-0")
    assert history is not None and len(history.versions) == 2 and history.actions == [action]

    # offsets were committed: the same group reads only what is new
    _publish(broker.bootstrap, catalogue.leads, [make_lead("M02-new")])
    with _Archiver(archive, broker.bootstrap, topics, f"{topic_prefix}-archive") as again:
        _until(lambda: again.total.versions >= 1)
        time.sleep(1.0)
    assert (again.total.versions, again.total.duplicates) == (1, 0)

    # a rebuild into an empty archive restores versions and the actions from the outcome topic
    fresh = _open(new_archive_url())
    try:
        restored = rebuild(fresh, {"bootstrap_servers": [broker.bootstrap]}, topics, timeout=60)
        assert (restored.versions, restored.duplicates, restored.actions) == (22, 1, 1)
        assert fresh.query().total == 21
        history = fresh.lead("M02-0")
        assert history is not None and history.latest["status"] == "RESOLVED" and history.actions == [action]
    finally:
        fresh.close()


def test_the_command_line_archives_records_actions_and_rebuilds(
    broker: EmbeddedBroker, topic_prefix: str, archive_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "JIANDU_KAFKA_BOOTSTRAP": broker.bootstrap,
        "JIANDU_TOPIC_PREFIX": topic_prefix,
        "JIANDU_PARTITIONS": "2",
        "JIANDU_DATA_DIR": str(tmp_path),
        "JIANDU_ARCHIVE_URL": archive_url,
    }.items():
        monkeypatch.setenv(name, value)
    settings = settings_for(broker.bootstrap, topic_prefix, partitions=2)
    create_topics(settings)
    _publish(broker.bootstrap, catalogue_of(settings).leads, _leads())

    assert main(["archive", "act", "M02-3", "--officer", "李检察官", "--action", "assign", "--assignee", "张"]) == 0
    assert main(["archive", "run", "--duration", "12"]) == 0
    archive = _open(archive_url)
    try:
        assert archive.query().total == 20
        history = archive.lead("M02-3")
        assert history is not None and [a.action for a in history.actions] == ["assign"]
        archive.clear_versions()
        assert archive.query().total == 0
    finally:
        archive.close()

    assert main(["archive", "rebuild"]) == 0
    assert main(["archive", "stats"]) == 0
    archive = _open(archive_url)
    try:
        assert archive.query().total == 20
        rows = archive.statistics()
        assert sum(r.raised for r in rows) == 20 and sum(r.worked for r in rows) == 1
    finally:
        archive.close()
