"""M01 DUI_NOT_FILED 醉驾未立案.

A driver's blood alcohol reached the drunk-driving threshold, and no criminal case
listing the person was filed within 30 days (a filing up to 30 days before counts).
An administrative penalty for the person in the same window suggests a penalty was
given instead of prosecution.
"""

from jiandu.models.conditions import field, param
from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

MODEL = FollowUpDeadline(
    id="M01",
    name="DUI_NOT_FILED",
    title_zh="醉驾未立案",
    version="1.0.0",
    department="侦查监督",
    severity="MEDIUM",
    triggers=(On("police.alcohol_test", where=field("bac_mg_per_100ml") >= param("bac_threshold")),),
    follow_ups=(On("police.case_filed"),),
    escalation=On("police.admin_penalty"),
    escalation_finding="PENALTY_INSTEAD_OF_PROSECUTION",
    escalation_severity="HIGH",
    detail_fields=("bac_mg_per_100ml",),
    params={"bac_threshold": "80", "deadline_days": 30, "lookback_days": 30},
    summary_zh={
        "DUI_NOT_FILED": (
            "{trigger_date}血液酒精检测（{test_no}）结果为{bac_mg_per_100ml}毫克/100毫升，已达醉酒驾驶标准，"
            "截至{last_day}未见对该人员立案的记录，可能有案不立。"
        ),
        "PENALTY_INSTEAD_OF_PROSECUTION": (
            "{trigger_date}血液酒精检测（{test_no}）结果为{bac_mg_per_100ml}毫克/100毫升，已达醉酒驾驶标准，"
            "截至{last_day}未见立案记录，同期却有对该人员的行政处罚，可能以罚代刑。"
        ),
    },
    legal_basis_zh="《刑法》第133条之一 危险驾驶罪; 血液酒精含量达到80毫克/100毫升以上属于醉酒驾驶.",
)
