"""The dangerous moments of a broker restart, made exact: nothing confirmed across a restart counts as accepted.

A restarted embedded broker listens before its journal replay has created the topics; a message
sent into it then is acknowledged and lost (notes/tansu.md), and a message the old broker confirmed
may reach the journal only after the new broker's replay read it. Each test stops a real broker at
one of these moments (the replay held, or the journal append delayed until a new broker is up) and
checks that every message counted as accepted is on its topic of the broker that runs afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from jiandu.broker import (
    BrokerGeneration,
    EmbeddedBroker,
    KafkaAdminClient,
    SameGeneration,
    ensure_topics,
    find_free_port,
)
from jiandu.errors import DeliveryError
from jiandu.journal import JournalEntry, JournalWriter
from jiandu.topics import TopicCatalogue
from producers.publisher import KafkaPublisher
from tests.pipeline import all_messages

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

#: Not the broker's own default (4): a topic auto-created in the window would have the wrong count
#: and fail the replay's topic check.
PARTITIONS = 3


class HeldReplayBroker(EmbeddedBroker):
    """An embedded broker whose journal replay waits for :meth:`finish`: it serves, with nothing replayed.

    Started from the test's thread (the broker ends with the thread that started it), replayed from another.
    """

    def __init__(self, port: int, journal_dir: Path) -> None:
        super().__init__(port, journal_dir=journal_dir)
        self._release = threading.Event()
        self._replayer: threading.Thread | None = None
        self._error: BaseException | None = None

    def finish(self) -> None:
        """Let the replay run; raise what it raised."""
        self._release.set()
        if self._replayer is not None:
            self._replayer.join(60)
        if self._error is not None:
            raise self._error

    def _replay(self) -> None:
        self._replayer = threading.Thread(target=self._replay_when_released, daemon=True)
        self._replayer.start()

    def _replay_when_released(self) -> None:
        self._release.wait(60)
        try:
            super()._replay()
        except BaseException as exc:  # raised by finish()
            self._error = exc


class RestartBeforeAppend(JournalWriter):
    """A journal whose next append first kills the broker and starts a new one (replayed, ready): the moment
    between the broker's confirmation and the journal's fsync."""

    restart: EmbeddedBroker | None = None
    restarted: EmbeddedBroker | None = None

    def append(self, entries: Iterable[JournalEntry]) -> int:
        entries = list(entries)
        broker, self.restart = self.restart, None
        if broker is not None and broker.pid is not None:
            os.kill(broker.pid, signal.SIGKILL)
            broker.stop()
            self.restarted = EmbeddedBroker(broker.port, journal_dir=self.directory)
            self.restarted.start(timeout=60)
        return super().append(entries)


@pytest.fixture
def catalogue(topic_prefix: str) -> TopicCatalogue:
    return TopicCatalogue(topic_prefix, PARTITIONS)


@pytest.fixture
def first_broker(tmp_path: Path, catalogue: TopicCatalogue) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(find_free_port(), journal_dir=tmp_path / "journal")
    broker.start(timeout=60)
    try:
        ensure_topics(broker.bootstrap, catalogue.specs())
        yield broker
    finally:
        broker.stop()


def _publisher(broker: EmbeddedBroker, journal: JournalWriter) -> KafkaPublisher:
    bootstrap = broker.bootstrap
    return KafkaPublisher(
        {"bootstrap_servers": bootstrap}, journal=journal, timeout=20.0, generation=BrokerGeneration(bootstrap)
    )


def _journal(cls: type[JournalWriter], directory: Path, catalogue: TopicCatalogue) -> JournalWriter:
    return cls(directory, writer="window", topic_prefix=catalogue.prefix, partitions=PARTITIONS)


def _send(publisher: KafkaPublisher, topic: str, keys: list[str], accepted: list[str]) -> None:
    for key in keys:
        publisher.send(topic, key, f"value of {key}".encode(), on_success=lambda k=key: accepted.append(k))  # type: ignore[misc]
    publisher.confirm()


def _on_topic(bootstrap: str, topic: str) -> set[str]:
    """The keys of the messages on ``topic``."""
    return {message.split(b"\0", 1)[0].decode() for message in all_messages(bootstrap, [topic])}


def test_nothing_is_produced_into_a_restarted_broker_before_its_replay_created_the_topics(
    first_broker: EmbeddedBroker, catalogue: TopicCatalogue, tmp_path: Path
) -> None:
    topic, accepted = catalogue.event_topics()[0], []
    with _publisher(first_broker, _journal(JournalWriter, tmp_path / "journal", catalogue)) as publisher:
        _send(publisher, topic, ["a", "b"], accepted)
        first = BrokerGeneration(first_broker.bootstrap)
        before = first.wait(5)
        publisher.send(topic, "c", b"c", on_success=lambda: accepted.append("c"))  # in the producer's hands

        os.kill(first_broker.pid or 0, signal.SIGKILL)
        first_broker.stop()
        second = HeldReplayBroker(first_broker.port, tmp_path / "journal")
        second.start(timeout=60)
        errors: list[BaseException] = []
        resend = threading.Thread(target=lambda: _send_or_keep(publisher, topic, ["c", "d"], accepted, errors))
        try:
            assert first.current() is None, "a broker whose replay has not run must not look ready"
            with pytest.raises(DeliveryError):
                publisher.confirm()  # the old producer's retry reached the new broker, or timed out
            resend.start()  # a new producer must wait for the replay
            resend.join(1.5)
            assert resend.is_alive() and accepted == ["a", "b"] and not errors
            with contextlib.closing(KafkaAdminClient(bootstrap_servers=second.bootstrap)) as admin:
                assert topic not in admin.list_topics(), "a client created a topic before the replay"
        finally:
            second.finish()  # replays; fails if a topic was auto-created with the broker's partition count
        try:
            resend.join(30)
            assert not errors
            assert accepted == ["a", "b", "c", "d"]
            assert first.wait(5) != before, "a new start of the broker must be a new generation"
            assert _on_topic(second.bootstrap, topic) >= set(accepted)
        finally:
            first.close()
            second.stop()


def _send_or_keep(
    publisher: KafkaPublisher, topic: str, keys: list[str], accepted: list[str], errors: list[BaseException]
) -> None:
    try:
        _send(publisher, topic, keys, accepted)
    except BaseException as exc:  # checked by the test's thread
        errors.append(exc)


def test_a_message_confirmed_by_a_broker_that_died_before_the_journal_append_is_not_accepted(
    first_broker: EmbeddedBroker, catalogue: TopicCatalogue, tmp_path: Path
) -> None:
    topic, accepted = catalogue.event_topics()[0], []
    journal = _journal(RestartBeforeAppend, tmp_path / "journal", catalogue)
    assert isinstance(journal, RestartBeforeAppend)
    with _publisher(first_broker, journal) as publisher:
        _send(publisher, topic, ["a"], accepted)
        journal.restart = first_broker  # the next confirm: broker confirms, dies, a new one replays, then the fsync
        with pytest.raises(DeliveryError, match="restarted"):
            _send(publisher, topic, ["b"], accepted)
        second = journal.restarted
        assert second is not None
        try:
            assert accepted == ["a"], "b was confirmed by a broker that is gone and is not on the new one"
            assert "b" not in _on_topic(second.bootstrap, topic)
            _send(publisher, topic, ["b"], accepted)  # the caller sends it again
            assert accepted == ["a", "b"]
            assert _on_topic(second.bootstrap, topic) >= set(accepted)
        finally:
            second.stop()


def test_the_journal_of_a_process_that_restarts_with_the_broker_counts_nothing_after_a_restart(
    first_broker: EmbeddedBroker, catalogue: TopicCatalogue, tmp_path: Path
) -> None:
    """A consumer keeping state and the console journal through a check of the broker's generation."""
    check = SameGeneration(BrokerGeneration(first_broker.bootstrap), timeout=10)
    journal = JournalWriter(
        tmp_path / "journal", writer="state", topic_prefix=catalogue.prefix, partitions=PARTITIONS, check=check
    )
    entry = JournalEntry(catalogue.outcomes, 0, b"k", b"v", 1)
    try:
        assert journal.append([entry]) == 1
        os.kill(first_broker.pid or 0, signal.SIGKILL)
        first_broker.stop()
        first_broker.start(timeout=60)  # same port, same journal: replayed, a new generation
        with pytest.raises(DeliveryError, match="restarted"):
            journal.append([entry])
    finally:
        journal.close()
