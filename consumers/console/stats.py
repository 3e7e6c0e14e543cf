"""统计通报: statistics with charts and totals, and the printable monthly report (每月通报) as PDF.

``/stats`` shows, for the leads the user may see: totals, leads per model per month (trend), the
confirmation rate per model, open leads by jurisdiction and by how long past their deadline, and
per-agency data freshness; then the table by model and jurisdiction with its 合计 row, and the
monthly figures. ``/stats/report?month=YYYY-MM`` is the same for one month as an A4 page to print;
``/stats/report.pdf`` is that page printed by a headless Chromium (pdf.py). Charts are Apache
ECharts, served by the console itself (``static/vendor/echarts``, ``scripts/vendor-echarts.sh``).
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consumers.archive.model import LeadFilter, StatisticsRow
from consumers.archive.store import LeadArchive
from consumers.console import charts
from consumers.console.forms import lead_filter, submitted
from consumers.console.labels import MODEL_ZH
from consumers.console.pdf import STATIC, PdfError, print_to_pdf
from consumers.console.scope import scoped_rows, scoped_statistics
from consumers.console.users import User
from consumers.console.views import Viewer, error_page, model_label, page
from jiandu.core.timeutil import format_cst

__all__ = ["Freshness", "StatsPages"]

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_OPEN_LIMIT = 20_000
_TREND_MONTHS = 12
#: Per agency source within a user's jurisdiction, days since its last record arrived (quality.py).
Freshness = Callable[[User], Mapping[str, float]]


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


class StatsPages:
    """The statistics page, the monthly report page and its PDF."""

    def __init__(self, archive: LeadArchive, freshness: Freshness | None = None) -> None:
        self._archive = archive
        self._freshness: Freshness = freshness or (lambda user: {})

    def _data(self, viewer: Viewer, form: Mapping[str, str]) -> tuple[list[StatisticsRow], list[dict[str, Any]]]:
        filters = lead_filter(form)
        rows = scoped_statistics(self._archive, viewer.user, filters)
        open_filters = LeadFilter(filters.model, filters.department, filters.jurisdiction_prefix, "OPEN")
        return rows, scoped_rows(self._archive, viewer.user, open_filters, _OPEN_LIMIT)

    async def stats(self, request: Request, viewer: Viewer) -> Response:
        form = submitted(request.query_params, ("model", "jurisdiction"))
        rows, open_leads = self._data(viewer, form)
        now = int(time.time() * 1000)
        months = _months(rows, None)
        options = {
            "trend": charts.trend_chart(rows, months),
            "confirmation": charts.confirmation_chart(rows),
            "open-age": charts.open_age_chart(open_leads, now)[0],
            "freshness": charts.freshness_chart(self._freshness(viewer.user)),
        }
        body = _stats_body(form, rows, open_leads, now, options, months[-1] if months else _this_month(now))
        return HTMLResponse(page("统计通报", body, viewer), headers=_HEADERS)

    def _report(self, viewer: Viewer, request: Request, static: str) -> tuple[str, str] | None:
        form = submitted(request.query_params, ("model", "jurisdiction", "month"))
        now = int(time.time() * 1000)
        month = form.pop("month", _this_month(now))
        if not _MONTH.fullmatch(month):
            return None
        rows, open_leads = self._data(viewer, form)
        return month, _report_html(viewer, month, form, rows, open_leads, now, self._freshness(viewer.user), static)

    async def report(self, request: Request, viewer: Viewer) -> Response:
        report = self._report(viewer, request, "/static")
        if report is None:
            return _bad_month(viewer)
        return HTMLResponse(report[1], headers=_HEADERS)

    async def report_pdf(self, request: Request, viewer: Viewer) -> Response:
        report = self._report(viewer, request, STATIC.as_uri())
        if report is None:
            return _bad_month(viewer)
        month, text = report
        try:
            pdf = await run_in_threadpool(print_to_pdf, text)
        except PdfError as exc:
            return HTMLResponse(error_page(viewer, "无法生成 PDF", str(exc)), status_code=503, headers=_HEADERS)
        self._archive.audit(viewer.user.username, "report-pdf", None, allowed=True, detail=month)
        name = f"monthly-report-{month}.pdf"
        headers = {**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(pdf, media_type="application/pdf", headers=headers)


def _bad_month(viewer: Viewer) -> Response:
    message = "月份请按 年-月 填写，如 2026-01"
    return HTMLResponse(error_page(viewer, "筛选条件有误", message), status_code=400, headers=_HEADERS)


def _this_month(now: int) -> str:
    return format_cst(now)[:7]


def _months(rows: Sequence[StatisticsRow], until: str | None) -> list[str]:
    """The last months with leads, up to ``until`` and without gaps (a quiet month shows as 0)."""
    seen = sorted({r.month for r in rows if until is None or r.month <= until})
    if not seen:
        return [until] if until else []
    last = until or seen[-1]
    year, month = int(last[:4]), int(last[5:])
    out = []
    for _ in range(_TREND_MONTHS):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        if out[-1] <= seen[0]:
            break
    return out[::-1]


def _summary(rows: Sequence[StatisticsRow], open_leads: Sequence[Mapping[str, Any]], now: int) -> str:
    t = charts.totals(rows)
    overdue = sum(1 for lead in open_leads if lead["due_at"] is not None and lead["due_at"] <= now)
    figures = [
        ("发现线索", t.raised, "raised"),
        ("已办理", t.worked, "worked"),
        ("经核实", t.confirmed, "confirmed"),
        ("核实率", t.rate, "rate"),
        ("待处理", len(open_leads), "open"),
        ("其中已逾期", overdue, "overdue"),
    ]
    cells = "".join(
        f'<div class="figure" id="sum-{key}"><span>{name}</span><strong>{value}</strong></div>'
        for name, value, key in figures
    )
    return f'<div class="figures" id="stats-summary">{cells}</div>'


def _by_model_table(rows: Sequence[StatisticsRow]) -> str:
    grouped: dict[tuple[str, str], list[StatisticsRow]] = defaultdict(list)
    for r in rows:
        grouped[(r.model_id, r.jurisdiction)].append(r)
    body = "".join(_row(None, m, j, charts.totals(rs)) for (m, j), rs in sorted(grouped.items()))
    total = charts.totals(rows)
    return (
        '<table id="stats-totals" class="numbers"><thead><tr><th>模型</th><th>管辖区划</th><th>发现</th><th>已办理</th>'
        f"<th>经核实</th><th>核实率</th></tr></thead><tbody>{body or _empty(6)}</tbody>"
        f'<tfoot><tr id="stats-grand-total"><th colspan="2">合计</th><td class="raised">{total.raised}</td>'
        f'<td class="worked">{total.worked}</td><td class="confirmed">{total.confirmed}</td>'
        f'<td class="rate">{total.rate}</td></tr></tfoot></table>'
    )


def _row(month: str | None, model: str, jurisdiction: str, t: charts.Totals) -> str:
    first = "" if month is None else f"<td>{_e(month)}</td>"
    return (
        f'<tr data-model="{_e(model)}" data-jurisdiction="{_e(jurisdiction)}">{first}<td>{_e(model_label(model))}</td>'
        f'<td>{_e(jurisdiction)}</td><td class="raised">{t.raised}</td><td class="worked">{t.worked}</td>'
        f'<td class="confirmed">{t.confirmed}</td><td class="rate">{t.rate}</td></tr>'
    )


def _empty(columns: int) -> str:
    return f'<tr><td colspan="{columns}">暂无数据</td></tr>'


def _chart_divs(names: Sequence[str]) -> str:
    return "".join(f'<div class="chart" id="chart-{n}" data-chart="{n}"></div>' for n in names)


def _options_json(options: Mapping[str, Any]) -> str:
    # inside <script type="application/json">: only "</" could end it early
    return json.dumps(options, ensure_ascii=False).replace("</", "<\\/")


def _stats_body(
    form: Mapping[str, str],
    rows: Sequence[StatisticsRow],
    open_leads: Sequence[Mapping[str, Any]],
    now: int,
    options: Mapping[str, Any],
    month: str,
) -> str:
    model_options = "".join(
        f'<option value="{m}"{" selected" if form.get("model") == m else ""}>{_e(model_label(m))}</option>'
        for m in sorted(MODEL_ZH)
    )
    monthly = "".join(_row(r.month, r.model_id, r.jurisdiction, charts.totals([r])) for r in rows)
    return (
        '<h1>统计通报</h1><form method="get" action="/stats" class="filters">'
        f'<label>模型 <select name="model"><option value="">全部</option>{model_options}</select></label>'
        f'<label>管辖区划 <input name="jurisdiction" value="{_e(form.get("jurisdiction", ""))}" size="8"></label>'
        '<button type="submit">筛选</button></form>'
        '<form method="get" action="/stats/report" class="filters report-links" id="report-form">'
        f'<label>每月通报 <input name="month" value="{_e(month)}" size="8" pattern="\\d{{4}}-\\d{{2}}" '
        'placeholder="年-月"></label>'
        + "".join(f'<input type="hidden" name="{k}" value="{_e(v)}">' for k, v in form.items())
        + '<button type="submit" id="open-report">打印版</button> '
        '<button type="submit" formaction="/stats/report.pdf" id="download-pdf">下载 PDF</button></form>'
        + _summary(rows, open_leads, now)
        + f'<div class="charts">{_chart_divs(list(options))}</div>'
        f'<script type="application/json" id="chart-options">{_options_json(options)}</script>'
        '<script src="/static/vendor/echarts/echarts.min.js"></script><script src="/static/charts.js"></script>'
        f"<h2>按模型与区划</h2>{_by_model_table(rows)}"
        '<details><summary>每月明细</summary><table id="stats-monthly" class="numbers"><thead><tr><th>月份</th>'
        "<th>模型</th><th>管辖区划</th><th>发现</th><th>已办理</th><th>经核实</th><th>核实率</th></tr></thead>"
        f"<tbody>{monthly or _empty(7)}</tbody></table></details>"
        '<p class="muted">核实率 = 经核实（发出纠正违法通知书、检察建议、立案监督）÷ 已办理。按线索成立月份统计；'
        "待处理线索按当前时间计算逾期时长。</p>"
    )


def _report_html(
    viewer: Viewer,
    month: str,
    form: Mapping[str, str],
    rows: Sequence[StatisticsRow],
    open_leads: Sequence[Mapping[str, Any]],
    now: int,
    freshness: Mapping[str, float],
    static: str,
) -> str:
    in_month = [r for r in rows if r.month == month]
    options = {
        "trend": charts.trend_chart(rows, _months(rows, month)),
        "confirmation": charts.confirmation_chart(in_month),
        "open-age": charts.open_age_chart(open_leads, now)[0],
        "freshness": charts.freshness_chart(freshness),
    }
    scope = viewer.user.jurisdiction or "全部区划"
    narrowed = "，".join(f"{k} {v}" for k, v in form.items())
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{_e(month)} 法律监督线索每月通报</title>"
        f'<link rel="stylesheet" href="{static}/report.css"></head><body class="report">'
        f'<h1>法律监督线索每月通报</h1><p class="meta" id="report-meta">通报月份 <strong>{_e(month)}</strong> · '
        f"范围 {_e(scope)}{_e('（' + narrowed + '）') if narrowed else ''} · 生成于 "
        f"{_e(format_cst(now)[:16].replace('T', ' '))}（北京时间）· {_e(viewer.user.name)}</p>"
        f"<h2>一、本月概况</h2>{_summary(in_month, open_leads, now)}"
        f"{_by_model_table(in_month)}"
        f'<h2>二、趋势与核实率</h2><div class="charts">{_chart_divs(["trend", "confirmation"])}</div>'
        f'<h2>三、待处理线索与数据新鲜度</h2><div class="charts">{_chart_divs(["open-age", "freshness"])}</div>'
        f'<script type="application/json" id="chart-options">{_options_json(options)}</script>'
        f'<script src="{static}/vendor/echarts/echarts.min.js"></script><script src="{static}/charts.js"></script>'
        '<p class="muted">核实率 = 经核实 ÷ 已办理；待处理线索的逾期时长按生成时间计算。</p></body></html>'
    )
