"""M10 ADMIN_CASE_NOT_TRANSFERRED 行刑衔接 以罚代刑.

An administrative agency penalised a violation whose quantity or amount reaches the
criminal prosecution threshold, and within 4 days the case was neither transferred
to the police nor filed by the police as a criminal case referring to it.
"""

from jiandu.models.conditions import param, reaches_threshold
from jiandu.models.declarations import EntityKind, On
from jiandu.models.shapes import FollowUpDeadline

#: violation code → the field compared and the criminal threshold (刑事立案追诉标准).
THRESHOLDS = {
    "ENV_HAZARDOUS_WASTE_DUMPING": {
        "field": "quantity",
        "at_least": "3",
        "offence_zh": "污染环境罪 (刑法 第338条)",
    },
    "NR_ILLEGAL_MINING": {
        "field": "amount_cny",
        "at_least": "100000",
        "offence_zh": "非法采矿罪 (刑法 第343条)",
    },
    "MARKET_COUNTERFEIT_SALES": {
        "field": "amount_cny",
        "at_least": "50000",
        "offence_zh": "生产、销售伪劣产品罪 (刑法 第140条)",
    },
    "EMERGENCY_FATAL_ACCIDENT": {
        "field": "quantity",
        "at_least": "1",
        "offence_zh": "重大责任事故罪 (刑法 第134条)",
    },
    "WATER_ILLEGAL_SAND_MINING": {
        "field": "amount_cny",
        "at_least": "100000",
        "offence_zh": "非法采矿罪 (刑法 第343条)",
    },
    "TAX_FALSE_INVOICE": {
        "field": "amount_cny",
        "at_least": "500000",
        "offence_zh": "虚开增值税专用发票罪 (刑法 第205条)",
    },
}

MODEL = FollowUpDeadline(
    id="M10",
    name="ADMIN_CASE_NOT_TRANSFERRED",
    title_zh="行刑衔接 以罚代刑",
    version="1.0.0",
    department="行政检察",
    severity="HIGH",
    entity=EntityKind.ADMIN_CASE,
    triggers=(On("admin.penalty_decided", where=reaches_threshold(param("thresholds"))),),
    follow_ups=(On("admin.case_transferred"), On("police.case_filed")),
    subject_field="party",
    case_field="admin_case_no",
    detail_fields=("quantity", "amount_cny"),
    params={"thresholds": THRESHOLDS, "deadline_days": 4, "lookback_days": None},
    summary_zh=(
        "{trigger_date}行政处罚决定（{admin_case_no}，违法行为{violation_code}）的数额或数量已达刑事追诉标准，"
        "截至{last_day}未见移送公安机关或公安机关立案的记录，可能以罚代刑。"
    ),
    legal_basis_zh=(
        "国务院《行政执法机关移送涉嫌犯罪案件的规定》第5条 (三日内作出批准移送决定, 二十四小时内移送)、"
        "第11条 (不得以行政处罚代替移送)."
    ),
)
