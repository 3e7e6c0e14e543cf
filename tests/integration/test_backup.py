"""Backup and restore of a whole single-node hub: `jiandu backup` while it runs, `kill -9` of everything,
the backup copied into a new data directory, the broker started there: the journal is replayed and the
databases agree with it (the push API's duplicates, the archive's versions and actions)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from adapters.gateway import BATCH_PATH
from consumers.archive import Action, open_archive, publish_action
from jiandu.broker import EmbeddedBroker
from jiandu.cli.gateway import open_gateway, receipts_path
from jiandu.cli.hub import catalogue_of, create_topics, journal_for
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.faults import Hub
from tests.integration.test_gateway import execution, write_agencies
from tests.lead_versions import lead_version
from tests.pipeline import all_messages

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def _accepted(settings: Settings) -> list[bytes]:
    catalogue = catalogue_of(settings)
    return sorted(all_messages(settings.bootstrap, [*catalogue.event_topics(), catalogue.outcomes]))


def test_a_backup_taken_while_the_hub_runs_restores_everything_accepted(tmp_path: Path, topic_prefix: str) -> None:
    hub = Hub(tmp_path / "data", topic_prefix)
    tokens = write_agencies(tmp_path / "agencies.yaml")
    settings = hub.settings.replace(gateway_agencies=str(tmp_path / "agencies.yaml"))
    hub.settings = settings
    hub.start_broker()
    create_topics(settings)
    server, publisher, receipts = open_gateway(settings, 0)
    headers = {"Authorization": f"Bearer {tokens['shenyang-court']}"}
    archive = open_archive("", settings.data_dir)
    journal = None
    try:
        for n in range(5):  # the hub at work: pushes, an officer's action, the archive filling
            records = [execution(f"bk-{n}-{i}") for i in range(20)]
            assert httpx.post(server.url + BATCH_PATH, json={"records": records}, headers=headers).status_code == 200
        action = Action(lead_version(1, 1).lead_id, "wang", "acknowledge", 1_714_000_000_000)
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap, acks="all")
        journal = journal_for(settings, "console")
        publish_action(producer, AvroCodec(), catalogue_of(settings).outcomes, action, journal)
        producer.close()
        archive.store_version(lead_version(1, 1), catalogue_of(settings).leads, 0, 0)
        archive.record_action(action)
        before = _accepted(settings)

        backup = tmp_path / "backup"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")} | {
            "JIANDU_DATA_DIR": str(settings.data_dir),
            "JIANDU_TOPIC_PREFIX": topic_prefix,
        }
        done = subprocess.run(
            [sys.executable, "-m", "jiandu.cli", "backup", "--out", str(backup)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "journal segments" in done.stdout
    finally:
        server.stop()
        publisher.close()
        receipts.close()
        archive.close()
        if journal is not None:
            journal.close()
        hub.kill_broker()  # the machine is lost

    restored = tmp_path / "restored"
    shutil.copytree(backup, restored)
    again = settings.replace(data_dir=restored)
    with EmbeddedBroker(again.broker_port, journal_dir=again.journal_dir) as broker:
        assert broker.replayed is not None and broker.replayed.messages == len(before)
        assert _accepted(again) == before
    with sqlite3.connect(receipts_path(again)) as db:  # the push API's duplicates are all on the topics
        assert db.execute("SELECT COUNT(*) FROM accepted").fetchone()[0] == 100
    archive = open_archive("", restored)
    try:
        history = archive.lead(lead_version(1, 1).lead_id)
        assert history is not None and len(history.versions) == 1 and len(history.actions) == 1
    finally:
        archive.close()
