"""M12 PENSION_AFTER_DEATH 死亡后冒领养老金.

Pension was paid for months after the month the person died, whichever of the
payment and the death registration arrived first.
"""

from jiandu.models.conditions import month_after
from jiandu.models.declarations import On
from jiandu.models.shapes import JoinAfterAnchor

MODEL = JoinAfterAnchor(
    id="M12",
    name="PENSION_AFTER_DEATH",
    title_zh="死亡后冒领养老金",
    version="1.0.0",
    department="公益诉讼",
    severity="MEDIUM",
    anchor=On("police.death_registered"),
    anchor_field="died_on",
    item=On("social.pension_paid"),
    after=month_after("period", "died_on"),
    amount_field="amount_cny",
    total_detail="overpaid_cny",
    label_field="period",
    count_detail="payments",
    reason="{count} pension payment(s) for periods after {anchor_month}",
    summary_zh=(
        "该人员已于{anchor_value}死亡（{anchor_zh}），此后仍发放{first_item}至{last_item}期间养老金{count}笔，"
        "共计{total}元，可能被冒领，国有财产受损。"
    ),
    legal_basis_zh="《社会保险法》第88条; 《刑法》第266条 诈骗罪; 国有财产保护公益诉讼.",
)
