"""The evaluator's changelog writes (streams.state_store.send_changelog / store_confirmed) against the real broker.

Records go out as whole record batches, several per partition when they outgrow one; the offsets the
worker derives from each batch's base offset must be the ones the broker gave, or a restarted worker
would read its changelog from the wrong place (or discard its store as ahead of the broker).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import rocksdict
from aiokafka import AIOKafkaProducer

from benchmarks.topic_scan import scan_topics
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics
from streams.state_store import persisted_changelog_offset, send_changelog, store_confirmed
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


class _PartitionDatabases:
    """What store_confirmed uses of Faust's RocksDB store: a database per partition."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dbs: dict[int, rocksdict.Rdict] = {}

    def _db_for_partition(self, partition: int) -> rocksdict.Rdict:
        if partition not in self._dbs:
            options = rocksdict.Options(raw_mode=True)
            self._dbs[partition] = rocksdict.Rdict(str(self.root / f"p{partition}"), options=options)
        return self._dbs[partition]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()


def test_batched_changelog_offsets_are_the_brokers_and_reach_the_store(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix)
    create_topics(settings)
    topic = catalogue_of(settings).facts  # any topic with partitions: a changelog's records are keyed bytes
    rounds = [
        [(b"k%03d" % (i % 90), (i % 3, b"r%d-%d:" % (r, i) + b"x" * (150 + i % 40))) for i in range(240)]
        for r in range(2)
    ]

    async def send_all() -> list[list[tuple[int, int, list[tuple[bytes, bytes]]]]]:
        # batches of 2 KB: each round fills several per partition
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_batch_size=2048, acks="all")
        await producer.start()
        try:
            return [await send_changelog(producer, topic, records) for records in rounds]
        finally:
            await producer.stop()

    confirmed = asyncio.run(send_all())
    assert all(sum(1 for p, _, _ in batches if p == 0) > 1 for batches in confirmed), "not several batches"
    store = _PartitionDatabases(tmp_path)
    try:
        for batches in confirmed:
            store_confirmed(store, batches)
        stored = {p: dict(store._db_for_partition(p).items()) for p in range(3)}
    finally:
        store.close()

    on_broker: dict[int, dict[int, tuple[bytes, bytes]]] = {p: {} for p in range(settings.partitions)}

    def visit(_: str, records: Any) -> None:
        for record in records:
            on_broker[record.partition][record.offset] = (record.key, record.value)

    scan_topics(broker.bootstrap, [topic], visit, timeout=30)
    for batches in confirmed:  # each record where its batch's offsets say
        for partition, last, items in batches:
            first = last - len(items) + 1
            assert [on_broker[partition][first + i] for i in range(len(items))] == items
    for partition in range(3):
        latest = {key: value for _, (key, value) in sorted(on_broker[partition].items())}
        assert {k: v for k, v in stored[partition].items() if not k.startswith(b"__faust")} == latest
        assert persisted_changelog_offset(tmp_path / f"p{partition}") == max(on_broker[partition])
