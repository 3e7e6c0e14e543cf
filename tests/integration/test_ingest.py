"""Ingestion against the real broker: events, dead letters with reasons, sealed originals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.jsonl import ingest_jsonl
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.sealing import PayloadSeal
from jiandu.serde import AvroCodec
from tests.pipeline import CONFORMANCE, all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def test_conformance_records_become_events_and_exact_dead_letters(broker: EmbeddedBroker, topic_prefix: str) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix)
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="jsonl")
    with publisher:
        report = ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
    expected = {json.loads(line)["line"]: json.loads(line) for line in (CONFORMANCE / "expected-rejects.jsonl").open()}
    assert (report.accepted, report.rejected) == (5634 - len(expected), len(expected))

    codec = AvroCodec()
    seal = PayloadSeal(settings.pseudonym_key_bytes)
    lines = (CONFORMANCE / "records.jsonl").read_bytes().split(b"\n")
    catalogue = catalogue_of(settings)
    letters = [codec.decode(m.split(b"\0", 1)[1])[1] for m in all_messages(broker.bootstrap, [catalogue.dead_letters])]
    by_line = {int(letter["origin"].rsplit(":", 1)[1]): letter for letter in letters}
    assert by_line.keys() == expected.keys()
    for number, letter in by_line.items():
        assert letter["reason"].split(":")[0] == expected[number]["reason"].split(":")[0]
        assert letter["adapter"] == "jsonl"
        assert letter["source"] == expected[number].get("source")
        assert seal.open(letter["payload_sealed"]) == lines[number - 1], "the original bytes are kept, sealed"

    events = all_messages(broker.bootstrap, catalogue.event_topics())
    assert len(events) == report.accepted


def test_ingest_command_reports_counts_and_fails_on_unreadable_input(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    env = {**settings_for(broker.bootstrap, topic_prefix).to_env()}
    records = tmp_path / "two.jsonl"
    good = (CONFORMANCE / "records.jsonl").read_text().splitlines()[0]
    records.write_text(good + "\n{not json\n", encoding="utf-8")
    command = [sys.executable, "-m", "jiandu.cli", "ingest"]
    done = subprocess.run([*command, str(records)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "accepted 1, rejected 1" in done.stdout
    assert "not valid JSON" in done.stdout
    missing = subprocess.run(
        [*command, str(tmp_path / "nope.jsonl")], env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
