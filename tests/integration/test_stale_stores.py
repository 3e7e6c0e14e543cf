"""A worker's local state stores are kept against the broker whose changelog has them, discarded against a fresh one."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics
from streams.state_store import state_dir
from streams.worker import discard_stale_stores
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def test_stores_without_a_changelog_are_discarded_and_stores_with_one_kept(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    create_topics(settings)
    catalogue = catalogue_of(settings)
    stores = state_dir(settings, catalogue)

    assert not discard_stale_stores(settings, catalogue)  # nothing there: nothing to do

    (stores / "state-0.db").mkdir(parents=True)  # a store of a broker that is gone (fresh topics here)
    assert discard_stale_stores(settings, catalogue)
    assert not stores.exists()

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    producer.send(catalogue.state_changelog, key=b"P:x", value=b"{}", partition=0).get(timeout=10)
    producer.close()
    (stores / "state-0.db").mkdir(parents=True)  # its changelog is on this broker: the store is kept
    assert not discard_stale_stores(settings, catalogue)
    assert (stores / "state-0.db").is_dir()
