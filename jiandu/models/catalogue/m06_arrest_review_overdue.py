"""M06 ARREST_REVIEW_OVERDUE 审查逮捕超期.

The police requested arrest approval and the procuratorate recorded no decision on
that request (same person, same police case) within 7 days.
"""

from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

MODEL = FollowUpDeadline(
    id="M06",
    name="ARREST_REVIEW_OVERDUE",
    title_zh="审查逮捕超期",
    version="1.0.0",
    department="案件管理",
    severity="HIGH",
    triggers=(On("police.arrest_requested"),),
    follow_ups=(On("procuratorate.arrest_decided"),),
    same=("case_no",),
    params={"deadline_days": 7, "lookback_days": 0},
    summary_zh=(
        "{trigger_date}公安机关提请批准逮捕（案号{case_no}），应在{last_day}前作出是否批准逮捕的决定，"
        "期限届满未见审查逮捕决定记录，可能超期。"
    ),
    legal_basis_zh="《刑事诉讼法》第91条: 人民检察院应当自接到提请批准逮捕书后的七日以内作出决定.",
)
