"""A file-drop row's dead-letter payload: the row, its header and its mapping; mapped again as the mapping reads now."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from adapters.files import SHIPPED_MAPPINGS, Remapper, RowPayload, RowPayloads, fingerprint, load_mapping, read_rows
from adapters.files.reading import csv_header
from jiandu.core.identity import make_id_number
from jiandu.errors import ConfigurationError

PERSON = make_id_number("210102", date(1985, 3, 17), 241)
TITLE = "沈阳市和平区人民法院 刑事判决生效信息 导出时间：2024年3月5日"
HEADER = "序号,案号,被告人姓名,被告人身份证号,罪名代码,罪名,刑罚种类,有期徒刑(月),缓刑考验期(月),罚金(元),生效日期"
ROWS = [
    f'1,(2024)辽0102刑初21号,孙丽,{PERSON},0224,诈骗罪,缓刑,24,36,"10,000.00",2024年3月1日',
    f'2,(2024)辽0102刑初21号,"周\n强",{PERSON},0224,诈骗罪,死缓,,,,2024年3月1日',  # a quoted line break
    "3,(2024)辽0102刑初22号,吴敏",  # too few cells
]


def export(tmp_path: Path, lines: list[str], encoding: str = "gb18030") -> Path:
    path = tmp_path / "court_210102" / "刑事判决生效_20240301.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def payloads_of(path: Path, mapping_path: Path = SHIPPED_MAPPINGS / "court-judgments.yaml") -> list[RowPayload]:
    mapping, content = load_mapping(mapping_path), fingerprint(path)
    writer = RowPayloads(
        mapping,
        folder=path.parent.name,
        file=path.name,
        encoding=content.encoding,
        file_format="csv",
        header=csv_header(path, content.encoding, skip_lines=mapping.skip_lines),
    )
    rows = read_rows(path, content.encoding, file_format="csv", skip_lines=mapping.skip_lines)
    parsed = [RowPayload.parse(writer.of(row)) for row in rows]
    assert all(p is not None for p in parsed)
    return [p for p in parsed if p is not None]


def test_a_payload_keeps_the_exact_row_bytes_its_header_and_where_it_came_from(tmp_path: Path) -> None:
    path = export(tmp_path, [TITLE, HEADER, *ROWS])
    first, second, third = payloads_of(path)
    lines = path.read_bytes().split(b"\r\n")
    assert (first.row, second.row, third.row) == (lines[2], lines[3], lines[4])  # the quoted break is kept
    assert (first.format, first.mapping, first.encoding, first.header) == (
        "csv-row",
        "court-judgments.yaml",
        "gb18030",
        HEADER,
    )
    assert (second.origin, second.line) == ("court_210102/刑事判决生效_20240301.csv:4", 4)


def test_a_row_that_is_not_text_keeps_its_bytes_in_base64(tmp_path: Path) -> None:
    path = export(tmp_path, [TITLE, HEADER, ROWS[0]])
    path.write_bytes(path.read_bytes() + b"9,\xff\xfe broken\r\n")
    broken = payloads_of(path)[-1]
    assert broken.row == b"9,\xff\xfe broken"
    mapping = load_mapping(SHIPPED_MAPPINGS / "court-judgments.yaml")
    assert broken.cells(mapping) == ({}, "line 4 is not valid gb18030 text")


def test_other_payloads_are_not_row_payloads() -> None:
    canonical = json.dumps({"type": "court.execution_filed", "source": "court:210100"}).encode()
    for payload in (canonical, ROWS[0].encode("gb18030"), b"", b'{"format": "csv-row"}', b"[1, 2]"):
        assert RowPayload.parse(payload) is None


def test_a_row_is_mapped_again_through_its_mapping_as_it_reads_now(tmp_path: Path) -> None:
    path = export(tmp_path, [TITLE, HEADER, *ROWS])
    fixed = (SHIPPED_MAPPINGS / "court-judgments.yaml").read_text(encoding="utf-8")
    mapping_path = tmp_path / "court-judgments.yaml"
    mapping_path.write_text(fixed.replace("    缓刑: PROBATION\n", ""), encoding="utf-8")
    first, second, third = payloads_of(path, mapping_path)

    before = Remapper([load_mapping(mapping_path)])
    assert before.remap(first).problem == (
        "mapping court-judgments.yaml: column 刑罚种类 value '缓刑' has no code in sentence_type"
    )
    mapping_path.write_text(fixed, encoding="utf-8")  # the operator adds the code back
    after = Remapper([load_mapping(mapping_path)])
    again = after.remap(first)
    assert again.problem is None and again.record["sentence_type"] == "PROBATION"
    assert again.record["source"] == "court:210102" and again.record["source_record_id"] == "(2024)辽0102刑初21号#1"
    assert after.remap(second).problem == (
        "mapping court-judgments.yaml: column 刑罚种类 value '死缓' has no code in sentence_type"
    )
    unreadable = after.remap(third)
    assert (unreadable.problem, unreadable.rule) == ("csv: the row has 3 cells, the header has 11", "unreadable")
    assert unreadable.record == {"type": "court.judgment_effective", "source": "court:210102", "jurisdiction": "210102"}


def test_a_missing_mapping_or_one_that_no_longer_applies_is_said_plainly(tmp_path: Path) -> None:
    (payload,) = payloads_of(export(tmp_path, [TITLE, HEADER, ROWS[0]]))
    with pytest.raises(ConfigurationError, match=r"court-judgments.yaml, which are not loaded .* pass --mappings"):
        Remapper([load_mapping(SHIPPED_MAPPINGS / "social-pensions.yaml")]).require([payload])
    moved = tmp_path / "court-judgments.yaml"
    text = (SHIPPED_MAPPINGS / "court-judgments.yaml").read_text(encoding="utf-8")
    moved.write_text(text.replace("court_(?P<division>", "courts_(?P<division>"), encoding="utf-8")
    assert Remapper([load_mapping(moved)]).remap(payload).problem == (
        "mapping court-judgments.yaml no longer applies to folder 'court_210102' file '刑事判决生效_20240301.csv': "
        "fix its match, or the row cannot be mapped again"
    )


def test_json_lines_rows_are_mapped_again_too(tmp_path: Path) -> None:
    path = tmp_path / "police_210102" / "酒精检测_20240301.jsonl"
    path.parent.mkdir()
    line = {"检测编号": "JC1", "身份证号": PERSON, "检测时间": "2024-03-01 23:10", "血液酒精含量": "95"}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(line, ensure_ascii=False).encode() + b"\n")
    mapping = load_mapping(SHIPPED_MAPPINGS / "police-alcohol-tests.yaml")
    content = fingerprint(path)
    writer = RowPayloads(
        mapping, folder="police_210102", file=path.name, encoding=content.encoding, file_format="jsonl", header=None
    )
    (row,) = read_rows(path, content.encoding, file_format="jsonl")
    payload = RowPayload.parse(writer.of(row))
    assert payload is not None and payload.format == "jsonl-row" and payload.row == path.read_bytes()[:-1]
    assert payload.cells(mapping) == (row.cells, None)
