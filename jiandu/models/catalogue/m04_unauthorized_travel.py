"""M04 UNAUTHORIZED_TRAVEL 社区矫正擅自外出.

A person under community correction registered at a hotel in a city other than the
permitted one, and no approved leave to that city covering that date was recorded
by the next day.
"""

from jiandu.models.catalogue.m03_reoffense_under_correction import UNDER_CORRECTION
from jiandu.models.conditions import covers_trigger_date, differs, equals_trigger
from jiandu.models.declarations import On
from jiandu.models.shapes import FollowUpDeadline

MODEL = FollowUpDeadline(
    id="M04",
    name="UNAUTHORIZED_TRAVEL",
    title_zh="社区矫正擅自外出",
    version="1.0.0",
    department="刑事执行检察",
    severity="MEDIUM",
    triggers=(On("police.lodging"),),
    during=UNDER_CORRECTION,
    during_related=differs("permitted_city", "city_code"),
    follow_ups=(On("correction.leave_approved"),),
    related=covers_trigger_date("start_date", "end_date") & equals_trigger("dest_city", "city_code"),
    params={"deadline_days": 1, "lookback_days": None},
    summary_zh=(
        "社区矫正对象{trigger_date}在{city_code}住宿登记（旅馆{hotel_id}），不在其准予活动的市县，"
        "截至{last_day}未见经批准赴该地的外出请假记录，可能擅自外出。"
    ),
    legal_basis_zh="《社区矫正法》第27条: 社区矫正对象离开所居住的市、县需经批准.",
)
