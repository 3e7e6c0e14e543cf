"""The file drop against the real broker: shipped exports become events, bad rows dead letters, files receipts;
``kill -9`` mid-file, a restart, and every record arrived exactly once by event id."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from adapters.files import SHIPPED_MAPPINGS, FileDrop, FileSeal, RowPayload, load_mappings
from jiandu.broker import EmbeddedBroker, high_watermarks
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.identity import make_id_number
from jiandu.core.identity_seal import generate_key_pair
from jiandu.core.sealing import PayloadSeal
from jiandu.core.timeutil import CST
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.pipeline import adapter_checkpoint, all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "exports"

#: file: (mapping, accepted source_record_ids, {line: dead-letter reason})
EXPECTED: dict[str, tuple[str, list[str], dict[int, str]]] = {
    "police_210102/刑事强制措施_20240301.csv": (
        "police-coercive-measures.yaml",
        ["QZ2024030101", "QZ2024030102", "QZ2024030103", "QZ2024030104", "QZ2024030105"],
        {
            7: "mapping police-coercive-measures.yaml: column 强制措施 value '拘传' has no code in measure",
            8: "mapping police-coercive-measures.yaml: column 执行时间 value '2024/2/30 22:10' is not a valid date "
            "in the format %Y/%m/%d %H:%M or %Y/%m/%d %H:%M:%S",
        },
    ),
    "police_210102/刑事立案_20240301.csv": (
        "police-case-filings.yaml",
        ["A2101025300002024030001", "A2101025300002024030002", "A2101025300002024030005"],
        {5: "suspects[1].id_number: wrong check character"},
    ),
    "police_210102/酒精检测_20240301.jsonl": (
        "police-alcohol-tests.yaml",
        ["JC20240301-0007", "JC20240302-0003"],
        {3: "mapping police-alcohol-tests.yaml: column 检测时间 is missing"},
    ),
    "procuratorate_210100/审查逮捕决定_20240306.csv": (
        "procuratorate-arrest-decisions.yaml",
        ["沈和检捕〔2024〕31号", "沈和检不捕〔2024〕7号"],
        {
            4: "mapping procuratorate-arrest-decisions.yaml: column 审查结论 value '退回补充侦查' "
            "has no code in decision"
        },
    ),
    "court_210102/刑事判决生效_20240301.csv": (
        "court-judgments.yaml",
        ["(2024)辽0102刑初15号#1", "(2024)辽0102刑初21号#1", "(2024)辽0102刑初21号#2", "(2024)辽0102刑初22号#1"],
        {
            7: "mapping court-judgments.yaml: column 刑罚种类 value '死缓' has no code in sentence_type",
            8: "mapping court-judgments.yaml: column 生效日期 value '2024年2月30日' is not a valid date "
            "in the format %Y年%m月%d日",
        },
    ),
    "court_210102/民事立案_20240304.csv": (
        "court-civil-filings.yaml",
        ["(2024)辽0102民初301号", "(2024)辽0102民初302号", "(2024)辽0102民初303号"],
        {5: "mapping court-civil-filings.yaml: column 案由 value '离婚纠纷' has no code in cause"},
    ),
    "prison_210100/出入所登记_20240301.csv": (
        "prison-movements.yaml",
        ["CR20240301001", "CR20240301002", "CR20240301003", "CR20240301004"],
        {6: "mapping prison-movements.yaml: column 变动类别 value '调监' has no code in type"},
    ),
    "correction_210102/社区矫正_20240301.csv": (
        "correction-register.yaml",
        ["SQ2024030001", "SQ2024030002", "SQ2024030003", "SQ2024030004"],
        {
            6: "mapping correction-register.yaml: column 矫正类别 value '9' has no code in correction_class",
            7: "mapping correction-register.yaml: column 矫正期满日期 value '20241301' is not a valid date "
            "in the format %Y%m%d",
        },
    ),
    "admin_210100/行政处罚决定_20240301.csv": (
        "admin-penalties.yaml",
        ["沈环罚〔2024〕12号", "沈市监罚〔2024〕45号", "沈税罚〔2024〕8号"],
        {5: "party.credit_code: wrong check character"},
    ),
    "social_210100/养老金发放_202403.csv": (
        "social-pensions.yaml",
        ["YL202403000001", "YL202403000002", "YL202403000003"],
        {5: "mapping social-pensions.yaml: column 发放年月 value '2024-3' is not a valid date in the format %Y%m"},
    ),
}
_ID_NUMBER = re.compile(rb"(?<![0-9A-Z])\d{17}[\dX](?![0-9A-Z])")


def _line(data: bytes, number: int) -> bytes:
    return data.split(b"\n")[number - 1].removesuffix(b"\r")


def test_shipped_exports_become_events_dead_letters_and_receipts(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    shutil.copytree(SAMPLES, drop, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    originals = {name: (drop / name).read_bytes() for name in EXPECTED}
    (drop / "police_210102" / "未知格式_20240301.csv").write_text("编号\n1\n", encoding="utf-8")
    (drop / "police_210102" / "刑事立案_20240302.csv.tmp").write_text("still being written", encoding="utf-8")
    _, reveal_public, _ = generate_key_pair(tmp_path / "reveal")  # numbers sealed for the console as well
    settings = settings_for(broker.bootstrap, topic_prefix, reveal_public_key=str(reveal_public))
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="filedrop")
    with publisher:
        file_drop = FileDrop(
            drop,
            intake,
            load_mappings(SHIPPED_MAPPINGS),
            settle_seconds=0.3,
            seal=FileSeal(settings.pseudonym_key_bytes),
        )
        receipts = {f"{r.document['folder']}/{r.document['file']}": r for r in file_drop.run(once=True)}

    assert receipts.keys() == {*EXPECTED, "police_210102/未知格式_20240301.csv"}
    unmatched = receipts.pop("police_210102/未知格式_20240301.csv")
    assert unmatched.moved_to == drop / "police_210102" / "unmatched" / "未知格式_20240301.csv"
    assert unmatched.document["problem"].startswith("no mapping applies to folder 'police_210102'")
    assert (drop / "police_210102" / "刑事立案_20240302.csv.tmp").exists(), "a .tmp file is never taken"
    for name, (mapping, accepted, rejected) in EXPECTED.items():
        receipt = receipts[name]
        assert receipt.moved_to == drop / (name.replace("/", "/done/") + ".sealed") and receipt.moved_to.exists()
        assert receipt.path == drop / (name.replace("/", "/done/") + ".receipt.json")
        assert not (drop / name).exists() and not (drop / name.replace("/", "/done/")).exists(), "no clear copy"
        assert json.loads(receipt.path.read_text(encoding="utf-8")) == receipt.document
        document = receipt.document
        assert document["mapping"] == mapping
        assert document["sha256"] == hashlib.sha256(originals[name]).hexdigest()
        assert (document["rows"], document["accepted"], document["rejected"]) == (
            len(accepted) + len(rejected),
            len(accepted),
            len(rejected),
        )
        assert document["reasons"] == dict(collections.Counter(rejected.values()))
        assert document["started_at"] <= document["finished_at"] and document["resumed_at"] == []

    codec = AvroCodec()
    catalogue = catalogue_of(settings)
    events = {}
    filled = sorted(
        {topic for (topic, _), end in high_watermarks(broker.bootstrap, catalogue.event_topics()).items() if end}
    )
    for topic in filled:
        for message in all_messages(broker.bootstrap, [topic]):
            event = codec.decode_event(message.split(b"\0", 1)[1])
            assert topic == catalogue.event_topic(event.type)
            events[event.event_id] = event
    expected_ids = {
        f"{name.split('_')[0]}:{name.split('_')[1][:6]}/{_type_of(receipts[name].document['mapping'], sid)}/{sid}"
        for name, (_, accepted, _) in EXPECTED.items()
        for sid in accepted
    }
    assert set(events) == expected_ids
    assert events["court:210102/court.judgment_effective/(2024)辽0102刑初21号#2"].body["sentence_type"] == "PROBATION"

    seal = PayloadSeal(settings.pseudonym_key_bytes)
    letters = [codec.decode(m.split(b"\0", 1)[1])[1] for m in all_messages(broker.bootstrap, [catalogue.dead_letters])]
    by_origin = {letter["origin"]: letter for letter in letters}
    assert len(by_origin) == len(letters) == sum(len(r) for _, _, r in EXPECTED.values())
    for name, (_, _, rejected) in EXPECTED.items():
        for line, reason in rejected.items():
            letter = by_origin[f"{name}:{line}"]
            assert letter["reason"] == reason
            assert (letter["adapter"], letter["source"]) == ("filedrop", name.split("/")[0].replace("_", ":"))
            payload = RowPayload.parse(seal.open(letter["payload_sealed"]))
            assert payload is not None and payload.row == _line(originals[name], line), "the original row, sealed"
            assert (payload.mapping, payload.origin) == (EXPECTED[name][0], f"{name}:{line}")
            if name.endswith(".csv"):  # the header line goes with the row: it can be mapped again
                skip = 1 if payload.mapping == "court-judgments.yaml" else 0
                header = _line(originals[name], 1 + skip).decode(payload.encoding.replace("-sig", ""))
                assert payload.header == header.removeprefix("\ufeff")

    raw_ids = {m for data in originals.values() for m in _ID_NUMBER.findall(data)}
    sealed = all_messages(broker.bootstrap, [catalogue.identities])
    assert sealed, "the numbers went to the console sealed"
    everything = all_messages(broker.bootstrap, [*catalogue.event_topics(), catalogue.dead_letters]) + sealed
    assert raw_ids and not [i for i in raw_ids for m in everything if i in m], "no raw ID number reaches Kafka"


def _type_of(mapping: str, source_record_id: str) -> str:
    by_mapping = {
        "police-coercive-measures.yaml": "police.coercive_measure",
        "police-case-filings.yaml": "police.case_filed",
        "police-alcohol-tests.yaml": "police.alcohol_test",
        "procuratorate-arrest-decisions.yaml": "procuratorate.arrest_decided",
        "court-judgments.yaml": "court.judgment_effective",
        "court-civil-filings.yaml": "court.civil_case_filed",
        "admin-penalties.yaml": "admin.penalty_decided",
        "social-pensions.yaml": "social.pension_paid",
    }
    if mapping == "prison-movements.yaml":
        return "prison.admitted" if source_record_id in ("CR20240301001", "CR20240301002") else "prison.released"
    if mapping == "correction-register.yaml":
        kinds = {"SQ2024030003": "correction.medical_review", "SQ2024030004": "correction.terminated"}
        return kinds.get(source_record_id, "correction.enrolled")
    return by_mapping[mapping]


ROWS = 20_000
CONFIRM_EVERY = 500


def _large_export(path: Path) -> tuple[set[str], int]:
    """A GB18030 pension export of ROWS rows, every 1000th with a bad month; (good record ids, bad rows)."""
    lines = ["发放流水号,公民身份号码,姓名,发放年月,发放金额,发放日期,经办机构"]
    good: set[str] = set()
    for i in range(ROWS):
        person = make_id_number("210102", date(1940, 1, 1) + timedelta(days=i % 4000), i % 1000)
        month = "2024-3" if i % 1000 == 999 else "202403"
        lines.append(f"YL{i:09d},{person},何老汉,{month},3250.60,20240305,沈阳市社会保险事业服务中心")
        if month == "202403":
            good.add(f"YL{i:09d}")
    path.parent.mkdir(parents=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return good, ROWS - len(good)


def test_kill_9_mid_file_then_restart_every_record_arrives_exactly_once(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    export = tmp_path / "drop" / "social_210100" / "养老金发放_202403.csv"
    good, bad = _large_export(export)
    export.with_name(export.name + ".done").touch()
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    sha256 = hashlib.sha256(export.read_bytes()).hexdigest()
    command = [sys.executable, "-m", "jiandu.cli", "filedrop", "--drop", str(tmp_path / "drop"), "--once"]
    command += ["--confirm-every", str(CONFIRM_EVERY)]
    env = settings.to_env()

    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            line_at_kill = _wait_for_checkpoint(settings, sha256, first, past=ROWS // 4)
            time.sleep(0.05)  # between two checkpoints: rows after the last one are in flight or on the broker
            os.kill(first.pid, signal.SIGKILL)
        finally:
            if first.poll() is None:
                os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    line_at_kill = _checkpointed_line(settings, sha256) or 0
    assert export.exists(), "killed mid-file: the export is still in the drop folder"
    assert 0 < line_at_kill < ROWS, "the checkpoint had moved past 0 but not to the end"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "resuming after line" in second.stderr
    receipt = json.loads((export.parent / "done" / f"{export.name}.receipt.json").read_text(encoding="utf-8"))
    assert (receipt["rows"], receipt["accepted"], receipt["rejected"]) == (ROWS, len(good), bad)
    assert len(receipt["resumed_at"]) == 1 and _checkpointed_line(settings, sha256) is None, "done: forgotten"

    codec = AvroCodec()
    topic = catalogue_of(settings).event_topic("social.pension_paid")
    ids = [codec.decode_event(m.split(b"\0", 1)[1]).event_id for m in all_messages(broker.bootstrap, [topic])]
    assert set(ids) == {f"social:210100/social.pension_paid/{sid}" for sid in good}, "no record missing, none extra"
    resent = len(ids) - len(set(ids))
    assert resent <= CONFIRM_EVERY, "only rows after the last checkpoint were sent twice"
    print(f"killed with the checkpoint at line {line_at_kill} of {ROWS + 1}; {resent} events sent twice, deduplicated")


def _checkpointed_line(settings: Settings, sha256: str) -> int | None:
    """The line of the file's checkpoint on the broker; None when it has none (not started, or done)."""
    files = (adapter_checkpoint(settings, "filedrop:social_210100") or {}).get("files", {})
    return int(files[sha256]["line"]) if sha256 in files else None


def _wait_for_checkpoint(settings: Settings, sha256: str, process: subprocess.Popen[bytes], *, past: int) -> int:
    """The checkpoint's line once it is beyond ``past``; fails if the adapter ends first."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        assert process.poll() is None, "the adapter finished before it could be killed mid-file"
        line = _checkpointed_line(settings, sha256) or 0
        if line > past:
            return line
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint beyond line {past} within 45 s")


def _jiandu(settings_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jiandu.cli", *args]
    return subprocess.run(command, env=settings_env, capture_output=True, text=True, timeout=60)


def _old_receipt(done: Path, name: str, days_ago: int) -> None:
    """A sealed file and its receipt, as a run ``days_ago`` days ago left them."""
    finished = datetime.now(CST) - timedelta(days=days_ago)
    (done / f"{name}.sealed").write_bytes(b"JDSEALF1 (content does not matter here)")
    document = {"file": name, "sha256": "0" * 64, "finished_at": finished.isoformat(timespec="seconds")}
    (done / f"{name}.receipt.json").write_text(json.dumps(document), encoding="utf-8")


def test_a_processed_gb18030_export_rests_only_sealed_and_an_auditor_unseals_its_exact_bytes(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    drop, export = tmp_path / "drop", tmp_path / "drop" / "social_210100" / "养老金发放_202403.csv"
    lines = ["发放流水号,公民身份号码,姓名,发放年月,发放金额,发放日期,经办机构"]
    persons = [make_id_number("210102", date(1940, 1, 1) + timedelta(days=i), i % 1000) for i in range(300)]
    for i, person in enumerate(persons):
        month = "2024-3" if i % 50 == 49 else "202403"  # some rows are dead-lettered: their letters are sealed
        lines.append(f"YL{i:09d},{person},何老汉,{month},3250.60,20240305,沈阳市社会保险事业服务中心")
    original = ("\r\n".join(lines) + "\r\n").encode("gb18030")
    export.parent.mkdir(parents=True)
    export.write_bytes(original)
    export.with_name(export.name + ".done").touch()
    (done := export.parent / "done").mkdir()
    _old_receipt(done, "养老金发放_202311.csv", days_ago=91)
    _old_receipt(done, "养老金发放_202312.csv", days_ago=89)
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", filedrop_retention_days=90)
    env = settings.to_env()

    run = _jiandu(env, "filedrop", "--drop", str(drop), "--once")
    assert run.returncode == 0, run.stderr
    assert "rows, accepted 294, rejected 6" in run.stdout and "done/养老金发放_202403.csv.sealed" in run.stdout
    assert "retention: deleted social_210100/done/养老金发放_202311.csv.sealed" in run.stderr
    assert sorted(p.name for p in done.iterdir()) == [
        "养老金发放_202312.csv.receipt.json",
        "养老金发放_202312.csv.sealed",
        "养老金发放_202403.csv.receipt.json",
        "养老金发放_202403.csv.sealed",
    ], "only what was processed more than 90 days ago is deleted"

    needles = {n.encode(encoding) for n in persons for encoding in ("utf-8", "gb18030")}
    assert all(n in original for n in needles)
    written = [p for root in (drop, settings.data_dir) for p in root.rglob("*") if p.is_file()]
    holding = [str(p) for p in written if any(n in p.read_bytes() for n in needles)]
    assert not holding, f"raw ID numbers rest in clear in {holding}"

    sealed, out = done / "养老金发放_202403.csv.sealed", tmp_path / "audit" / "养老金发放_202403.csv"
    out.parent.mkdir()
    unseal = _jiandu(env, "filedrop", "unseal", str(sealed), "--out", str(out))
    assert unseal.returncode == 0, unseal.stderr
    assert out.read_bytes() == original and hashlib.sha256(out.read_bytes()).hexdigest() in unseal.stdout
    again = _jiandu(env, "filedrop", "unseal", str(sealed), "--out", str(out))
    assert again.returncode == 2 and "exists: give a new file name (unseal never overwrites)" in again.stderr

    receipt = done / "养老金发放_202403.csv.receipt.json"
    for damage, message in (
        (lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:], "is damaged or was altered: chunk 0 does not authenticate"),
        (lambda b: b[:-40], "is damaged or was altered: chunk 0 does not authenticate"),
    ):
        broken = tmp_path / "broken.sealed"
        broken.write_bytes(damage(sealed.read_bytes()))
        options = ("--out", str(tmp_path / "x.csv"), "--receipt", str(receipt))
        refused = _jiandu(env, "filedrop", "unseal", str(broken), *options)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert not (tmp_path / "x.csv").exists()
