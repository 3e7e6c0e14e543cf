"""The consumers' confirmed writes: journaled only once the broker confirmed them, a clear error otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from jiandu.broker import EmbeddedBroker, Outgoing, ensure_topics, find_free_port, send_confirmed
from jiandu.errors import DeliveryError
from jiandu.journal import JournalWriter, read_journal
from jiandu.topics import TopicSpec


def test_confirmed_messages_are_journaled_with_the_partition_the_broker_confirmed(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.confirmed"
    ensure_topics(broker.bootstrap, [TopicSpec(topic, 3)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    journal = JournalWriter(tmp_path, writer="test", topic_prefix=topic_prefix, partitions=3)
    try:
        messages = [Outgoing(topic, b"k1", b"v1", 2), Outgoing(topic, b"k2", None, 0), Outgoing(topic, b"k3", b"v3")]
        confirmed = send_confirmed(producer, messages, timeout=30, journal=journal, unconfirmed="redo it")
    finally:
        journal.close()
        producer.close(timeout=5)
    assert [meta.partition for meta in confirmed[:2]] == [2, 0]
    journaled = [(e.topic, e.partition, e.key, e.value) for e in read_journal(tmp_path)]
    assert journaled == [(topic, meta.partition, m.key, m.value) for m, meta in zip(messages, confirmed, strict=True)]


def test_unconfirmed_messages_are_a_delivery_error_saying_what_to_do_and_nothing_is_journaled(tmp_path: Path) -> None:
    away = EmbeddedBroker(find_free_port(), log_path=tmp_path / "tansu.log")
    away.start()
    producer = KafkaProducer(bootstrap_servers=away.bootstrap, acks="all", max_block_ms=2000, request_timeout_ms=2000)
    journal = JournalWriter(tmp_path / "journal", writer="test", topic_prefix="p", partitions=1)
    try:
        away.stop()  # the broker goes away before the write
        with pytest.raises(DeliveryError, match=r'did not confirm 1 message\(s\) to "p.gone" .*: restart to redo it'):
            send_confirmed(
                producer, [Outgoing("p.gone", b"k", b"v")], timeout=5, journal=journal, unconfirmed="restart to redo it"
            )
    finally:
        journal.close()
        producer.close(timeout=2)
        away.stop()
    assert list(read_journal(tmp_path / "journal")) == []
