"""The durable journal: segment files per writer, fsynced blocks, a torn tail ignored, merged reading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import fastavro

from consumers.archive import Action
from jiandu.journal import JournalEntry, JournalWriter, read_journal, segments
from jiandu.journal_compaction import accepted_identity, compact_journal
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue


def _entry(n: int, topic: str = "p.events.court.judgment") -> JournalEntry:
    return JournalEntry(topic, n % 4, f"k{n}".encode(), b"v" * 50 + str(n).encode(), 1_000 + n)


def test_each_writer_has_its_own_segments_named_in_their_headers(tmp_path: Path) -> None:
    gateway = JournalWriter(tmp_path, writer="gateway", topic_prefix="p", partitions=4)
    console = JournalWriter(tmp_path, writer="console", topic_prefix="p", partitions=4)
    gateway.append([_entry(1), _entry(3)])
    console.append([_entry(2, "p.outcomes")])
    gateway.append([_entry(4)])
    assert gateway.path != console.path
    gateway.close()
    console.close()
    found = segments(tmp_path)
    assert sorted(s.writer for s in found) == ["console", "gateway"]
    assert {(s.topic_prefix, s.partitions) for s in found} == {("p", 4)}
    assert [e.timestamp_ms for e in read_journal(tmp_path)] == [1001, 1002, 1003, 1004]  # merged by time
    assert list(read_journal(tmp_path))[1] == _entry(2, "p.outcomes")


def test_a_torn_tail_is_ignored_and_earlier_blocks_are_kept(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, writer="w", topic_prefix="p", partitions=4)
    writer.append([_entry(n) for n in range(10)])
    writer.append([_entry(n) for n in range(10, 20)])
    path = writer.path
    assert path is not None
    writer.close()
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])  # a crash in the middle of the second block
    assert [e.timestamp_ms - 1000 for e in read_journal(tmp_path)] == list(range(10))
    path.write_bytes(whole[:20])  # a crash while the header was written: nothing of it counted
    assert list(read_journal(tmp_path)) == []


def test_only_the_named_topics_are_journaled_and_segments_roll_over(tmp_path: Path) -> None:
    writer = JournalWriter(
        tmp_path, writer="w", topic_prefix="p", partitions=4, topics=["p.events.court.judgment"], segment_bytes=300
    )
    assert writer.append([_entry(1), _entry(2, "p.internal.facts")]) == 1
    writer.append([_entry(3)])
    writer.close()
    assert len(segments(tmp_path)) == 2
    assert [e.timestamp_ms for e in read_journal(tmp_path)] == [1001, 1003]
    with segments(tmp_path)[0].path.open("rb") as file:  # a standard Avro Object Container File
        assert fastavro.reader(file).metadata["jiandu.writer"] == "w"


def test_compaction_merges_closed_segments_keeps_the_first_of_each_and_leaves_live_ones(tmp_path: Path) -> None:
    first = JournalWriter(tmp_path, writer="gateway", topic_prefix="p", partitions=4)
    again = JournalWriter(tmp_path, writer="gateway", topic_prefix="p", partitions=4)
    live = JournalWriter(tmp_path, writer="filedrop", topic_prefix="p", partitions=4)
    first.append([_entry(n) for n in range(10)])
    again.append([dataclasses.replace(_entry(n), timestamp_ms=2000 + n) for n in range(5, 15)])  # 5..9 re-sent
    live.append([_entry(100)])
    first.close()
    again.close()

    report = compact_journal(tmp_path, identity=lambda e: e.key.decode() if e.key else None)

    assert (report.segments_before, report.segments_after) == (2, 1)
    assert (report.messages_before, report.messages_after) == (20, 15)
    keys = [e.key for e in read_journal(tmp_path)]
    assert sorted(keys) == sorted([f"k{n}".encode() for n in [*range(15), 100]])  # the live segment untouched
    kept = {e.key: e.timestamp_ms for e in read_journal(tmp_path)}
    assert kept[b"k7"] == 1007, "the first accepted copy is kept"
    live.append([_entry(101)])  # its writer goes on appending to its own segment
    live.close()
    assert len(list(read_journal(tmp_path))) == 17


def test_accepted_identity_is_the_event_id_or_the_action_id(tmp_path: Path) -> None:
    codec = AvroCodec()
    action = Action("M02-x", "wang", "acknowledge", 1_714_000_000_000)
    value = codec.encode("action", action.row())
    identity = accepted_identity(codec)
    assert identity(JournalEntry("p.outcomes", 0, b"M02-x", value, 1)) == f"p.outcomes\x1f{action.action_id}"
    assert identity(JournalEntry("p.deadletter", 0, None, b"\x00", 1)) is None  # every dead letter is kept
    assert identity(JournalEntry("p.events.court.judgment", 0, None, b"not avro", 1)) is None


def test_compaction_keeps_the_last_value_of_each_consumer_state_key_tombstones_included(tmp_path: Path) -> None:
    """The consumers' state topics are compacted topics: a replay needs only each key's last value."""
    catalogue = TopicCatalogue("p", 4)
    state, dead = catalogue.alerts_state, catalogue.webhook_dead_letters
    router = JournalWriter(tmp_path, writer="alerts", topic_prefix="p", partitions=4)
    redeliver = JournalWriter(tmp_path, writer="webhooks-redeliver", topic_prefix="p", partitions=4)
    router.append([JournalEntry(state, 1, b"g\x1fM02-a", f"v{n}".encode(), 10 + n) for n in range(5)])
    event = dataclasses.replace(_entry(1), timestamp_ms=25)
    router.append([JournalEntry(state, 2, b"g\x1fM02-b", b"v0", 20), event])
    router.append([JournalEntry(dead, 0, b"g\x1fsub\x1fM02-a\x1f1", b"failed", 30)])
    redeliver.append([JournalEntry(dead, 0, b"g\x1fsub\x1fM02-a\x1f1", None, 40)])  # re-delivered: a tombstone
    router.append([JournalEntry(state, 1, b"g\x1fM02-a", b"v9", 50)])
    router.close()
    redeliver.close()

    report = compact_journal(tmp_path)

    assert (report.messages_before, report.messages_after) == (10, 4)
    kept = [(e.topic, e.partition, e.key, e.value) for e in read_journal(tmp_path)]
    assert kept == [
        (state, 2, b"g\x1fM02-b", b"v0"),
        (event.topic, event.partition, event.key, event.value),
        (dead, 0, b"g\x1fsub\x1fM02-a\x1f1", None),
        (state, 1, b"g\x1fM02-a", b"v9"),
    ]
