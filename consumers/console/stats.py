"""统计通报: statistics with charts and totals, and the printable monthly report (每月通报) as PDF.

``/stats`` shows, for the leads the user may see: totals, leads per model per month (trend), the
confirmation rate per model, open leads by jurisdiction and by how long past their deadline, and
per-agency data freshness; then the table by model and jurisdiction with its 合计 row, and the
monthly figures. ``/stats/report?month=YYYY-MM`` is the same for one month as an A4 page to print;
``/stats/report.pdf`` is that page printed by a headless Chromium (pdf.py). Charts are Apache
ECharts, served by the console itself (``static/vendor/echarts``, ``scripts/vendor-echarts.sh``).
"""

from __future__ import annotations

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
from consumers.console.headers import PAGE_HEADERS
from consumers.console.labels import MODEL_ZH
from consumers.console.pdf import STATIC, PdfError, print_to_pdf
from consumers.console.scope import scoped_rows, scoped_statistics
from consumers.console.templating import render
from consumers.console.users import User
from consumers.console.views import Viewer, error_page, render_page
from jiandu.core.timeutil import format_cst

__all__ = ["Freshness", "StatsPages"]

_HEADERS = PAGE_HEADERS
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_OPEN_LIMIT = 20_000
_TREND_MONTHS = 12
#: Per agency source within a user's jurisdiction, days since its last record arrived (quality.py).
Freshness = Callable[[User], Mapping[str, float]]


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
        month = months[-1] if months else _this_month(now)
        return HTMLResponse(_stats_page(viewer, form, rows, open_leads, now, options, month), headers=_HEADERS)

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


def _figures(rows: Sequence[StatisticsRow], open_leads: Sequence[Mapping[str, Any]], now: int) -> list[tuple]:
    t = charts.totals(rows)
    overdue = sum(1 for lead in open_leads if lead["due_at"] is not None and lead["due_at"] <= now)
    return [
        ("发现线索", t.raised, "raised"),
        ("已办理", t.worked, "worked"),
        ("经核实", t.confirmed, "confirmed"),
        ("核实率", t.rate, "rate"),
        ("待处理", len(open_leads), "open"),
        ("其中已逾期", overdue, "overdue"),
    ]


def _groups(rows: Sequence[StatisticsRow]) -> list[tuple[tuple[str, str], charts.Totals]]:
    grouped: dict[tuple[str, str], list[StatisticsRow]] = defaultdict(list)
    for r in rows:
        grouped[(r.model_id, r.jurisdiction)].append(r)
    return [(key, charts.totals(rs)) for key, rs in sorted(grouped.items())]


def _stats_page(
    viewer: Viewer,
    form: Mapping[str, str],
    rows: Sequence[StatisticsRow],
    open_leads: Sequence[Mapping[str, Any]],
    now: int,
    options: Mapping[str, Any],
    month: str,
) -> str:
    return render_page(
        "stats.html",
        viewer,
        title="统计通报",
        form=form,
        models=sorted(MODEL_ZH),
        month=month,
        figures=_figures(rows, open_leads, now),
        options=options,
        groups=_groups(rows),
        total=charts.totals(rows),
        monthly=[(r, charts.totals([r])) for r in rows],
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
    return render(
        "stats_report.html",
        viewer=viewer,
        month=month,
        scope=viewer.user.jurisdiction or "全部区划",
        narrowed="，".join(f"{k} {v}" for k, v in form.items()),
        now=now,
        figures=_figures(in_month, open_leads, now),
        groups=_groups(in_month),
        total=charts.totals(in_month),
        options=options,
        static=static,
    )
