"""A worker's local state stores are kept against the broker whose changelog has them, discarded against a fresh one.

Workers of one host share the store directory: a worker starting beside another must never delete
the stores that other worker is filling (a backtest's second worker once deleted the first's while
the changelog was still empty, and deadline leads went missing on a loaded CI machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rocksdict
from kafka import KafkaProducer

from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.topics import TopicCatalogue
from streams.state_store import partition_stores, persisted_changelog_offset, state_dir
from streams.worker import discard_stale_stores
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

_FAUST_OFFSET_KEY = b"__faust\0offset__"


def _store(stores: Path, partition: int, *, applied: int | None, hold_open: bool = False) -> rocksdict.Rdict | None:
    """A partition store as Faust writes it: one state, and the last changelog offset it applied."""
    path = stores / "v1" / "tables" / f"entity_state-{partition}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True))
    db[b"P:x"] = b"{}"
    if applied is not None:
        db[_FAUST_OFFSET_KEY] = str(applied).encode()
    if hold_open:
        return db  # as a live worker holds it: locked, its writes in the write-ahead log
    db.close()
    return None


def _changelog_records(bootstrap: str, catalogue: TopicCatalogue, partition: int, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for n in range(count):
        producer.send(catalogue.state_changelog, key=f"P:{n}".encode(), value=b"{}", partition=partition)
    producer.flush(timeout=10)
    producer.close()


def test_only_stores_ahead_of_their_changelog_are_discarded(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    create_topics(settings)
    catalogue = catalogue_of(settings)
    stores = state_dir(settings, catalogue)
    assert discard_stale_stores(settings, catalogue) == []  # nothing there: nothing to do

    _changelog_records(broker.bootstrap, catalogue, partition=1, count=3)  # offsets 0..2 on this broker
    _store(stores, 0, applied=7)  # applied records of a broker that is gone (fresh topics here)
    _store(stores, 1, applied=2)  # applied this broker's records up to its end
    _store(stores, 2, applied=None)  # opened by a worker, no changelog record applied yet
    held = _store(stores, 3, applied=None, hold_open=True)  # another live worker is filling it
    try:
        discarded = discard_stale_stores(settings, catalogue)
        assert [p.name for p in discarded] == ["entity_state-0.db"]
        kept = sorted(p.name for p in stores.glob("**/*.db"))
        assert kept == ["entity_state-1.db", "entity_state-2.db", "entity_state-3.db"]
        assert held is not None and held[b"P:x"] == b"{}"
    finally:
        if held is not None:
            held.close()


def test_the_offset_of_a_store_a_live_worker_holds_is_read(tmp_path: Path) -> None:
    held = _store(tmp_path, 5, applied=41, hold_open=True)  # locked, its writes only in the write-ahead log
    try:
        [(partition, store)] = partition_stores(tmp_path)
        assert (partition, persisted_changelog_offset(store)) == (5, 41)
    finally:
        assert held is not None
        held.close()
