"""M02 CORRECTION_NOT_ENROLLED 社区矫正漏管.

A community sentence, parole or outside execution took effect, and the person
did not report to a community correction agency within 10 days.
"""

from jiandu.models.conditions import field
from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

MODEL = FollowUpDeadline(
    id="M02",
    name="CORRECTION_NOT_ENROLLED",
    title_zh="社区矫正漏管",
    version="1.0.0",
    department="刑事执行检察",
    severity="HIGH",
    triggers=(
        On("court.judgment_effective", where=field("sentence_type").one_of("PROBATION", "CONTROL")),
        On("court.parole_granted"),
        On("court.outside_execution_approved"),
    ),
    follow_ups=(On("correction.enrolled"),),
    params={"deadline_days": 10, "lookback_days": 0},
    summary_zh=(
        "{trigger_date}{trigger_zh}（案号{case_no}），社区矫正对象应在{last_day}前到执行地社区矫正机构报到，"
        "期限届满未见报到（接收）记录，可能脱管漏管。"
    ),
    legal_basis_zh="《社区矫正法》第21条: 社区矫正对象应当自判决、裁定生效之日起十日内到执行地社区矫正机构报到.",
)
