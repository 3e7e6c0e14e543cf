"""M15 BAIL_OVERDUE 取保候审超期 — a model declared only here, outside the package.

It shows that a new model of an existing shape needs no engine change: the tests
load it through JIANDU_MODEL_FILES (the README walks through it).
"""

from jiandu.models.conditions import all_of, field
from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

MODEL = FollowUpDeadline(
    id="M15",
    name="BAIL_OVERDUE",
    title_zh="取保候审超期",
    version="0.1.0",
    department="侦查监督",
    severity="MEDIUM",
    triggers=(On("police.coercive_measure", where=all_of(field("measure") == "BAIL", field("action") == "START")),),
    follow_ups=(
        On("police.coercive_measure", where=all_of(field("measure") == "BAIL", field("action") == "END")),
        On("police.coercive_measure", where=all_of(field("measure") == "ARREST", field("action") == "START")),
    ),
    same=("case_no",),
    params={"deadline_days": 365, "lookback_days": 0},
    summary_zh="{trigger_date}取保候审（案号{case_no}），最长不得超过十二个月，截至{last_day}未见解除或变更记录。",
    legal_basis_zh="《刑事诉讼法》第79条: 取保候审最长不得超过十二个月.",
)
