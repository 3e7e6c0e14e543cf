"""M09 MEDICAL_REVIEW_OVERDUE 暂予监外执行病情复查逾期.

A person serving a sentence outside prison for illness must have the illness
reviewed every ``review_interval_days`` (from the approval, 90 by default). A review
that finds the person no longer qualifies must be followed within 10 days by
committal to prison (NOT_COMMITTED otherwise).
"""

from jiandu.models.conditions import field
from jiandu.models.declarations import On
from jiandu.models.shapes import RecurringDeadline

MODEL = RecurringDeadline(
    id="M09",
    name="MEDICAL_REVIEW_OVERDUE",
    title_zh="暂予监外执行病情复查逾期",
    version="1.0.0",
    department="刑事执行检察",
    severity="MEDIUM",
    anchors=(On("court.outside_execution_approved", where=field("reason") == "ILLNESS"),),
    follow_ups=(On("correction.medical_review"),),
    renews=field("still_qualifies") == True,  # noqa: E712 (a condition on the field, not a comparison)
    interval_field="review_interval_days",
    ends=On("correction.terminated"),
    ended_reason="person terminated from correction",
    lapse=On("correction.medical_review", where=field("still_qualifies") == False),  # noqa: E712
    lapse_finding="NOT_COMMITTED",
    lapse_follow_ups=(
        On("prison.admitted", where=field("basis") == "REVOCATION"),
        On("correction.terminated", where=field("reason") == "COMMITTED_TO_PRISON"),
    ),
    params={"interval_days": 90, "lapse_days": 10},
    summary_zh={
        "MEDICAL_REVIEW_OVERDUE": (
            "保外就医罪犯（案号{case_no}）自{trigger_date}{trigger_zh}起应在{days}日内（{last_day}前）复查病情，"
            "期限届满未见病情复查记录，可能脱管或不再符合暂予监外执行条件。"
        ),
        "NOT_COMMITTED": (
            "{trigger_date}病情复查认定罪犯（案号{case_no}）已不符合暂予监外执行条件，应在{last_day}前收监执行，"
            "期限届满未见收监记录。"
        ),
    },
    legal_basis_zh=(
        "《刑事诉讼法》第268条 (暂予监外执行情形消失的应当收监); 《暂予监外执行规定》: 保外就医的罪犯每三个月复查病情."
    ),
)
