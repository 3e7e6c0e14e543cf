"""The file drop under hostile drops, against the real broker: limits per file, row and cell; no links followed."""

from __future__ import annotations

import json
import os
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from adapters.files import SHIPPED_MAPPINGS, FileDrop, FileSeal, load_mappings
from adapters.files.reading import RowLimits
from jiandu.broker import EmbeddedBroker
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.sealing import PayloadSeal
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.pipeline import all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "exports"
HEADER = "立案编号,案由代码,案由,犯罪嫌疑人身份证号,移送案件文号,立案日期,承办人\n"
GOOD_ROW = "A2101025300002024039901,0133,危险驾驶罪,21010319630413101X,,2024年3月1日,赵敏\n"


def _run(settings: Settings, drop: Path, work: Path, **limits: Any) -> dict[str, Any]:
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="filedrop")
    with publisher:
        file_drop = FileDrop(
            drop,
            intake,
            load_mappings(SHIPPED_MAPPINGS),
            settle_seconds=0.2,
            seal=FileSeal(settings.pseudonym_key_bytes),
            **limits,
        )
        return {f"{r.document['folder']}/{r.document['file']}": r.document for r in file_drop.run(once=True)}


def _dead_letters(settings: Settings) -> list[dict[str, Any]]:
    codec = AvroCodec()
    topic = catalogue_of(settings).dead_letters
    return [codec.decode(m.split(b"\0", 1)[1])[1] for m in all_messages(settings.bootstrap, [topic])]


def test_an_oversized_row_is_a_dead_letter_and_the_other_files_are_read(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    shutil.copytree(SAMPLES / "court_210102", drop / "court_210102")
    police = drop / "police_210102"
    police.mkdir()
    huge = "A1," + "x" * (30 * 1024 * 1024) + "\n"  # one 30 MB row (the report's was 200 MB)
    (police / "刑事立案_20240401.csv").write_text(HEADER + GOOD_ROW + huge + GOOD_ROW.replace("9901", "9902"))
    (police / "刑事立案_20240402.csv").write_text(
        HEADER + GOOD_ROW.replace("9901", "9903").replace(",,", "," + "x" * 5000 + ",")
    )
    settings = settings_for(broker.bootstrap, topic_prefix)
    tracemalloc.start()
    try:
        receipts = _run(settings, drop, tmp_path, row_limits=RowLimits(row_bytes=64 * 1024, field_chars=1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while reading a 30 MB row"
    big = receipts["police_210102/刑事立案_20240401.csv"]
    assert (big["rows"], big["accepted"], big["rejected"]) == (3, 2, 1)
    assert list(big["reasons"]) == [
        f"line 3 has {len(huge)} bytes: more than a row may have (JIANDU_FILEDROP_MAX_ROW_BYTES)"
    ]
    assert receipts["court_210102/刑事判决生效_20240301.csv"]["accepted"] == 4, "other agencies' files are read"
    letter = next(d for d in _dead_letters(settings) if d["origin"] == "police_210102/刑事立案_20240401.csv:3")
    assert len(PayloadSeal(settings.pseudonym_key_bytes).open(letter["payload_sealed"])) < 200 * 1024
    wide = receipts["police_210102/刑事立案_20240402.csv"]
    assert wide["rejected"] == 1 and "(JIANDU_FILEDROP_MAX_FIELD_CHARS)" in next(iter(wide["reasons"]))


def test_an_oversized_file_is_refused_unread_with_a_receipt(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    police = drop / "police_210102"
    police.mkdir(parents=True)
    (police / "刑事立案_20240401.csv").write_text(HEADER + GOOD_ROW * 200)
    settings = settings_for(broker.bootstrap, topic_prefix)
    receipts = _run(settings, drop, tmp_path, max_file_bytes=4096)
    receipt = json.loads((police / "refused" / "刑事立案_20240401.csv.receipt.json").read_text())
    assert receipts == {"police_210102/刑事立案_20240401.csv": receipt}
    assert receipt["moved_to"] == "refused/刑事立案_20240401.csv" and "rows" not in receipt, "never read"
    assert "more than 4096 (JIANDU_FILEDROP_MAX_FILE_BYTES)" in receipt["problem"]
    assert (police / "refused" / "刑事立案_20240401.csv").exists()


def test_hostile_json_lines_are_dead_letters(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    police = drop / "police_210102"
    police.mkdir(parents=True)
    good = '{"检测编号":"JC1","身份证号":"210106197410151106","检测时间":"20240301 23:41","血液酒精含量":112}\n'
    hostile = ["[" * 100_000, '{"a": ' + "[" * 5000 + "]" * 5000 + "}", '{"a": "\\ud800"}', '{"a": 1e400}']
    (police / "酒精检测_20240401.jsonl").write_text(good + "\n".join(hostile) + "\n" + good.replace("JC1", "JC2"))
    settings = settings_for(broker.bootstrap, topic_prefix)
    receipt = _run(settings, drop, tmp_path)["police_210102/酒精检测_20240401.jsonl"]
    assert (receipt["accepted"], receipt["rejected"]) == (2, 4)
    assert all(reason.startswith("not valid JSON") for reason in receipt["reasons"])


def test_links_are_never_followed(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    police = drop / "police_210102"
    police.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.symlink(secret, police / "刑事立案_20240401.csv")  # a linked file
    elsewhere = outside / "court_210102"
    shutil.copytree(SAMPLES / "court_210102", elsewhere)
    os.symlink(elsewhere, drop / "court_210102")  # a linked agency folder
    (drop / "social_210100").mkdir()
    os.symlink(outside, drop / "social_210100" / "done")  # a linked done/ folder
    shutil.copy(SAMPLES / "social_210100" / "养老金发放_202403.csv", drop / "social_210100")
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    settings = settings_for(broker.bootstrap, topic_prefix)

    receipts = _run(settings, drop, tmp_path)

    assert not any(k.startswith("court_210102/") for k in receipts), "a linked folder is not ingested"
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before, "nothing outside was touched"
    assert secret.read_text().startswith("root:")
    assert (police / "refused" / "刑事立案_20240401.csv").is_symlink()
    assert (
        "symbolic link"
        in json.loads((police / "refused" / "刑事立案_20240401.csv.receipt.json").read_text())["problem"]
    )
    assert not any(
        b"root:x:0:0" in PayloadSeal(settings.pseudonym_key_bytes).open(d["payload_sealed"])
        for d in _dead_letters_or_none(settings)
    )
    assert (drop / "social_210100" / "养老金发放_202403.csv").exists() or (drop / "social_210100" / "refused").exists()


def _dead_letters_or_none(settings: Settings) -> list[dict[str, Any]]:
    try:
        return _dead_letters(settings)
    except ValueError:  # an empty topic
        return []
