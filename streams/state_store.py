"""Entity state on disk: the table's RocksDB store, what waits to reach it, and the stored value's form.

The evaluator's table is Faust's RocksDB store (via rocksdict: one database per
partition under the worker's data directory), so a worker's memory no longer
grows with the number of persons: decoded states live in a bounded cache
(:class:`streams.routing.StateCache`), the rest on disk. Faust keeps, in each
partition's database, the changelog offset up to which it holds the changelog, so
a restarted worker reads only the changelog's tail (``kill -9`` included).

A value reaches the store only after its changelog record was confirmed, and its
changelog record only after the leads it records were confirmed: the store is
always a prefix of the changelog, and a recovered state never claims an
undelivered lead. Until then the value waits in :class:`Unconfirmed`, where reads
find it.

Each stored value starts with the entity's pending wake-ups per model (JSON, one
line), then the state (:meth:`EntityState.dumps`): a restarted worker rebuilds its
deadline heap from these headers without decoding or evaluating a single state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import rocksdict
from aiokafka import AIOKafkaProducer

from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue

__all__ = [
    "ROCKSDB_OPTIONS",
    "ConfirmedBatch",
    "Unconfirmed",
    "pack_state",
    "partition_items",
    "partition_stores",
    "partition_values",
    "persisted_changelog_offset",
    "send_changelog",
    "state_dir",
    "store_confirmed",
    "store_size",
    "stored_offsets",
    "unpack_state",
]

#: Options of each partition's database, from the probes in the team's state notes: bounded write
#: buffers and block cache (the defaults give each partition 3 x 64 MB buffers and a 2 GiB cache).
ROCKSDB_OPTIONS: dict[str, Any] = {
    "block_cache_size": 8 * 2**20,
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
}

_HEADER_END = b"\n"
#: Faust's key, in each partition's database, of the changelog offset the database holds (faust.stores.rocksdb).
_OFFSET_KEY = b"__faust\0offset__"
_PARTITION_DB = re.compile(r"-(\d+)\.db$")


def state_dir(settings: Settings, catalogue: TopicCatalogue) -> Path:
    """Where a worker keeps its stores: per topic prefix under the data directory (a restarted worker
    finds them; workers of one machine share it, each partition being its own database)."""
    return settings.data_dir / "streams" / catalogue.streams_app_id


def persisted_changelog_offset(store: Path) -> int | None:
    """The offset of the last changelog record a partition's store applied (Faust keeps it in the
    store), None if it applied none; read-only, so a store another worker holds open can be read."""
    db = rocksdict.Rdict(
        str(store), options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
    )
    try:
        value = db.get(_OFFSET_KEY)
    finally:
        db.close()
    return None if value is None else int(value)


def partition_stores(directory: Path) -> list[tuple[int, Path]]:
    """(partition, database directory) of every partition store under ``directory`` (Faust names them
    ``<table>-<partition>.db``)."""
    found = ((_PARTITION_DB.search(path.name), path) for path in sorted(directory.rglob("*.db")))
    return [(int(match.group(1)), path) for match, path in found if match is not None and path.is_dir()]


def pack_state(wakes: Mapping[str, int], state: bytes) -> bytes:
    """A stored value: the pending wake-ups per model, then the serialised state."""
    return orjson.dumps(wakes) + _HEADER_END + state


def unpack_state(value: bytes | None) -> tuple[dict[str, int] | None, bytes | None]:
    """(wake-ups, serialised state) of a stored value; wake-ups None for a value written without them."""
    if not value:
        return None, None
    header, sep, state = value.partition(_HEADER_END)
    if not sep:  # written before the header existed: the state alone
        return None, value
    return orjson.loads(header), state


class Unconfirmed:
    """Values written by applied facts messages whose changelog records are not confirmed yet."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self._values[key] = value

    def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def confirmed(self, key: bytes, value: bytes) -> None:
        """``value`` reached the store: forget it unless a later value replaced it meanwhile."""
        if self._values.get(key) is value:
            del self._values[key]

    def drop(self, key: bytes) -> None:
        """Forget ``key`` (its partition moved to another worker before it was sent)."""
        self._values.pop(key, None)

    def waiting(self) -> list[bytes]:
        """The keys waiting."""
        return list(self._values)

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


#: A record batch the broker confirmed: its partition, the offset of its last record, its (key, value)s.
ConfirmedBatch = tuple[int, int, list[tuple[bytes, bytes]]]


async def send_changelog(
    producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[bytes, tuple[int, bytes]]]
) -> list[ConfirmedBatch]:
    """Send (key, (partition, value)) records as whole record batches, in order per partition; the
    confirmed batches.

    A record batch per partition instead of a ``send`` per record: aiokafka's ``send`` makes a future and
    walks its accumulator for every record (≈ a tenth of the evaluator's time at 0.6 records an event).
    The broker writes each batch as one: its records' offsets follow its base offset.
    """
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, (partition, value) in records:
        by_partition.setdefault(partition, []).append((key, value))
    sent: list[tuple[Any, int, list[tuple[bytes, bytes]]]] = []  # (delivery, partition, records)
    for partition, items in by_partition.items():
        start = 0
        while start < len(items):  # a batch takes records up to the producer's batch size, and always its first
            batch, end = producer.create_batch(), start
            while end < len(items) and batch.append(key=items[end][0], value=items[end][1], timestamp=None):
                end += 1
            sent.append((await producer.send_batch(batch, topic, partition=partition), partition, items[start:end]))
            start = end
    return [(partition, (await delivery).offset + len(items) - 1, items) for delivery, partition, items in sent]


def store_confirmed(store: Any, batches: Sequence[ConfirmedBatch]) -> None:
    """Write confirmed changelog batches to their partitions' databases, each with the changelog offset it
    reaches in the same write (Faust's ``apply_changelog_batch`` makes two objects per record and writes the
    offset apart)."""
    writes: dict[int, rocksdict.WriteBatch] = {}
    reached: dict[int, int] = {}  # partition → the offset its last batch reaches (batches come in offset order)
    for partition, last, items in batches:
        batch = writes.get(partition)
        if batch is None:
            batch = writes[partition] = rocksdict.WriteBatch(raw_mode=True)
        for key, value in items:
            batch.put(key, value)
        reached[partition] = last
    for partition, batch in writes.items():
        batch.put(_OFFSET_KEY, str(reached[partition]).encode())
        store._db_for_partition(partition).write(batch)


def partition_items(store: Any, partition: int) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) one partition's database holds.

    Faust has no public way to read one partition of a RocksDB store (its ``items()`` reads all the
    worker's partitions, and telling them apart costs a murmur2 hash per key: ≈ 14 µs, 14 s per
    million keys), so this opens the partition's database through the store's own accessor.
    """
    db = store._db_for_partition(partition)
    for key, value in db.items():
        if not key.startswith(b"__faust"):
            yield key, value


def partition_values(store: Any, partition: int, newer: Mapping[bytes, bytes]) -> Iterator[tuple[bytes, bytes]]:
    """The latest (key, value) of every key of one partition: the database's, but ``newer``'s (values on
    their way to it) where it has the key; one at a time, as the database yields them (a partition holds
    hundreds of thousands of states: read into one dict, they cost a restarted worker ≈ 1 GB per million)."""
    for key, value in partition_items(store, partition):
        if key not in newer:
            yield key, value
    yield from newer.items()


def store_size(store: Any) -> tuple[int, int]:
    """(keys, bytes) of the worker's databases, as RocksDB estimates them (reading every value to count
    them exactly would take seconds per million entities, every refresh): live data plus memtables."""
    keys = size = 0
    for db in list(getattr(store, "_dbs", {}).values()):
        keys += db.property_int_value("rocksdb.estimate-num-keys") or 0
        size += db.property_int_value("rocksdb.estimate-live-data-size") or 0
        size += db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
    return keys, size


def stored_offsets(directory: Path) -> dict[int, int]:
    """Per partition, the last changelog offset its local store holds (Faust's offset key), for the
    databases under ``directory``; read-only, so a running worker's are read as they are on disk.

    A restarted worker reads the changelog after these offsets only: what a recovery has to read is
    the changelog's high watermark minus this, minus one.
    """
    offsets: dict[int, int] = {}
    for partition, path in partition_stores(directory):
        offset = persisted_changelog_offset(path)
        if offset is not None:
            offsets[partition] = offset
    return offsets
