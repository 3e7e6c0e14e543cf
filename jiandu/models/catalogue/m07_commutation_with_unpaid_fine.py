"""M07 COMMUTATION_WITH_UNPAID_FINE 减刑假释财产刑未履行.

A prison proposed commutation or parole although the fine of the judgment had not
been paid in full by the day of the proposal. Payments recorded up to three days
later (late uploads) are taken into account, if they occurred by the proposal.
"""

from jiandu.models.declarations import On
from jiandu.models.shapes import ShortfallAtTrigger

MODEL = ShortfallAtTrigger(
    id="M07",
    name="COMMUTATION_WITH_UNPAID_FINE",
    title_zh="减刑假释财产刑未履行",
    version="1.0.0",
    department="刑事执行检察",
    severity="MEDIUM",
    triggers=(On("prison.commutation_proposed"),),
    required=On("court.judgment_effective"),
    required_field="fine_cny",
    payments=On("court.property_penalty_executed"),
    paid_field="amount_cny",
    paid_detail="paid_cny",
    same=("case_no",),
    reasons={
        "no_requirement": "no judgment of the case on record",
        "nothing_required": "no fine",
        "paid_in_full": "fine paid in full",
        "shortfall": "fine {required}, paid {paid} by the proposal",
    },
    params={"evaluate_after_days": 3},
    summary_zh=(
        "{trigger_date}提请减刑、假释（案号{case_no}），原判罚金{required}元，截至提请之日仅履行{paid}元，"
        "财产性判项未履行完毕，应审查其悔改表现的认定。"
    ),
    legal_basis_zh=(
        "最高人民法院《关于办理减刑、假释案件具体应用法律的规定》: 财产性判项的履行情况是考察悔改表现的因素."
    ),
)
