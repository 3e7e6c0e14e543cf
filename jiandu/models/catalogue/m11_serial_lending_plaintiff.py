"""M11 SERIAL_LENDING_PLAINTIFF 职业放贷 / 虚假诉讼.

The same plaintiff (person or organisation) filed at least 5 private-lending suits
within 365 days: a sign of professional money lending or false litigation.
"""

from jiandu.models.conditions import field
from jiandu.models.declarations import EntityKind, On
from jiandu.models.shapes import WindowedCount

MODEL = WindowedCount(
    id="M11",
    name="SERIAL_LENDING_PLAINTIFF",
    title_zh="职业放贷 / 虚假诉讼",
    version="1.0.0",
    department="民事检察",
    severity="MEDIUM",
    entity=EntityKind.PLAINTIFF,
    counted=On("court.civil_case_filed", where=field("cause") == "PRIVATE_LENDING"),
    distinct_by="case_no",
    count_detail="filings",
    reason="{count} private-lending filings, {at_least} within {window_days} days",
    params={"at_least": 5, "window_days": 365},
    summary_zh=(
        "同一原告自{first_date}起共提起民间借贷诉讼{count}件，其中{at_least}件在{window_days}日内"
        "（第{at_least}件立案于{trigger_date}），可能存在职业放贷或虚假诉讼。"
    ),
    legal_basis_zh="最高人民法院《关于防范和制裁虚假诉讼的指导意见》; 《民事诉讼法》第115条.",
)
