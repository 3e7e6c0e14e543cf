"""The durable journal: segment files per writer, fsynced blocks, a torn tail ignored, merged reading."""

from __future__ import annotations

from pathlib import Path

import fastavro

from jiandu.journal import JournalEntry, JournalWriter, read_journal, segments


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
