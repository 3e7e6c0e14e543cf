"""Mapping files: loading and checking them, and rows mapped onto canonical records."""

from __future__ import annotations

import re
import textwrap
from datetime import date
from pathlib import Path

import pytest

from adapters.files import (
    SHIPPED_MAPPINGS,
    FormatMapping,
    RowMapper,
    fingerprint,
    load_mapping,
    load_mappings,
    read_rows,
)
from jiandu.core.identity import Pseudonymiser, credit_check_character, make_id_number
from jiandu.core.records import CATEGORIES, RECORD_TYPES
from jiandu.core.validation import to_event
from jiandu.errors import ConfigurationError

PERSON = make_id_number("210102", date(1985, 3, 17), 241)
OTHER = make_id_number("210103", date(1990, 7, 1), 12)
ORG = "91210102MA0TK2R5X" + credit_check_character("91210102MA0TK2R5X")


def shipped(name: str) -> FormatMapping:
    return load_mapping(SHIPPED_MAPPINGS / name)


def write_mapping(tmp_path: Path, text: str, name: str = "test-format.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


JUDGMENT_ROW = {
    "序号": "1",
    "案号": "(2024)辽0102刑初21号",
    "被告人姓名": "孙丽",
    "被告人身份证号": PERSON,
    "罪名代码": "0224",
    "罪名": "诈骗罪",
    "刑罚种类": "有期徒刑",
    "有期徒刑(月)": "36",
    "缓刑考验期(月)": "",
    "罚金(元)": "20,000.00",
    "生效日期": "2024年3月1日",
}


def test_every_shipped_mapping_loads_and_every_agency_category_has_one() -> None:
    mappings = load_mappings(SHIPPED_MAPPINGS)
    categories = {RECORD_TYPES[t].category for m in mappings for t in m.record_type.possible}
    assert categories == set(CATEGORIES)


def test_a_judgment_row_becomes_a_valid_canonical_record() -> None:
    mapper = RowMapper(shipped("court-judgments.yaml"), {"division": "210102"})
    mapped = mapper.map(JUDGMENT_ROW)
    assert mapped.problem is None
    assert mapped.record == {
        "type": "court.judgment_effective",
        "source": "court:210102",
        "source_record_id": "(2024)辽0102刑初21号#1",
        "jurisdiction": "210102",
        "occurred_at": "2024-03-01T00:00:00+08:00",
        "case_no": "(2024)辽0102刑初21号",
        "id_number": PERSON,
        "charge_code": "0224",
        "sentence_type": "PRISON",
        "prison_months": 36,
        "probation_months": 0,  # empty cell: the mapping's default
        "fine_cny": "20000.00",  # thousands separator dropped
    }
    assert "孙丽" not in mapped.record.values(), "unmapped columns (names) never leave the adapter"
    event = to_event(mapped.record, Pseudonymiser(b"k"), 0)
    assert event.event_id == "court:210102/court.judgment_effective/(2024)辽0102刑初21号#1"


def test_an_unknown_code_gives_a_reason_naming_the_mapping_column_value_and_table() -> None:
    mapper = RowMapper(shipped("court-judgments.yaml"), {"division": "210102"})
    mapped = mapper.map({**JUDGMENT_ROW, "刑罚种类": "死缓"})
    assert mapped.problem == "mapping court-judgments.yaml: column 刑罚种类 value '死缓' has no code in sentence_type"
    assert mapped.record["source"] == "court:210102", "the partial record still names the dead letter's source"
    assert mapped.record["source_record_id"] == "(2024)辽0102刑初21号#1"


@pytest.mark.parametrize(
    ("mapping", "column", "code", "field", "symbol"),
    [
        ("police-coercive-measures.yaml", "强制措施", "刑拘", "measure", "CRIMINAL_DETENTION"),
        ("police-coercive-measures.yaml", "强制措施", "指定居所监视居住", "measure", "RESIDENTIAL_SURVEILLANCE"),
        ("police-coercive-measures.yaml", "变动类型", "解除", "action", "END"),
        ("correction-register.yaml", "矫正类别", "1", "basis", "PROBATION"),
        ("correction-register.yaml", "矫正类别", "4", "basis", "OUTSIDE_EXECUTION"),
        ("court-judgments.yaml", "刑罚种类", "拘役", "sentence_type", "DETENTION_SENTENCE"),
        ("admin-penalties.yaml", "执法领域", "生态环境", "agency_domain", "ENVIRONMENT"),
        ("procuratorate-arrest-decisions.yaml", "审查结论", "不批准逮捕", "decision", "REJECTED"),
    ],
)
def test_agency_codes_become_enum_symbols(mapping: str, column: str, code: str, field: str, symbol: str) -> None:
    rows = {
        "police-coercive-measures.yaml": {
            "措施编号": "QZ1",
            "案件编号": "A1",
            "公民身份号码": PERSON,
            "强制措施": "刑拘",
            "变动类型": "执行",
            "执行时间": "2024/3/1 14:20",
        },
        "correction-register.yaml": {
            "业务编号": "SQ1",
            "业务类型": "入矫",
            "矫正机构编码": "SJ210102",
            "身份证号": PERSON,
            "原判案号": "(2024)辽0102刑初21号",
            "矫正类别": "1",
            "执行地区划代码": "210100",
            "矫正期满日期": "20270301",
            "业务日期": "20240305",
        },
        "court-judgments.yaml": JUDGMENT_ROW,
        "admin-penalties.yaml": {
            "处罚决定书文号": "沈环罚〔2024〕12号",
            "执法领域": "生态环境",
            "当事人证件号码": ORG,
            "违法行为代码": "ENV",
            "处罚决定日期": "2024/3/1",
        },
        "procuratorate-arrest-decisions.yaml": {
            "决定书文号": "D1",
            "公安机关案件编号": "A1",
            "犯罪嫌疑人身份证号": PERSON,
            "审查结论": "批准逮捕",
            "决定日期": "2024-03-06",
        },
    }
    mapped = RowMapper(shipped(mapping), {"division": "210102"}).map({**rows[mapping], column: code})
    assert mapped.problem is None
    assert mapped.record[field] == symbol
    to_event(mapped.record, Pseudonymiser(b"k"), 0)  # and it is a valid record


DATES = """\
match: {folder: 'x_(?P<division>\\d{6})', files: '*.csv'}
type: correction.leave_approved
constants: {source: 'correction:{division}', jurisdiction: '{division}'}
fields:
  source_record_id: 编号
  id_number: 身份证号
  occurred_at: {column: 批准时间, format: ['%Y年%m月%d日', '%Y%m%d', '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S%z']}
  start_date: {column: 开始日期, format: ['%Y年%m月%d日', '%Y%m%d', '%Y/%m/%d']}
  end_date: {column: 结束日期, format: '%Y%m%d'}
  dest_city: 目的地
"""


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2024年3月1日", "2024-03-01T00:00:00+08:00"),
        ("2024年03月01日", "2024-03-01T00:00:00+08:00"),
        ("20240301", "2024-03-01T00:00:00+08:00"),
        ("2024/3/1 14:20", "2024-03-01T14:20:00+08:00"),
        ("2024/03/01 09:05", "2024-03-01T09:05:00+08:00"),
        ("2024-03-01T06:20:00+00:00", "2024-03-01T06:20:00+00:00"),  # an offset in the text is kept
    ],
)
def test_date_and_time_formats(tmp_path: Path, text: str, instant: str) -> None:
    mapper = RowMapper(load_mapping(write_mapping(tmp_path, DATES)), {"division": "210102"})
    row = {"编号": "L1", "身份证号": PERSON, "批准时间": text, "开始日期": "2024/3/2", "结束日期": "20240305"}
    row["目的地"] = "110101"
    mapped = mapper.map(row)
    assert mapped.problem is None
    assert mapped.record["occurred_at"] == instant
    assert (mapped.record["start_date"], mapped.record["end_date"]) == ("2024-03-02", "2024-03-05")


@pytest.mark.parametrize("text", ["2024年2月30日", "2024/13/1 10:00", "3/1/2024", "2024-03-01 10:00", ""])
def test_a_bad_date_names_the_column_value_and_formats(tmp_path: Path, text: str) -> None:
    mapper = RowMapper(load_mapping(write_mapping(tmp_path, DATES)), {"division": "210102"})
    row = {"编号": "L1", "身份证号": PERSON, "批准时间": "20240301", "开始日期": text, "结束日期": "20240305"}
    mapped = mapper.map({**row, "目的地": "110101"})
    if text == "":
        assert mapped.problem is None and "start_date" not in mapped.record  # validation says it is missing
        return
    assert mapped.problem == (
        f"mapping test-format.yaml: column 开始日期 value {text!r} is not a valid date "
        "in the format %Y年%m月%d日 or %Y%m%d or %Y/%m/%d"
    )


def test_a_period_column_and_decimal_amounts() -> None:
    mapper = RowMapper(shipped("social-pensions.yaml"), {"division": "210100"})
    row = {
        "发放流水号": "YL1",
        "公民身份号码": PERSON,
        "发放年月": "202403",
        "发放金额": "2,980.50",
        "发放日期": "20240305",
    }
    assert mapper.map(row).record == {
        "type": "social.pension_paid",
        "source": "social:210100",
        "source_record_id": "YL1",
        "jurisdiction": "210100",
        "occurred_at": "2024-03-05T00:00:00+08:00",
        "id_number": PERSON,
        "period": "2024-03",
        "amount_cny": "2980.50",
    }


def test_list_columns_split_into_persons_and_parties() -> None:
    suspects = RowMapper(shipped("police-case-filings.yaml"), {"division": "210102"}).map(
        {
            "立案编号": "A1",
            "案由代码": "0224",
            "案由": "诈骗罪",
            "犯罪嫌疑人身份证号": f"{PERSON}、 {OTHER}；",
            "立案日期": "2024年3月2日",
        }
    )
    assert suspects.record["suspects"] == [{"id_number": PERSON}, {"id_number": OTHER}]
    assert "admin_case_ref" not in suspects.record, "an optional column that is absent reads as empty"
    civil = RowMapper(shipped("court-civil-filings.yaml"), {"division": "210102"}).map(
        {
            "案号": "C1",
            "案由": "民间借贷纠纷",
            "原告证件号码": f"{PERSON};{ORG}",
            "被告证件号码": OTHER,
            "诉讼标的额(元)": "120,000",
            "立案日期": "20240304",
        }
    )
    assert civil.record["plaintiffs"] == [{"id_number": PERSON}, {"credit_code": ORG}]
    assert civil.record["defendants"] == [{"id_number": OTHER}]


def test_a_type_column_picks_the_record_type_and_its_fields() -> None:
    mapper = RowMapper(shipped("prison-movements.yaml"), {"division": "210100"})
    row = {
        "登记流水号": "CR1",
        "监所编码": "KSS1",
        "监所类型": "看守所",
        "身份证号": PERSON,
        "案号": "A1",
        "收押依据": "",
        "刑期止日": "",
        "出所原因": "办案机关释放",
        "变动时间": "2024-03-02 10:00:00",
    }
    released = mapper.map({**row, "变动类别": "出所"})
    assert released.record["type"] == "prison.released"
    assert released.record["reason"] == "RELEASED_BY_CASE_AUTHORITY"
    assert "basis" not in released.record and "facility_type" not in released.record
    unknown = mapper.map({**row, "变动类别": "调监"})
    assert unknown.problem == "mapping prison-movements.yaml: column 变动类别 value '调监' has no code in type"
    assert unknown.record == {"source": "prison:210100", "jurisdiction": "210100"}


def test_missing_columns_and_bad_numbers_are_reasons_not_crashes() -> None:
    mapper = RowMapper(shipped("court-judgments.yaml"), {"division": "210102"})
    missing = {k: v for k, v in JUDGMENT_ROW.items() if k != "生效日期"}
    assert mapper.map(missing).problem == "mapping court-judgments.yaml: column 生效日期 is missing"
    months = mapper.map({**JUDGMENT_ROW, "有期徒刑(月)": "三年"})
    assert months.problem == "mapping court-judgments.yaml: column 有期徒刑(月) value '三年' is not a whole number"
    number = mapper.map({**JUDGMENT_ROW, "序号": ""})
    assert number.problem == "mapping court-judgments.yaml: column 序号 is empty (template of source_record_id)"


def test_booleans_by_code() -> None:
    mapper = RowMapper(shipped("correction-register.yaml"), {"division": "210102"})
    row = {"业务编号": "SQ3", "业务类型": "病情复查", "矫正机构编码": "SJ1", "身份证号": PERSON, "业务日期": "20240306"}
    assert mapper.map({**row, "复查结论": "不再符合"}).record["still_qualifies"] is False
    assert mapper.map({**row, "复查结论": "符合"}).record["still_qualifies"] is True


def test_json_values_are_read_like_cells() -> None:
    mapper = RowMapper(shipped("police-alcohol-tests.yaml"), {"division": "210102"})
    row = {"检测编号": "JC1", "身份证号": PERSON, "检测时间": "20240301 23:41", "血液酒精含量": 112, "车牌号": None}
    record = mapper.map(row).record
    assert record["bac_mg_per_100ml"] == "112"
    assert "plate_no" not in record
    nested = mapper.map({**row, "血液酒精含量": {"value": 1}})
    assert (
        nested.problem
        == "mapping police-alcohol-tests.yaml: column 血液酒精含量 holds a dict, not a text or a list of texts"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("measure: {column: 强制措施, codes: measure}", "measure: {column: 强制措施, codes: nope}"),
            "no code table 'nope'",
        ),
        (("刑拘: CRIMINAL_DETENTION", "刑拘: DETENTION"), "'刑拘' maps to 'DETENTION', not one of ARREST, BAIL"),
        (("  case_no: 案件编号\n", "  case_nr: 案件编号\n"), "no rule for required field case_no"),
        (("  id_number: 公民身份号码", "  id_number: 公民身份号码\n  plate_no: 车牌"), "plate_no is not a field of"),
        (("'police:{division}'", "'police:{unit}'"), "{unit} is not a named group of match.folder"),
        (("type: police.coercive_measure", "type: police.coercion"), "'police.coercion' is not a record type"),
        (("  action:\n", "  actoin:\n"), "no code table 'action'"),
        (("format: ['%Y/%m/%d %H:%M'", "formt: ['%Y/%m/%d %H:%M'"), "unknown key of fields.occurred_at 'formt'"),
    ],
)
def test_a_broken_mapping_file_fails_at_load_naming_file_and_problem(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    text = (SHIPPED_MAPPINGS / "police-coercive-measures.yaml").read_text(encoding="utf-8")
    assert change[0] in text
    path = write_mapping(tmp_path, text.replace(change[0], change[1], 1), "broken.yaml")
    with pytest.raises(ConfigurationError, match=r"^mapping broken\.yaml: ") as caught:
        load_mapping(path)
    assert problem in str(caught.value)


def test_codes_are_read_as_text_not_as_yaml_numbers_or_booleans(tmp_path: Path) -> None:
    text = (SHIPPED_MAPPINGS / "correction-register.yaml").read_text(encoding="utf-8")
    text = text.replace("'1': PROBATION", "01: PROBATION\n    NO: CONTROL")  # YAML 1.1 would read 1 and False
    mapper = RowMapper(load_mapping(write_mapping(tmp_path, text)), {"division": "210102"})
    row = {
        "业务编号": "SQ1",
        "业务类型": "入矫",
        "矫正机构编码": "SJ1",
        "身份证号": PERSON,
        "原判案号": "X",
        "执行地区划代码": "210100",
        "矫正期满日期": "20270301",
        "业务日期": "20240305",
    }
    assert mapper.map({**row, "矫正类别": "01"}).record["basis"] == "PROBATION"
    assert mapper.map({**row, "矫正类别": "NO"}).record["basis"] == "CONTROL"
    assert mapper.map({**row, "矫正类别": "1"}).problem is not None


def test_a_mapping_applies_by_folder_pattern_and_file_glob() -> None:
    mapping = shipped("court-judgments.yaml")
    assert mapping.captures("court_210102", "刑事判决生效_20240301.csv") == {"division": "210102"}
    assert mapping.captures("court_2101", "刑事判决生效_20240301.csv") is None
    assert mapping.captures("court_210102", "民事立案_20240301.csv") is None
    assert mapping.format_of("x.csv") == "csv"
    assert shipped("police-alcohol-tests.yaml").format_of("酒精检测.jsonl") == "jsonl"


def test_the_worked_example_of_the_mappings_readme(tmp_path: Path) -> None:
    readme = (SHIPPED_MAPPINGS / "README.md").read_text(encoding="utf-8")
    export = re.search(r"```csv\n(.*?)```", readme, re.S)
    mapping = re.search(r"```yaml\n(.*?)   ```", readme, re.S)
    assert export is not None and mapping is not None
    path = write_mapping(tmp_path, textwrap.dedent(mapping.group(1)), "police-traffic-penalties.yaml")
    csv_file = tmp_path / "police_210102" / "交通违法处罚_20240301.csv"
    csv_file.parent.mkdir()
    csv_file.write_bytes(export.group(1).encode("gb18030"))
    loaded = load_mapping(path)
    captures = loaded.captures("police_210102", csv_file.name)
    assert captures == {"division": "210102"}
    content = fingerprint(csv_file)
    rows = list(read_rows(csv_file, content.encoding, file_format=loaded.format_of(csv_file.name)))
    events = [to_event(RowMapper(loaded, captures).map(r.cells).record, Pseudonymiser(b"k"), 0) for r in rows]
    assert [e.event_id for e in events] == [
        "police:210102/police.admin_penalty/沈公交决字〔2024〕第000123号",
        "police:210102/police.admin_penalty/沈公交决字〔2024〕第000124号",
    ]
    assert events[1].body["violation_code"] == "1625"
