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

from adapters.files import SHIPPED_MAPPINGS, FileDrop, FileSeal, RowMapper, load_mapping
from adapters.files.reading import csv_cells
from adapters.jsonl import ingest_jsonl
from consumers.dead_letters import DeadLetter, ResubmissionLedger, read_dead_letters
from jiandu.broker import EmbeddedBroker
from jiandu.cli.dlq import ledger_path, resubmit_letters
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.identity import Pseudonymiser, id_check_character, make_id_number
from jiandu.core.sealing import PayloadSeal
from jiandu.core.validation import to_event
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


def dlq_run(settings: Settings, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(settings.to_env())
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "dlq", *args], env=env, capture_output=True, text=True, timeout=40
    )


def dlq(settings: Settings, *args: str, pythonpath: Path | None = None) -> str:
    done = dlq_run(settings, *args, pythonpath=pythonpath)
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


JUDGMENT_TITLE = "沈阳市和平区人民法院 刑事判决生效信息 导出时间：2024年3月5日"
JUDGMENT_HEADER = (
    "序号,案号,被告人姓名,被告人身份证号,罪名代码,罪名,刑罚种类,有期徒刑(月),缓刑考验期(月),罚金(元),生效日期"
)
DEFENDANTS = [make_id_number("210102", date(1980, 1, 1 + i), 101 + i) for i in range(6)]
WRONG_DEFENDANT = DEFENDANTS[5][:-1] + ("0" if DEFENDANTS[5][-1] != "0" else "1")
JUDGMENTS = [  # the court started writing 判处缓刑 for probation; the mapping does not know the code yet
    f'1,(2024)辽0102刑初31号,甲,{DEFENDANTS[0]},0224,诈骗罪,有期徒刑,36,0,"20,000.00",2024年3月1日',
    f'1,(2024)辽0102刑初32号,乙,{DEFENDANTS[1]},0224,诈骗罪,判处缓刑,24,36,"10,000.00",2024年3月1日',
    f"2,(2024)辽0102刑初32号,丙,{DEFENDANTS[2]},0224,诈骗罪,判处缓刑,12,24,,2024年3月2日",
    f"1,(2024)辽0102刑初33号,丁,{DEFENDANTS[3]},0232,故意杀人罪,死缓,,,,2024年3月2日",
    f"1,(2024)辽0102刑初34号,戊,{DEFENDANTS[4]},0264,盗窃罪,判处缓刑,8,12,0,2024年2月30日",
    f"1,(2024)辽0102刑初35号,己,{WRONG_DEFENDANT},0264,盗窃罪,判处缓刑,8,12,0,2024年3月2日",
]
NO_CODE = "mapping court-judgments-local.yaml: column 刑罚种类 value '{}' has no code in sentence_type"
BAD_DATE = (
    "mapping court-judgments-local.yaml: column 生效日期 value '2024年2月30日' is not a valid date in the format "
    "%Y年%m月%d日"
)


def _drop_judgments(settings: Settings, tmp_path: Path) -> Path:
    """The court export through the file drop with a mapping that lacks 判处缓刑; returns the mapping file."""
    mapping = tmp_path / "mappings" / "court-judgments-local.yaml"
    mapping.parent.mkdir()
    mapping.write_text((SHIPPED_MAPPINGS / "court-judgments.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    export = tmp_path / "drop" / "court_210102" / "刑事判决生效_20240305.csv"
    export.parent.mkdir(parents=True)
    export.write_bytes(("\r\n".join([JUDGMENT_TITLE, JUDGMENT_HEADER, *JUDGMENTS]) + "\r\n").encode("gb18030"))
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="filedrop")
    with publisher:
        drop = FileDrop(
            export.parent.parent,
            intake,
            [load_mapping(mapping)],
            settle_seconds=0.0,
            seal=FileSeal(settings.pseudonym_key_bytes),
        )
        (receipt,) = drop.run(once=True)
    assert (receipt.document["accepted"], receipt.document["rejected"]) == (1, 5)
    return mapping


def _expected_events(mapping: Path, key: bytes, lines: list[int]) -> dict[str, Any]:
    """What a correct mapping makes of some rows (by their number in JUDGMENTS), by event id."""
    mapper = RowMapper(load_mapping(mapping), {"division": "210102"})
    events = {}
    for number in lines:
        cells, problem = csv_cells(JUDGMENT_HEADER, JUDGMENTS[number])
        assert problem is None
        event = to_event(mapper.map(cells).record, Pseudonymiser(key), 0)
        events[event.event_id] = event
    return events


def test_csv_rows_dead_lettered_for_a_missing_code_are_mapped_again_once_the_mapping_is_fixed(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    mapping = _drop_judgments(settings, tmp_path)
    first = {letter.origin.rsplit(":", 1)[1]: letter.reason for letter in letters_of(settings)}
    assert first == {
        "4": NO_CODE.format("判处缓刑"),
        "5": NO_CODE.format("判处缓刑"),
        "6": NO_CODE.format("死缓"),
        "7": BAD_DATE,
        "8": NO_CODE.format("判处缓刑"),
    }

    refused = dlq_run(settings, "resubmit")  # the shipped mappings do not hold it: nothing is sent
    assert refused.returncode == 1 and "court-judgments-local.yaml, which are not loaded" in refused.stderr
    assert "pass --mappings" in refused.stderr and "5 dead letters, 5 open" in dlq(settings, "summary")

    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace("    缓刑: PROBATION\n", "    缓刑: PROBATION\n    判处缓刑: PROBATION\n"), "utf-8")
    output = dlq(settings, "resubmit", "--mappings", str(mapping.parent))
    assert "accepted 2, rejected 3" in output and "5 of them file-drop rows" in output
    for raw in [*DEFENDANTS, WRONG_DEFENDANT]:
        assert raw not in output

    topic = catalogue_of(settings).event_topic("court.judgment_effective")
    codec = AvroCodec()
    events = {
        e.event_id: e
        for e in (codec.decode_event(m.split(b"\0", 1)[1]) for m in all_messages(settings.bootstrap, [topic]))
    }
    expected = _expected_events(mapping, settings.pseudonym_key_bytes, [0, 1, 2])
    assert events.keys() == expected.keys()
    for event_id, want in expected.items():
        got = events[event_id]
        fields = ("type", "source", "source_record_id", "jurisdiction", "occurred_at", "recorded_at", "body")
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields], event_id
    assert events["court:210102/court.judgment_effective/(2024)辽0102刑初32号#1"].body["sentence_type"] == "PROBATION"

    again = {letter.origin: letter.reason for letter in letters_of(settings) if letter.adapter == "dlq-resubmit"}
    origin = "filedrop:court_210102/刑事判决生效_20240305.csv:{}"
    assert again == {
        origin.format(6): NO_CODE.format("死缓"),
        origin.format(7): BAD_DATE,
        origin.format(8): "id_number: wrong check character",
    }
    assert "8 dead letters, 3 open" in dlq(settings, "summary")
    output = dlq(settings, "resubmit", "--mappings", str(mapping))  # still bad, and still self-sufficient
    assert "accepted 0, rejected 3" in output and NO_CODE.format("死缓") in output and BAD_DATE in output
