"""M03 REOFFENSE_UNDER_CORRECTION 社区矫正期间涉嫌再犯.

A criminal case was filed against, or a coercive measure started for, a person who
was under community correction at that moment: probation or parole may have to be
revoked.
"""

from jiandu.models.conditions import field
from jiandu.models.declarations import Interval, On
from jiandu.models.shapes import StateAtTrigger

UNDER_CORRECTION = Interval(opens=On("correction.enrolled"), closes=On("correction.terminated"))

MODEL = StateAtTrigger(
    id="M03",
    name="REOFFENSE_UNDER_CORRECTION",
    title_zh="社区矫正期间涉嫌再犯",
    version="1.0.0",
    department="刑事执行检察",
    severity="HIGH",
    triggers=(
        On("police.case_filed"),
        On("police.coercive_measure", where=field("action") == "START"),
    ),
    during=UNDER_CORRECTION,
    reason="person under community correction",
    summary_zh=(
        "{trigger_date}{trigger_zh}（案号{case_no}）涉及的人员自{opened_date}起正在接受社区矫正"
        "（原案号{opened_case_no}），可能在考验期内涉嫌再犯，应审查是否撤销缓刑、假释。"
    ),
    legal_basis_zh="《刑法》第77条、第86条 (缓刑、假释考验期内犯新罪的撤销); 《社区矫正法》.",
)
