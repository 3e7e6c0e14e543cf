"""The durable journal's cost (``python -m benchmarks journal``): appends, ingest with and without it, replay.

- append: JournalWriter alone, 400-byte messages, one fsynced block per confirm of 1, 100 and 5,000 messages;
- ingest: a generated history through the intake (validate, pseudonymise, encode, ``acks=all``) on an
  embedded broker, journal off, then on (each run on its own broker and data directory);
- replay: the journal of that ingest copied to 100,000 messages, replayed into a fresh embedded broker
  (topics created, every message confirmed), i.e. what ``jiandu broker`` / ``jiandu run`` wait for at start.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from adapters.jsonl import ingest_jsonl
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.hub import create_topics, new_intake
from jiandu.journal import JournalEntry, JournalWriter, read_journal
from jiandu.settings import Settings

__all__ = ["run"]

_REPLAY_MESSAGES = 100_000


def run(persons: int = 4000) -> dict[str, float]:
    """Measure once; returns the figures (also printed)."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jiandu-bench-journal-", dir=".") as tmp:
        work = Path(tmp)
        for block in (1, 100, 5000):
            figures[f"append, blocks of {block} (messages/s)"] = _append_rate(work / f"append-{block}", block)
        history = work / "history.jsonl"
        _simulate(history, persons)
        for journal in ("off", "on"):
            rate, _ = _ingest(work / f"ingest-{journal}", history, journal)
            figures[f"ingest, journal {journal} (records/s)"] = rate
        figures["replay of 100k messages (s)"] = _replay(work / "ingest-on", work / "replay")
    for name, value in figures.items():
        print(f"journal: {name}: {value:,.1f}")
    return figures


def _append_rate(directory: Path, block: int) -> float:
    writer = JournalWriter(directory, writer="bench", topic_prefix="b", partitions=4)
    value = b"v" * 400
    total = max(block * 20, 2000)
    started = time.perf_counter()
    for start in range(0, total, block):
        writer.append(JournalEntry("b.events.x", n % 4, b"k%d" % n, value, n) for n in range(start, start + block))
    seconds = time.perf_counter() - started
    writer.close()
    return total / seconds


def _simulate(out: Path, persons: int) -> None:
    from datetime import datetime

    from jiandu.simulate import generate_history

    start = datetime.fromisoformat("2024-01-01T00:00:00+08:00")
    generate_history(seed=3, persons=persons, start=start, days=120, pseudonym_key=b"bench").to_jsonl(out)


def _settings(data_dir: Path, journal: str) -> Settings:
    return Settings(data_dir=data_dir, broker_port=find_free_port(), pseudonym_key="bench", journal=journal)


def _ingest(data_dir: Path, history: Path, journal: str) -> tuple[float, int]:
    settings = _settings(data_dir, journal)
    with EmbeddedBroker(settings.broker_port, log_path=data_dir / "tansu.log"):
        create_topics(settings)
        publisher, intake = new_intake(settings, adapter="bench")
        started = time.perf_counter()
        with publisher:
            report = ingest_jsonl([history], intake)
        seconds = time.perf_counter() - started
    return (report.accepted + report.rejected) / seconds, report.accepted


def _replay(ingested: Path, data_dir: Path) -> float:
    entries = list(read_journal(ingested / "journal"))
    settings = _settings(data_dir, "on")
    writer = JournalWriter(settings.journal_dir, writer="bench", topic_prefix="jiandu", partitions=4)
    written = 0
    while written < _REPLAY_MESSAGES:
        chunk = entries[: _REPLAY_MESSAGES - written]
        writer.append(chunk)
        written += len(chunk)
    writer.close()
    broker = EmbeddedBroker(settings.broker_port, log_path=data_dir / "tansu.log", journal_dir=settings.journal_dir)
    started = time.perf_counter()
    broker.start(timeout=600)
    seconds = time.perf_counter() - started
    replayed = broker.replayed.messages if broker.replayed else 0
    broker.stop()
    assert replayed == _REPLAY_MESSAGES, replayed
    return seconds
