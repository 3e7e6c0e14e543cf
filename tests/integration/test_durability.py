"""Nothing accepted is lost on the embedded default: the journal survives `kill -9` of the broker and refills it.

Each test runs its own embedded broker on a data directory of its own (the session broker
keeps running for the other tests), kills it with SIGKILL by pid and starts a new one on the
same directory, as `jiandu broker` and `jiandu run` do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.jsonl import ingest_jsonl
from consumers import read_leads
from jiandu.cli.backtest import advance_clock, wait_for_clock, wait_until_routed, write_leads
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.journal_compaction import compact_journal
from jiandu.serde import AvroCodec
from jiandu.settings import Settings, kafka_client_config
from streams import BACKTEST
from tests.faults import Hub, compare_open
from tests.pipeline import CONFORMANCE, all_messages

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

CLOCK_END = to_ms(parse_datetime("2025-03-01T00:00:00+08:00"))
WALL_CLOCK_FIELDS = ("raised_at", "detected_at", "updated_at")
_EXPORT_ENV = ("JIANDU_BROKER_PORT", "JIANDU_TOPIC_PREFIX", "JIANDU_PSEUDONYM_KEY", "JIANDU_DATA_DIR")


@pytest.fixture
def hub(tmp_path: Path, topic_prefix: str) -> Iterator[Hub]:
    running = Hub(tmp_path / "data", topic_prefix)
    running.start_broker()
    try:
        yield running
    finally:
        running.stop()


def _accepted_messages(settings: Settings) -> list[bytes]:
    catalogue = catalogue_of(settings)
    return sorted(all_messages(settings.bootstrap, [*catalogue.event_topics(), catalogue.dead_letters]))


def _finish(settings: Settings, worker: WorkerProcess) -> dict[str, dict[str, Any]]:
    wait_until_routed(settings, worker, timeout=120, show_progress=False)
    publisher, _ = new_intake(settings, adapter="test")
    with publisher:
        advance_clock(settings, publisher, CLOCK_END)
    wait_for_clock(settings, CLOCK_END, worker, timeout=120, show_progress=False)
    leads = read_leads(kafka_client_config(settings), catalogue_of(settings).leads)
    return {
        lead_id: {k: v for k, v in lead.to_json().items() if k not in WALL_CLOCK_FIELDS}
        for lead_id, lead in leads.items()
        if lead.status == "OPEN"
    }


def test_every_accepted_record_is_back_after_kill_9_of_the_broker(hub: Hub) -> None:
    create_topics(hub.settings)
    publisher, intake = new_intake(hub.settings, adapter="jsonl")
    with publisher:
        report = ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
    before = _accepted_messages(hub.settings)
    assert len(before) == report.accepted + report.rejected > 5000

    hub.kill_broker()
    broker = hub.start_broker()

    assert broker.replayed is not None and broker.replayed.messages == len(before)
    assert _accepted_messages(hub.settings) == before  # same keys, same bytes, nothing more


def test_a_worker_restarted_against_the_replayed_broker_ends_with_the_same_open_leads(hub: Hub, tmp_path: Path) -> None:
    create_topics(hub.settings)
    first = WorkerProcess(hub.settings, mode=BACKTEST, log_path=tmp_path / "worker-1.log").start()
    second = WorkerProcess(hub.settings, mode=BACKTEST, log_path=tmp_path / "worker-2.log")
    try:
        publisher, intake = new_intake(hub.settings, adapter="jsonl")
        with publisher:
            ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        before = _finish(hub.settings, first)
        assert len(before) > 50
        first.kill()  # the worker's state (its changelog) goes with the broker: it must rebuild from the events
        hub.kill_broker()
        hub.start_broker()
        second.start()
        after = _finish(hub.settings, second)
    finally:
        first.stop()
        second.stop()
    assert compare_open(after, before) is None  # exact, for every model
    _check_export(hub.settings, tmp_path)


def _check_export(settings: Settings, tmp_path: Path) -> None:
    """`jiandu leads export` writes the final state of every lead as `jiandu backtest --out` does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")} | {
        k: v for k, v in settings.to_env().items() if k in _EXPORT_ENV
    }
    out = tmp_path / "export.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "leads", "export", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    expected = tmp_path / "expected.jsonl"
    write_leads(read_leads(kafka_client_config(settings), catalogue_of(settings).leads).values(), expected)
    assert out.read_bytes() == expected.read_bytes() and out.stat().st_size > 0
    assert "leads (the last version of each" in done.stdout


def test_compaction_drops_what_was_accepted_twice_and_the_replay_still_has_every_event(hub: Hub) -> None:
    create_topics(hub.settings)
    for _ in range(2):  # an agency sends its whole export twice
        publisher, intake = new_intake(hub.settings, adapter="jsonl")
        with publisher:
            report = ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
    catalogue = catalogue_of(hub.settings)
    events = set(all_messages(hub.settings.bootstrap, catalogue.event_topics()))

    compacted = compact_journal(hub.settings.journal_dir)
    print(compacted)
    assert compacted.messages_before == 2 * (report.accepted + report.rejected)
    assert compacted.messages_after == len(_event_ids(events)) + 2 * report.rejected  # dead letters all kept
    hub.kill_broker()
    broker = hub.start_broker()

    assert broker.replayed is not None and broker.replayed.messages == compacted.messages_after
    replayed = set(all_messages(hub.settings.bootstrap, catalogue.event_topics()))
    assert replayed <= events and _event_ids(replayed) == _event_ids(events)


def _event_ids(messages: set[bytes]) -> set[str]:
    codec = AvroCodec()
    return {str(codec.decode(m.split(b"\0", 1)[1])[1]["event_id"]) for m in messages}
