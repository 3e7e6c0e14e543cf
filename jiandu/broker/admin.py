"""Topic administration and true partition ends, for the embedded broker and real Kafka.

Everything here is synchronous (kafka-python) and meant for start-up, tests and
tools, not the hot path.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.errors import for_code as kafka_error_for_code

from jiandu.broker.clients import KafkaAdminClient, KafkaConsumer
from jiandu.errors import BrokerError
from jiandu.topics import TopicSpec

__all__ = [
    "delete_topics",
    "ensure_topics",
    "group_offsets",
    "high_watermarks",
    "replicated_configs",
    "require_reachable",
    "unreachable",
]

_METADATA_POLL_SECONDS = 0.1
#: The Fetch used to read high watermarks must wait at least 1 ms: Tansu answers
#: ``max_wait_ms=0`` with an empty response.
_HIGHWATER_FETCH_WAIT_MS = 10


def require_reachable(bootstrap: str, *, timeout: float = 2.0) -> None:
    """Raise :class:`BrokerError` at once unless one of the bootstrap servers accepts a TCP connection.

    Without it a Kafka client retries a refused connection for its whole bootstrap
    timeout (about 30 s of ``ECONNREFUSED`` warnings) before it gives up.
    """
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
                return
        except (OSError, ValueError):
            continue
    raise BrokerError(
        f"no Kafka broker answers at {bootstrap}: start one (`jiandu broker`, or `jiandu run` for the whole hub) "
        "or point JIANDU_KAFKA_BOOTSTRAP at yours"
    )


def ensure_topics(
    bootstrap: str,
    specs: list[TopicSpec],
    *,
    timeout: float = 30,
    replication_factor: int = 1,
    client_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet; return the names created.

    Idempotent. Returns only once metadata shows every topic with its partition
    count, so a producer started next cannot hit a missing topic (the embedded
    broker acknowledges and loses such messages). An existing topic with another
    partition count is an error: partitions cannot be added on the embedded broker.
    """
    if not specs:
        return []
    with _admin(bootstrap, client_config) as admin:
        created = _create_missing(admin, specs, replication_factor, timeout)
        _await_partitions(admin, specs, set(created), time.monotonic() + timeout)
    return created


def unreachable(bootstrap: str, timeout: float = 1.0) -> str | None:
    """Why no bootstrap server accepts a TCP connection within ``timeout``, or None when one does.

    A cheap first check for clients and probes: a kafka-python client asked to connect to a broker that
    is away waits its whole bootstrap timeout (30 s by default) before it says so.
    """
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return None
        except (OSError, ValueError) as exc:
            errors.append(f"{server.strip()}: {type(exc).__name__}")
    return f"broker unreachable ({', '.join(errors)})"


def delete_topics(bootstrap: str, names: Iterable[str], client_config: Mapping[str, Any] | None = None) -> None:
    """Delete the named topics; names that do not exist are ignored."""
    names = list(names)
    if not names:
        return
    with _admin(bootstrap, client_config) as admin:
        try:
            result = admin.delete_topics(names, raise_errors=False)
        except KafkaError as exc:
            raise BrokerError(f"deleting topics {names} on {bootstrap} failed: {exc}") from exc
    for topic in result["topics"]:
        error = kafka_error_for_code(topic["error_code"])
        if topic["error_code"] and error is not UnknownTopicOrPartitionError:
            raise BrokerError(f'deleting topic "{topic["name"]}" failed: {error.__name__}')


def high_watermarks(
    bootstrap: str,
    topics: list[str],
    client_config: Mapping[str, Any] | None = None,
    *,
    timeout: float = 10.0,
) -> dict[tuple[str, int], int]:
    """The end offset (high watermark) of every partition of ``topics``.

    Read from Fetch responses, not ListOffsets: the embedded broker answers
    ListOffsets(latest) with the base offset of the newest record batch + 1, so
    ``end_offsets`` and ``seek_to_end`` fall short by up to a batch (notes/tansu.md).
    A Fetch response carries the true high watermark, which kafka-python keeps per
    partition. One group-less consumer fetches every partition from its start with
    a one-byte partition limit (the broker still returns one batch), and each
    partition is paused as soon as its high watermark is known. An empty partition
    reports 0.
    """
    with _highwater_consumer(bootstrap, client_config) as consumer:
        partitions = _all_partitions(consumer, topics)
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        return _read_highwaters(consumer, partitions, time.monotonic() + timeout, bootstrap)


@contextmanager
def group_offsets(
    bootstrap: str, group: str, partitions: Sequence[tuple[str, int]], client_config: Mapping[str, Any] | None = None
) -> Iterator[Callable[[], dict[tuple[str, int], int]]]:
    """A reader of the offsets ``group`` committed on ``partitions`` (those it never committed left out).

    One OffsetFetch request for them all: a consumer's ``committed`` asks once per partition (112
    requests for the event topics, four times a second while a backtest waits for its router).
    """
    wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
    with _admin(bootstrap, client_config) as admin:

        def read() -> dict[tuple[str, int], int]:
            try:
                found = admin.list_group_offsets({group: wanted}).get(group, {})
            except KafkaError as exc:
                raise BrokerError(f"cannot read the offsets consumer group {group} committed: {exc}") from exc
            return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}

        yield read


@contextmanager
def _admin(bootstrap: str, client_config: Mapping[str, Any] | None) -> Iterator[KafkaAdminClient]:
    """A KafkaAdminClient, closed on exit, with a failure to connect translated."""
    require_reachable(bootstrap)
    try:
        client = KafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach Kafka at {bootstrap}: {exc}. Start the broker or check JIANDU_KAFKA_BOOTSTRAP"
        ) from exc
    try:
        yield client
    finally:
        client.close()


@contextmanager
def _highwater_consumer(bootstrap: str, client_config: Mapping[str, Any] | None) -> Iterator[KafkaConsumer]:
    """A group-less KafkaConsumer that fetches as little as possible."""
    config: dict[str, Any] = {
        "group_id": None,
        "enable_auto_commit": False,
        "fetch_max_wait_ms": _HIGHWATER_FETCH_WAIT_MS,
        "max_partition_fetch_bytes": 1,
        "allow_auto_create_topics": False,
        **(client_config or {}),
    }
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, **config)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        yield consumer
    finally:
        consumer.close(autocommit=False)


def replicated_configs(replication_factor: int) -> dict[str, str]:
    """Topic configs that make ``acks=all`` mean something on a replicated cluster: a write needs every
    replica but one (2 of 3), so one broker may fail without losing an acknowledged record or stopping
    writes, and a replica that fell behind never becomes leader."""
    if replication_factor < 3:
        return {}
    return {"min.insync.replicas": str(replication_factor - 1), "unclean.leader.election.enable": "false"}


def _create_missing(
    admin: KafkaAdminClient, specs: list[TopicSpec], replication_factor: int, timeout: float
) -> list[str]:
    durability = replicated_configs(replication_factor)
    request = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": replication_factor,
            "configs": {**durability, **spec.config},
        }
        for spec in specs
    }
    try:
        result = admin.create_topics(request, timeout_ms=int(timeout * 1000), raise_errors=False)
    except KafkaError as exc:
        raise BrokerError(f"creating topics {sorted(request)} failed: {exc}") from exc
    created = []
    for topic in result["topics"]:
        error = kafka_error_for_code(topic["error_code"])
        if not topic["error_code"]:
            created.append(topic["name"])
        elif error is not TopicAlreadyExistsError:
            message = topic.get("error_message") or ""
            name = topic["name"]
            raise BrokerError(f'creating topic "{name}" failed: {error.__name__} {message}')
    return created


def _await_partitions(admin: KafkaAdminClient, specs: list[TopicSpec], created: set[str], deadline: float) -> None:
    """Wait until metadata shows every topic with its partition count."""
    while True:
        counts = _partition_counts(admin, [spec.name for spec in specs])
        wrong = {s.name: (counts.get(s.name, 0), s.partitions) for s in specs if counts.get(s.name, 0) != s.partitions}
        existing_mismatch = {n: c for n, c in wrong.items() if n not in created and c[0]}
        if existing_mismatch:
            raise BrokerError(_mismatch_message(existing_mismatch))
        if not wrong:
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics not ready in time; (seen, wanted) partitions: {wrong}")
        time.sleep(_METADATA_POLL_SECONDS)


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    try:
        topics = admin.describe_topics(names)
    except KafkaError:
        return {}
    return {t["name"]: len(t.get("partitions") or []) for t in topics if not t.get("error_code")}


def _mismatch_message(mismatch: dict[str, tuple[int, int]]) -> str:
    details = ", ".join(f'"{n}" has {seen}, the catalogue wants {want}' for n, (seen, want) in sorted(mismatch.items()))
    return (
        f"existing topics have the wrong partition count: {details}. Partitions cannot be "
        "added on the embedded broker: delete these topics (or use a new topic prefix) "
        "and start again"
    )


def _all_partitions(consumer: KafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise BrokerError(f'topic "{topic}" does not exist, so it has no end offsets')
        partitions.extend(TopicPartition(topic, p) for p in sorted(numbers))
    return partitions


def _read_highwaters(
    consumer: KafkaConsumer, partitions: list[TopicPartition], deadline: float, bootstrap: str
) -> dict[tuple[str, int], int]:
    # Records returned by poll are discarded; only the fetch metadata matters.
    pending = set(partitions)
    while pending:
        if time.monotonic() >= deadline:
            missing = sorted(f"{tp.topic}[{tp.partition}]" for tp in pending)
            raise BrokerError(f"no fetch response from {bootstrap} in time for {missing}")
        consumer.poll(timeout_ms=100, max_records=100_000)
        known = {tp for tp in pending if consumer.highwater(tp) is not None}
        if known:
            consumer.pause(*known)
            pending -= known
    return {(tp.topic, tp.partition): int(consumer.highwater(tp)) for tp in partitions}
