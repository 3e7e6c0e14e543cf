"""M08 FINE_NOT_EXECUTED 财产刑未移送执行.

A judgment with a fine took effect, and within 30 days neither an execution filing
nor any payment (even partial) for that person and case was recorded.
"""

from jiandu.models.conditions import field
from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

MODEL = FollowUpDeadline(
    id="M08",
    name="FINE_NOT_EXECUTED",
    title_zh="财产刑未移送执行",
    version="1.0.0",
    department="刑事执行检察",
    severity="LOW",
    triggers=(On("court.judgment_effective", where=field("fine_cny") > 0),),
    follow_ups=(On("court.execution_filed"), On("court.property_penalty_executed")),
    same=("case_no",),
    detail_fields=("fine_cny",),
    params={"deadline_days": 30, "lookback_days": 0},
    summary_zh=(
        "{trigger_date}判决生效（案号{case_no}），判处罚金{fine_cny}元，截至{last_day}未见财产刑执行立案"
        "或执行到位的记录，可能未移送执行。"
    ),
    legal_basis_zh=(
        "《刑事诉讼法》第264条; 最高人民法院《关于刑事裁判涉财产部分执行的若干规定》第7条 (材料齐全的, 七日内立案)."
    ),
)
