"""Reading export files: encodings, rows and line numbers, completion, checkpoints."""

from __future__ import annotations

import collections
import importlib.util
import json
from datetime import date
from pathlib import Path

import pytest

from adapters.files import (
    SHIPPED_MAPPINGS,
    CheckpointStore,
    CompletionWatch,
    Progress,
    RowMapper,
    fingerprint,
    load_mapping,
    read_rows,
)
from adapters.leasing import SoleOwner
from jiandu.core.identity import make_id_number

PERSON = make_id_number("210102", date(1950, 5, 4), 17)
EXPORT = (
    "发放流水号,公民身份号码,姓名,发放年月,发放金额,发放日期,经办机构\r\n"
    f'YL1,{PERSON},何老汉,202403,"2,980.00",20240305,沈阳市社会保险事业服务中心\r\n'
    f"YL2,{PERSON},何老汉,202404,2980.00,20240405,沈阳市社会保险事业服务中心\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_each_encoding_is_detected_and_maps_to_the_same_records(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "养老金发放_202403.csv"
    path.write_bytes(EXPORT.encode(encoding))
    content = fingerprint(path)
    assert content.encoding == encoding
    rows = list(read_rows(path, content.encoding, file_format="csv"))
    assert [(r.line, r.last_line, r.problem) for r in rows] == [(2, 2, None), (3, 3, None)]
    assert rows[0].cells["姓名"] == "何老汉" and "发放流水号" in rows[0].cells, "the BOM is not part of the header"
    line_codec = "utf-8" if encoding == "utf-8-sig" else encoding  # the mark is at the start of the file only
    assert rows[0].raw == EXPORT.splitlines()[1].encode(line_codec), "the original bytes, for the sealed dead letter"
    mapper = RowMapper(load_mapping(SHIPPED_MAPPINGS / "social-pensions.yaml"), {"division": "210100"})
    records = [mapper.map(r.cells).record for r in rows]
    assert [(r["period"], r["amount_cny"]) for r in records] == [("2024-03", "2980.00"), ("2024-04", "2980.00")]


def test_gb18030_beyond_gbk_and_bytes_that_do_not_decode(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    rare = "𠀀"  # CJK Extension B: four bytes in GB18030, absent from GBK
    path.write_bytes(f"编号,名称\n1,{rare}\n".encode("gb18030") + b"2,\xff\xfe\n3,ok\n")
    content = fingerprint(path)
    assert content.encoding == "gb18030"
    rows = list(read_rows(path, content.encoding, file_format="csv"))
    assert rows[0].cells == {"编号": "1", "名称": rare}
    assert (rows[1].problem, rows[1].raw) == ("line 3 is not valid gb18030 text", b"2,\xff\xfe")
    assert rows[2].cells == {"编号": "3", "名称": "ok"}, "one bad line does not stop the file"


def test_csv_rows_with_line_breaks_in_quotes_wrong_cell_counts_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes('标题行\n编号,说明\n1,"第一行\n第二行"\n\n2,a,b\n3,c\n'.encode())
    rows = list(read_rows(path, "utf-8", file_format="csv", skip_lines=1))
    assert [(r.line, r.last_line) for r in rows] == [(3, 4), (6, 6), (7, 7)]
    assert rows[0].cells["说明"] == "第一行\n第二行"
    assert rows[0].raw == '1,"第一行\n第二行"'.encode()
    assert rows[1].problem == "csv: the row has 3 cells, the header (line 2) has 2"
    resumed = list(read_rows(path, "utf-8", file_format="csv", skip_lines=1, after_line=4))
    assert [r.line for r in resumed] == [6, 7], "resuming after a checkpoint skips the confirmed rows, keeps the header"
    assert resumed[1].cells == {"编号": "3", "说明": "c"}


def test_json_lines_rows(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    lines = [json.dumps({"编号": "1"}, ensure_ascii=False), "", "[1, 2]", "{not json", json.dumps({"编号": 2})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = list(read_rows(path, fingerprint(path).encoding, file_format="jsonl"))
    assert [r.line for r in rows] == [1, 3, 4, 5]
    assert rows[0].cells == {"编号": "1"}
    assert rows[1].problem == "a JSON line must be an object of column: value"
    assert rows[2].problem is not None and rows[2].problem.startswith("not valid JSON")
    assert [r.line for r in read_rows(path, "utf-8", file_format="jsonl", after_line=3)] == [4, 5]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_file_is_complete_after_the_settle_time_unchanged_or_with_a_done_marker(tmp_path: Path) -> None:
    clock = FakeClock()
    watch = CompletionWatch(settle_seconds=10, clock=clock)
    growing, marked = tmp_path / "a.csv", tmp_path / "b.csv"
    growing.write_text("编号\n1\n", encoding="utf-8")
    marked.write_text("编号\n1\n", encoding="utf-8")
    assert watch.check([growing, marked]) == ([], 2), "first seen now: waits the settle time"
    (tmp_path / "b.csv.done").touch()
    assert watch.check([growing, marked]) == ([marked], 1), "a marker completes a file at once"
    clock.now += 9
    with growing.open("a", encoding="utf-8") as handle:
        handle.write("2\n")
    assert watch.check([growing]) == ([], 1)
    clock.now += 9.9
    assert watch.check([growing]) == ([], 1), "the change restarted the settle time"
    clock.now += 0.2
    assert watch.check([growing]) == ([growing], 0)
    assert watch.check([tmp_path / "vanished.csv"]) == ([], 0)


def test_checkpoints_are_kept_per_folder_and_keyed_by_content() -> None:
    documents = SoleOwner()
    store = CheckpointStore(documents)
    progress = Progress(
        folder="social_210100",
        file="养老金发放_202403.csv",
        sha256="ab" * 32,
        size=10,
        encoding="gb18030",
        mapping="social-pensions.yaml",
        mapping_sha256="cd" * 32,
        started_at="2024-03-05T10:00:00+08:00",
    )
    assert store.load("social_210100", "ab" * 32) is None
    progress.add(line=501, rows=500, accepted=499, reasons=collections.Counter({"bad date": 1}))
    store.save(progress)
    other = Progress(**{**progress.to_json(), "sha256": "ef" * 32, "line": 7})
    store.save(other)
    assert sorted(documents.load("filedrop:social_210100")["files"]) == ["ab" * 32, "ef" * 32]  # type: ignore[index]
    loaded = store.load("social_210100", "ab" * 32)
    assert loaded == progress
    assert (loaded.line, loaded.rows, loaded.accepted, loaded.rejected) == (501, 500, 499, 1)
    store.discard(progress)
    assert store.load("social_210100", "ab" * 32) is None and store.load("social_210100", "ef" * 32) == other


def test_the_shipped_sample_exports_are_what_their_generator_writes(tmp_path: Path) -> None:
    samples = Path(__file__).resolve().parents[3] / "samples" / "exports"
    spec = importlib.util.spec_from_file_location("sample_exports", samples / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    written = generator.write_samples(tmp_path)
    assert {p.relative_to(tmp_path) for p in written} == {
        p.relative_to(samples) for p in samples.glob("*/*") if p.is_file()
    }, "every sample export comes from the generator"
    for path in written:
        relative = path.relative_to(tmp_path)
        assert path.read_bytes() == (samples / relative).read_bytes(), f"{relative}: run samples/exports/generate.py"
