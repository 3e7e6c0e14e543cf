"""The statistics as Apache ECharts options, built on the server from the archive's numbers.

Each chart is an ECharts ``option`` (plain JSON); ``static/charts.js`` only hands it to
``echarts.init(...).setOption(...)``. So what a chart shows is decided and tested here, in Python,
and the same options draw the console page and the printed monthly report (每月通报).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consumers.archive.model import StatisticsRow
from consumers.console.labels import MODEL_ZH

__all__ = [
    "AGE_BUCKETS",
    "Totals",
    "age_bucket",
    "confirmation_chart",
    "freshness_chart",
    "open_age_chart",
    "totals",
    "trend_chart",
]

Option = dict[str, Any]
_DAY_MS = 86_400_000
#: Open leads by how long past their deadline, as supervisors ask about them.
AGE_BUCKETS = ("未到期", "逾期 1–7 日", "逾期 8–30 日", "逾期 30 日以上", "无期限")
_AGE_COLOURS = ("#91cc75", "#fac858", "#ee6666", "#8b1a1a", "#bbbbbb")
_FONT = {"fontFamily": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"}


@dataclass(frozen=True, slots=True)
class Totals:
    """Raised, worked and confirmed over a set of statistics rows."""

    raised: int = 0
    worked: int = 0
    confirmed: int = 0

    @property
    def rate(self) -> str:
        """Confirmed among worked, as a percentage; — when none was worked."""
        return f"{self.confirmed / self.worked:.0%}" if self.worked else "—"


def totals(rows: Iterable[StatisticsRow]) -> Totals:
    """The sums of ``rows``."""
    r = w = c = 0
    for row in rows:
        r, w, c = r + row.raised, w + row.worked, c + row.confirmed
    return Totals(r, w, c)


def _base(title: str) -> Option:
    return {
        "animation": False,  # the printed report must show the final picture
        "textStyle": _FONT,
        "title": {"text": title, "left": "center", "textStyle": {"fontSize": 15}},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 50, "right": 20, "top": 60, "bottom": 50, "containLabel": True},
    }


def trend_chart(rows: Sequence[StatisticsRow], months: Sequence[str]) -> Option:
    """Leads raised per model per month (one line per model), over ``months``."""
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per[r.model_id][r.month] += r.raised
    series = [
        {"name": _model(m), "type": "line", "data": [per[m].get(month, 0) for month in months], "symbolSize": 6}
        for m in sorted(per)
    ]
    option = _base("各模型每月发现线索数（趋势）")
    option.update(
        legend={"type": "scroll", "bottom": 0},
        xAxis={"type": "category", "data": list(months)},
        yAxis={"type": "value", "name": "线索数", "minInterval": 1},
        series=series,
    )
    option["grid"]["bottom"] = 70
    return option


def confirmation_chart(rows: Sequence[StatisticsRow]) -> Option:
    """Per model: the share of worked leads that were confirmed, labelled with the counts behind it."""
    by_model: dict[str, list[StatisticsRow]] = defaultdict(list)
    for r in rows:
        by_model[r.model_id].append(r)
    models = sorted(by_model)
    sums = [totals(by_model[m]) for m in models]
    data = [{"value": round(100 * t.confirmed / t.worked, 1) if t.worked else 0, "worked": t.worked} for t in sums]
    labels = [f"{t.rate}（{t.confirmed}/{t.worked}）" if t.worked else "未办理" for t in sums]
    option = _base("各模型线索核实率（经核实 ÷ 已办理）")
    option.update(
        xAxis={"type": "category", "data": [_model(m) for m in models], "axisLabel": {"interval": 0, "rotate": 30}},
        yAxis={"type": "value", "name": "核实率 %", "max": 100},
        series=[
            {
                "type": "bar",
                "data": [
                    {**d, "label": {"show": True, "position": "top", "formatter": label}}
                    for d, label in zip(data, labels, strict=True)
                ],
                "itemStyle": {"color": "#8b1a1a"},
                "barMaxWidth": 36,
            }
        ],
    )
    return option


def age_bucket(due_at: int | None, now_ms: int) -> str:
    """Which of :data:`AGE_BUCKETS` an open lead with deadline ``due_at`` is in at ``now_ms``."""
    if due_at is None:
        return AGE_BUCKETS[4]
    late_days = (now_ms - due_at) // _DAY_MS + 1 if now_ms >= due_at else 0
    if late_days <= 0:
        return AGE_BUCKETS[0]
    return AGE_BUCKETS[1] if late_days <= 7 else AGE_BUCKETS[2] if late_days <= 30 else AGE_BUCKETS[3]


def open_age_chart(open_leads: Iterable[Mapping[str, Any]], now_ms: int) -> tuple[Option, dict[str, dict[str, int]]]:
    """Open leads per jurisdiction, stacked by how long past their deadline; and the counts behind it."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AGE_BUCKETS, 0))
    for lead in open_leads:
        counts[lead["jurisdiction"]][age_bucket(lead["due_at"], now_ms)] += 1
    places = sorted(counts)
    series = [
        {
            "name": bucket,
            "type": "bar",
            "stack": "open",
            "data": [counts[p][bucket] for p in places],
            "itemStyle": {"color": colour},
            "barMaxWidth": 40,
        }
        for bucket, colour in zip(AGE_BUCKETS, _AGE_COLOURS, strict=True)
    ]
    option = _base("待处理线索：按管辖区划与逾期时长")
    option.update(
        legend={"bottom": 0},
        xAxis={"type": "category", "data": places},
        yAxis={"type": "value", "name": "线索数", "minInterval": 1},
        series=series,
    )
    option["grid"]["bottom"] = 60
    return option, {p: dict(counts[p]) for p in places}


def freshness_chart(days_silent: Mapping[str, float]) -> Option:
    """Per agency source: days since its last record arrived (the longer the bar, the staler the data)."""
    sources = sorted(days_silent, key=lambda s: -days_silent[s])
    option = _base("各报送单位数据新鲜度（距最近一次报送的天数）")
    option.update(
        xAxis={"type": "value", "name": "天", "nameLocation": "middle", "nameGap": 28, "show": bool(sources)},
        yAxis={"type": "category", "data": sources, "inverse": True, "show": bool(sources)},
        series=[
            {
                "type": "bar",
                "data": [round(days_silent[s], 1) for s in sources],
                "itemStyle": {"color": "#5470c6"},
                "label": {"show": True, "position": "right"},
                "barMaxWidth": 22,
            }
        ],
    )
    option["tooltip"] = {"trigger": "item"}
    if not sources:
        option["graphic"] = {"type": "text", "left": "center", "top": "middle", "style": {"text": "暂无报送记录"}}
    return option


def _model(model_id: str) -> str:
    return f"{model_id} {MODEL_ZH.get(model_id, '')}".strip()
