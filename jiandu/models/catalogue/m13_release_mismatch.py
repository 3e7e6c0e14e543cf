"""M13 RELEASE_MISMATCH 违法释放 / 刑满未释放.

A prisoner was released before the sentence end adjusted by commutations, or on
parole / outside execution without the court's ruling; or was not released by the
day after the adjusted sentence end.
"""

from jiandu.models.declarations import On
from jiandu.models.shapes import SentenceRelease

MODEL = SentenceRelease(
    id="M13",
    name="RELEASE_MISMATCH",
    title_zh="违法释放 / 刑满未释放",
    version="1.0.0",
    department="刑事执行检察",
    severity="HIGH",
    admissions=On("prison.admitted"),
    end_field="sentence_end",
    releases=On("prison.released"),
    reason_field="reason",
    completed_reason="SENTENCE_COMPLETED",
    rulings=On("court.commutation_ruled"),
    months_field="reduced_months",
    ruling_for_reason={
        "PAROLE": On("court.parole_granted"),
        "OUTSIDE_EXECUTION": On("court.outside_execution_approved"),
    },
    early_finding="EARLY_RELEASE",
    unruled_finding="RELEASE_WITHOUT_RULING",
    not_released_finding="NOT_RELEASED",
    params={"evaluate_after_days": 3, "release_grace_days": 1},
    summary_zh={
        "EARLY_RELEASE": (
            "{trigger_date}以刑满为由释放（案号{case_no}），但经减刑调整后的刑期应至{adjusted_end}届满，"
            "可能提前违法释放。"
        ),
        "RELEASE_WITHOUT_RULING": (
            "{trigger_date}以{release_reason}为由释放（案号{case_no}），未见人民法院相应的假释裁定或暂予监外执行决定，"
            "可能违法释放。"
        ),
        "NOT_RELEASED": (
            "罪犯（案号{case_no}）经减刑调整后的刑期于{adjusted_end}届满，截至{last_day}未见释放记录，可能刑满未释放。"
        ),
    },
    legal_basis_zh="《刑事诉讼法》第276条 人民检察院对执行机关执行刑罚的活动是否合法实行监督; 《监狱法》.",
)
