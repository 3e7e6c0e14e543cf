"""The filtered lead list as a CSV file that Excel opens as it is (导出 CSV).

UTF-8 with a byte-order mark, so Excel on a Chinese Windows reads the characters right (without it,
Excel guesses GB18030 and shows mojibake), CRLF line ends, and every cell that Excel or WPS would
take for a formula (``= + - @``, or a tab or carriage return first) neutralised with a leading
apostrophe (OWASP's advice against CSV injection): a summary or case number written by an agency
can never run as a formula on an officer's machine. The export covers what the officer may see,
at most :data:`MAX_ROWS` rows, and is audited with the filters used.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from consumers.archive.store import LeadArchive
from consumers.console.forms import LEAD_FIELDS, lead_filter, submitted
from consumers.console.labels import SEVERITY_ZH, STATUS_ZH
from consumers.console.reasons import status_reason_zh
from consumers.console.scope import scoped_rows
from consumers.console.views import Viewer, error_page, model_label
from jiandu.core.timeutil import format_cst
from jiandu.errors import InputError

__all__ = ["AUDIT_WHAT", "MAX_ROWS", "csv_bytes", "export_endpoint", "neutralised"]

AUDIT_WHAT = "export"
MAX_ROWS = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_COLUMNS = (
    "线索编号",
    "模型",
    "承办部门",
    "管辖区划",
    "严重程度",
    "状态",
    "状态原因",
    "成立时间",
    "监督期限",
    "案号",
    "摘要",
)


def neutralised(cell: str) -> str:
    """``cell``, with an apostrophe first when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _time(ms: int | None) -> str:
    return "" if ms is None else format_cst(ms)[:16].replace("T", " ")


def _row(r: Mapping[str, Any]) -> list[str]:
    reason = status_reason_zh(r["status_reason"]) if r["status"] != "OPEN" else ""
    return [
        r["lead_id"],
        model_label(r["model_id"]),
        r["department"],
        r["jurisdiction"],
        SEVERITY_ZH.get(r["severity"], r["severity"]),
        STATUS_ZH.get(r["status"], r["status"]),
        reason,
        _time(r["raised_at"]),
        _time(r["due_at"]),
        r["case_no"] or "",
        r["summary_zh"],
    ]


def csv_bytes(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The CSV file of archive rows: BOM, header, one line per lead, formulas neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_COLUMNS)
    for r in rows:
        writer.writerow([neutralised(str(cell)) for cell in _row(r)])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def export_endpoint(archive: LeadArchive) -> Callable[[Request, Viewer], Awaitable[Response]]:
    """GET /leads.csv with the lead list's filters (behind the console's sign-in)."""

    async def export(request: Request, viewer: Viewer) -> Response:
        form = submitted(request.query_params, LEAD_FIELDS)
        try:
            rows = scoped_rows(archive, viewer.user, lead_filter(form), MAX_ROWS)
        except InputError as exc:
            return Response(error_page(viewer, "筛选条件有误", str(exc)), 400, media_type="text/html")
        detail = f"{len(rows)} 条 {urlencode(form)}".strip()
        archive.audit(viewer.user.username, AUDIT_WHAT, None, allowed=True, detail=detail[:300])
        day = format_cst(int(time.time() * 1000))[:10].replace("-", "")
        name = quote(f"监督线索-{day}.csv")
        headers = {
            "Content-Disposition": f"attachment; filename=\"leads-{day}.csv\"; filename*=UTF-8''{name}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(csv_bytes(rows), media_type="text/csv; charset=utf-8", headers=headers)

    return export
