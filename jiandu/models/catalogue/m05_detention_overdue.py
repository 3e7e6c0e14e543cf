"""M05 DETENTION_OVERDUE 刑拘超期未提请逮捕.

A criminal detention started and, within the days allowed to request arrest
approval (3, raised by the record or by the latest approved extension), the
police neither requested arrest, ended the detention, changed the measure to
bail or residential surveillance, nor released the person — for the same case.
"""

from jiandu.models.conditions import all_of, any_of, field
from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

_DETENTION_STARTS = all_of(field("measure") == "CRIMINAL_DETENTION", field("action") == "START")
_DETENTION_ENDS = any_of(
    all_of(field("measure") == "CRIMINAL_DETENTION", field("action") == "END"),
    all_of(field("measure").one_of("BAIL", "RESIDENTIAL_SURVEILLANCE"), field("action") == "START"),
)

MODEL = FollowUpDeadline(
    id="M05",
    name="DETENTION_OVERDUE",
    title_zh="刑拘超期未提请逮捕",
    version="1.0.0",
    department="侦查监督",
    severity="HIGH",
    triggers=(On("police.coercive_measure", where=_DETENTION_STARTS),),
    follow_ups=(
        On("police.arrest_requested"),
        On("police.coercive_measure", where=_DETENTION_ENDS),
        On("prison.released"),
    ),
    same=("case_no",),
    days_field="request_limit_days",
    extension=On("police.detention_extended"),
    params={"deadline_days": 3, "lookback_days": 0},
    summary_zh=(
        "{trigger_date}刑事拘留（案号{case_no}），提请批准逮捕的期限为{days}日，应在{last_day}前提请批准逮捕"
        "或变更、解除强制措施，期限届满未见相关记录，可能超期羁押。"
    ),
    legal_basis_zh=(
        "《刑事诉讼法》第91条: 拘留后三日内提请批准逮捕, 特殊情况延长一至四日, "
        "流窜、多次、结伙作案的重大嫌疑分子延长至三十日."
    ),
)
