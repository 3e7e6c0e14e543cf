"""`jiandu dlq` against the real broker: planted bad records listed, counted and re-submitted once fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.jsonl import ingest_jsonl
from consumers.dead_letters import DeadLetter, ResubmissionLedger, read_dead_letters
from jiandu.broker import EmbeddedBroker
from jiandu.cli.dlq import ledger_path, resubmit_letters
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.identity import id_check_character, make_id_number
from jiandu.core.sealing import PayloadSeal
from jiandu.serde import AvroCodec
from jiandu.settings import Settings, kafka_client_config
from tests.pipeline import all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

GOOD = make_id_number("210102", date(1985, 3, 17), 241)
OTHER = make_id_number("210103", date(1990, 6, 30), 517)
WRONG_GOOD, WRONG_OTHER = (n[:-1] + ("0" if n[-1] != "0" else "1") for n in (GOOD, OTHER))
RAW_IDS = (GOOD, OTHER, WRONG_GOOD, WRONG_OTHER)

FIX_MODULE = """
import json
from jiandu.core.identity import id_check_character

def fix_check_character(raw, letter):
    record = json.loads(raw)
    record["id_number"] = record["id_number"][:17] + id_check_character(record["id_number"][:17])
    return record
"""


def execution(number: str, source: str = "court:210100", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "court.execution_filed",
        "source": source,
        "source_record_id": f"E-{number}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "jurisdiction": source.split(":")[1],
        "execution_no": f"E-{number}",
        "case_no": f"(2024)辽01刑初{number}号",
        "id_number": GOOD,
    }
    record.update(changes)
    return record


def plant(settings: Settings, tmp_path: Path) -> None:
    """One good record and four bad ones: two wrong check characters, a missing field, broken JSON."""
    lines = [
        execution("1"),
        execution("2", id_number=WRONG_GOOD),
        execution("3", id_number=WRONG_OTHER),
        execution("4", source="court:210200", case_no=None),
    ]
    path = tmp_path / "planted.jsonl"
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + '\n{"type": "court.\n'
    path.write_text(text, encoding="utf-8")
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="jsonl")
    with publisher:
        report = ingest_jsonl([path], intake)
    assert (report.accepted, report.rejected) == (1, 4)


def dlq(settings: Settings, *args: str, pythonpath: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(settings.to_env())
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "dlq", *args], env=env, capture_output=True, text=True, timeout=40
    )
    assert done.returncode == 0, done.stderr
    for raw in RAW_IDS:
        assert raw not in done.stdout and raw not in done.stderr, "a raw ID number was printed"
    return done.stdout


def letters_of(settings: Settings) -> list[DeadLetter]:
    return read_dead_letters(kafka_client_config(settings), catalogue_of(settings).dead_letters)


def test_list_and_summary_show_reasons_and_never_an_id_number(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    plant(settings, tmp_path)
    listing = dlq(settings, "list")
    assert listing.count("id_number: wrong check character") == 2
    assert "missing required field case_no" in listing and "not valid JSON" in listing
    assert "court:210200" in listing and "planted.jsonl:4" in listing and "court.execution_filed" in listing
    assert "4 of 4 dead letters" in listing
    assert "1 of 1 dead letters" in dlq(settings, "list", "--source", "court:2102")
    assert "2 of 2 dead letters" in dlq(settings, "list", "--reason", "CHECK character")
    assert "1 of 4 dead letters" in dlq(settings, "list", "--limit", "1")
    summary = dlq(settings, "summary")
    rows = {parts[3]: parts[:2] for parts in (line.split(None, 3) for line in summary.splitlines()[1:-1])}
    assert rows["id_number: wrong check character"] == ["2", "2"]
    assert rows["missing required field case_no"] == ["1", "1"]
    assert "4 dead letters, 4 open" in summary


def test_resubmit_with_a_transform_gets_fixed_records_accepted(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    plant(settings, tmp_path)

    def fix_check_character(raw: bytes, letter: DeadLetter) -> dict[str, Any]:
        record = json.loads(raw)
        record["id_number"] = record["id_number"][:17] + id_check_character(record["id_number"][:17])
        return dict(record)

    wrong = [letter for letter in letters_of(settings) if "check character" in letter.reason]
    publisher, intake = new_intake(settings, adapter="dlq-resubmit")
    seal = PayloadSeal(settings.pseudonym_key_bytes)
    with publisher, ResubmissionLedger(ledger_path(settings)) as ledger:
        report = resubmit_letters(wrong, intake, seal, ledger, fix_check_character)
        assert (report.accepted, report.rejected) == (2, 0)
        again = resubmit_letters(wrong, intake, seal, ledger, fix_check_character)
        assert (again.accepted, again.rejected) == (0, 0), "a letter is re-submitted once"

    topic = catalogue_of(settings).event_topic("court.execution_filed")
    events = [AvroCodec().decode(m.split(b"\0", 1)[1])[1] for m in all_messages(settings.bootstrap, [topic])]
    assert {e["source_record_id"] for e in events} == {"E-1", "E-2", "E-3"}
    listing = dlq(settings, "list")
    assert listing.count(" accepted ") == 2 and "2 open" in dlq(settings, "summary")


def test_resubmit_command_dead_letters_what_is_still_bad_and_takes_a_transform(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    plant(settings, tmp_path)
    unchanged = dlq(settings, "resubmit", "--source", "court:2102")
    assert "accepted 0, rejected 1" in unchanged and "missing required field case_no" in unchanged
    again = [letter for letter in letters_of(settings) if letter.adapter == "dlq-resubmit"]
    assert len(again) == 1 and again[0].origin == "jsonl:planted.jsonl:4" and again[0].source == "court:210200"
    assert again[0].reason == "missing required field case_no"

    (tmp_path / "fixes.py").write_text(FIX_MODULE, encoding="utf-8")
    fixed = dlq(
        settings, "resubmit", "--reason", "check", "--transform", "fixes:fix_check_character", pythonpath=tmp_path
    )
    assert "accepted 2, rejected 0" in fixed
    summary = dlq(settings, "summary")
    assert "5 dead letters, 2 open" in summary, summary  # the broken JSON line and the re-dead-lettered record
