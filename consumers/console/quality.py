"""数据质量通报: the per-agency data-quality scorecard in the console, and as a monthly PDF.

For a month and each agency source within the user's jurisdiction: records per type, duplicates,
rejections by reason and the rejection rate, the recording and upload delays as distributions,
days silent, and how many leads the source's late records resolved (closing evidence arrived late)
or withdrew (a later record disproved the premise) — the evidence item that did it is the lead's
last. Sources are ordered by those leads, so the agency whose delays cost the most lead accuracy
comes first. The counts come from the archiver (``consumers/archive/quality.py``).
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consumers.archive.model import LeadFilter
from consumers.archive.quality import DELAY_LABELS, SourceScore
from consumers.archive.store import LeadArchive
from consumers.console.headers import PAGE_HEADERS
from consumers.console.labels import agency_zh
from consumers.console.pdf import STATIC, PdfError, print_to_pdf
from consumers.console.reasons import rejection_zh
from consumers.console.scope import scoped_rows
from consumers.console.templating import render
from consumers.console.users import User
from consumers.console.views import Viewer, error_page, render_page
from jiandu.core.timeutil import format_cst

__all__ = ["QualityPages", "days_silent"]

_HEADERS = PAGE_HEADERS
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DAY_MS = 86_400_000
_REVERSED = ("RESOLVED", "WITHDRAWN")
_FONT = {"fontFamily": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"}


def _within(user: User, source: str) -> bool:
    """A source ``<category>:<division>`` belongs to the user's jurisdiction prefix (admins: all)."""
    return user.role == "admin" or source.partition(":")[2].startswith(user.jurisdiction)


def days_silent(archive: LeadArchive, user: User | None = None, now: int | None = None) -> dict[str, float]:
    """Per source: days since its last record reached the hub (the statistics' freshness chart)."""
    now = int(time.time() * 1000) if now is None else now
    scores = archive.scorecard(format_cst(now)[:7])
    return {
        s.source: max(0.0, (now - s.last_arrival) / _DAY_MS)
        for s in scores
        if s.last_arrival is not None and (user is None or _within(user, s.source))
    }


def _reversed_by_source(archive: LeadArchive, user: User, month: str) -> dict[str, Counter[str]]:
    """Per source: leads whose last evidence (the late or disproving record) came from it, by status, in ``month``."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for status in _REVERSED:
        for lead in scoped_rows(archive, user, LeadFilter(status=status), 20_000):
            if format_cst(int(lead["version"]))[:7] == month and lead["evidence"]:
                out[lead["evidence"][-1]["source"]][status] += 1
    return out


def _median_bucket(counts: Sequence[int]) -> str:
    total = sum(counts)
    if not total:
        return "—"
    running = 0
    for label, n in zip(DELAY_LABELS, counts, strict=True):
        running += n
        if 2 * running >= total:
            return label
    return DELAY_LABELS[-1]


class QualityPages:
    """``/quality`` (the scorecard), ``/quality/report`` (its A4 page) and ``/quality/report.pdf``."""

    def __init__(self, archive: LeadArchive) -> None:
        self._archive = archive

    def _render(self, request: Request, viewer: Viewer, static: str, *, printed: bool) -> tuple[str, str] | None:
        now = int(time.time() * 1000)
        month = request.query_params.get("month", "").strip() or format_cst(now)[:7]
        if not _MONTH.fullmatch(month):
            return None
        user = viewer.user
        scores = [s for s in self._archive.scorecard(month) if _within(user, s.source)]
        reversed_ = _reversed_by_source(self._archive, user, month)
        scores.sort(
            key=lambda s: (-sum(reversed_.get(s.source, Counter()).values()), -(s.rejection_rate or 0), s.source)
        )
        body = _body(month, scores, reversed_, now, static, printed=printed, viewer=viewer)
        return month, body

    async def scorecard(self, request: Request, viewer: Viewer) -> Response:
        rendered = self._render(request, viewer, "/static", printed=False)
        if rendered is None:
            return _bad_month(viewer)
        return HTMLResponse(rendered[1], headers=_HEADERS)

    async def report(self, request: Request, viewer: Viewer) -> Response:
        rendered = self._render(request, viewer, "/static", printed=True)
        if rendered is None:
            return _bad_month(viewer)
        return HTMLResponse(rendered[1], headers=_HEADERS)

    async def report_pdf(self, request: Request, viewer: Viewer) -> Response:
        rendered = self._render(request, viewer, STATIC.as_uri(), printed=True)
        if rendered is None:
            return _bad_month(viewer)
        month, text = rendered
        try:
            pdf = await run_in_threadpool(print_to_pdf, text)
        except PdfError as exc:
            return HTMLResponse(error_page(viewer, "无法生成 PDF", str(exc)), status_code=503, headers=_HEADERS)
        self._archive.audit(viewer.user.username, "quality-pdf", None, allowed=True, detail=month)
        headers = {**_HEADERS, "Content-Disposition": f'attachment; filename="data-quality-{month}.pdf"'}
        return Response(pdf, media_type="application/pdf", headers=headers)


def _bad_month(viewer: Viewer) -> Response:
    message = "月份请按 年-月 填写，如 2026-01"
    return HTMLResponse(error_page(viewer, "筛选条件有误", message), status_code=400, headers=_HEADERS)


def _name(source: str) -> str:
    return f"{agency_zh(source)}（{source}）"


def _score_row(s: SourceScore, reversed_: Counter[str], now: int) -> dict[str, Any]:
    silent = None if s.last_arrival is None else max(0, now - s.last_arrival) // _DAY_MS
    top = sorted(s.rejections.items(), key=lambda x: -x[1])[:2]
    return {
        "source": s.source,
        "name": _name(s.source),
        "accepted": s.accepted,
        "duplicates": s.duplicates,
        "rejected": s.rejected,
        "rate": "—" if s.rejection_rate is None else f"{s.rejection_rate:.1%}",
        "reasons": "；".join(f"{rejection_zh(reason)} {n}" for reason, n in top),
        "recording": _median_bucket(s.recording),
        "upload": _median_bucket(s.upload),
        "silent": "—" if silent is None else silent,
        "stale": silent is not None and now - (s.last_arrival or now) > 3 * _DAY_MS,
        "resolved": reversed_.get("RESOLVED", 0),
        "withdrawn": reversed_.get("WITHDRAWN", 0),
    }


def _charts(scores: Sequence[SourceScore], reversed_: Mapping[str, Counter[str]]) -> dict[str, Any]:
    names = [s.source for s in scores]
    base = {"animation": False, "textStyle": _FONT, "tooltip": {"trigger": "axis"}}
    grid = {"left": 40, "right": 20, "top": 60, "bottom": 60, "containLabel": True}
    upload = {
        **base,
        "title": {"text": "各单位上传延迟分布（到达 − 录入）", "left": "center", "textStyle": {"fontSize": 15}},
        "legend": {"bottom": 0},
        "grid": grid,
        "xAxis": {"type": "category", "data": names, "axisLabel": {"interval": 0, "rotate": 20}},
        "yAxis": {"type": "value", "name": "记录数", "minInterval": 1},
        "series": [
            {"name": label, "type": "bar", "stack": "d", "data": [s.upload[i] for s in scores], "barMaxWidth": 40}
            for i, label in enumerate(DELAY_LABELS)
        ],
    }
    cost = {
        **base,
        "title": {"text": "迟报记录致线索消除 / 撤回（按报送单位）", "left": "center", "textStyle": {"fontSize": 15}},
        "legend": {"bottom": 0},
        "grid": grid,
        "xAxis": {"type": "category", "data": names, "axisLabel": {"interval": 0, "rotate": 20}},
        "yAxis": {"type": "value", "name": "线索数", "minInterval": 1},
        "series": [
            {
                "name": label,
                "type": "bar",
                "stack": "r",
                "data": [reversed_.get(s.source, Counter()).get(status, 0) for s in scores],
                "itemStyle": {"color": colour},
                "barMaxWidth": 40,
            }
            for status, label, colour in (("RESOLVED", "迟报致消除", "#fac858"), ("WITHDRAWN", "迟报致撤回", "#ee6666"))
        ],
    }
    return {"upload": upload, "cost": cost}


def _body(
    month: str,
    scores: Sequence[SourceScore],
    reversed_: Mapping[str, Counter[str]],
    now: int,
    static: str,
    *,
    printed: bool,
    viewer: Viewer,
) -> str:
    context = {
        "month": month,
        "now": now,
        "scores": [_score_row(s, reversed_.get(s.source, Counter()), now) for s in scores],
        "types": [(_name(s.source), t, n) for s in scores for t, n in sorted(s.by_type.items())],
        "options": _charts(scores, reversed_),
        "static": static,
    }
    if printed:
        return render("quality_report.html", viewer=viewer, **context)
    return render_page("quality.html", viewer, title="数据质量通报", **context)
