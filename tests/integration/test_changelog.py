"""The consumers' partition-aligned changelog (consumers/_changelog.py) against the real broker."""

from __future__ import annotations

import pytest
from kafka import TopicPartition

from consumers._changelog import ChangelogState
from jiandu.broker import EmbeddedBroker, delete_topics
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.settings import kafka_client_config
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


def test_state_is_per_partition_per_group_and_written_only_for_partitions_held(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix)
    create_topics(settings)
    catalogue = catalogue_of(settings)
    config = kafka_client_config(settings)

    def state(group: str) -> ChangelogState:
        return ChangelogState(config, catalogue.alerts_state, input_topic=catalogue.leads, namespace=group)

    def assign(s: ChangelogState, *partitions: int) -> None:
        s.on_partitions_revoked([])
        s.on_partitions_assigned([TopicPartition(catalogue.leads, p) for p in partitions])
        s.restore()

    first, other = state("g"), state("other-group")
    try:
        assign(first, 0, 1)
        assign(other, 0)
        first.put(0, "lead-a", b"a1")
        first.put(1, "lead-b", b"b1")
        first.put(2, "lead-c", b"c1")  # partition 2 is not held: dropped
        assert first.get(0, "lead-a") == b"a1", "a staged write is read back before the flush"
        assert first.flush() == 2
        other.put(0, "lead-a", b"other")
        other.flush()
        first.put(0, "lead-a", b"a2")
        first.discard()  # not confirmed work: forgotten
        assert first.get(0, "lead-a") == b"a1"
        first.put(0, "lead-a", None)  # a tombstone
        first.put(1, "lead-b", b"b2")
        first.flush()
    finally:
        first.close()
        other.close()

    replica = state("g")  # another host of group g takes partitions 1 and 2 over
    try:
        assign(replica, 1, 2)
        assert (replica.get(1, "lead-b"), replica.get(2, "lead-c")) == (b"b2", None)
        assign(replica, 0)  # a rebalance: partition 0 instead
        assert replica.held() == {0: 0}, "lead-a was deleted; other-group's lead-a is not g's"
        assert replica.get(1, "lead-b") is None, "a partition no longer held is forgotten"
    finally:
        replica.close()


def test_a_changelog_shorter_than_the_state_held_is_read_again_from_its_start(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    """Recreated topics (or an embedded broker restarted without its journal): nothing stale is kept."""
    settings = settings_for(broker.bootstrap, topic_prefix)
    create_topics(settings)
    catalogue = catalogue_of(settings)
    state = ChangelogState(
        kafka_client_config(settings), catalogue.alerts_state, input_topic=catalogue.leads, namespace="g"
    )
    assigned = [TopicPartition(catalogue.leads, 0)]
    try:
        state.on_partitions_assigned(assigned)
        state.restore()
        for n in range(5):
            state.put(0, f"lead-{n}", b"x")
        state.flush()
        delete_topics(broker.bootstrap, [catalogue.alerts_state])
        create_topics(settings)
        state.on_partitions_revoked(assigned)
        state.on_partitions_assigned(assigned)  # kept partition 0: normally only the tail is read
        state.restore()
        assert state.held() == {0: 0}
    finally:
        state.close()
