"""Identity revealed under control (身份信息受控查看): whom a lead is about, lawfully and audited.

Leads name a person only by pseudonym. The adapter sealed each raw ID number for this service
(``jiandu.core.identity_seal``); the archive keeps the seals. An officer sees the number only when

- they hold the reveal right (``reveal: true`` in the users file),
- the lead is within their jurisdiction and departments,
- they state a purpose (a case number or a reason, 4 to 200 characters),
- they have made fewer than ``JIANDU_CONSOLE_REVEALS_PER_HOUR`` reveals in the last hour,

and every reveal, and every refusal, is in the audit log with the purpose, which supervisors read
on the audit page. The number is shown once, on a page that is not cached, and is never logged.
The private keys (``JIANDU_REVEAL_KEY_FILES``) are read by the console only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consumers.archive.store import LeadArchive
from consumers.console import views
from consumers.console.forms import read_form
from consumers.console.headers import PAGE_HEADERS
from consumers.console.metrics import ROLE, SCOPE, count_denied
from consumers.console.subject import PURPOSE_LENGTH as _PURPOSE
from consumers.console.views import Viewer
from jiandu.core.identity_seal import IdentityOpener, SealError
from jiandu.observability.metrics.consumers import CONSOLE_REVEALS

__all__ = ["AUDIT_WHAT", "RevealService", "reveal_endpoint"]

AUDIT_WHAT = "reveal"
_HOUR_MS = 3_600_000
_REFUSAL_ZH = {SCOPE: "越权", ROLE: "无查看权限", "limited": "超出频次", "unavailable": "无法提供"}
_HEADERS = PAGE_HEADERS


@dataclass(frozen=True, slots=True)
class RevealService:
    """The private keys (None: not configured) and the per-user hourly limit."""

    opener: IdentityOpener | None
    per_hour: int = 20


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def reveal_endpoint(archive: LeadArchive, service: RevealService) -> Handler:
    """POST /leads/{lead_id}/reveal (behind the console's sign-in and CSRF check)."""

    async def reveal(request: Request, viewer: Viewer) -> Response:
        lead_id, user = request.path_params["lead_id"], viewer.user
        purpose = " ".join((await read_form(request)).get("purpose", "").split())
        history = archive.lead(lead_id)
        if history is None:
            return _page(viewer, "未找到线索", f"线索 {lead_id} 不在档案中", 404)
        lead = history.latest

        def refuse(reason: str, status: int, heading: str, message: str) -> Response:
            archive.audit(
                user.username, AUDIT_WHAT, lead_id, allowed=False, detail=f"{_REFUSAL_ZH[reason]}：{purpose}"[:300]
            )
            CONSOLE_REVEALS.labels(reason).inc()
            if reason in (SCOPE, ROLE):
                count_denied(reason)
            return _page(viewer, heading, message, status)

        if not user.may_see(lead):
            return refuse(SCOPE, 403, "无权查看", "该线索不在您的管辖区划或承办部门范围内")
        if not user.reveal:
            return refuse(ROLE, 403, "无权查看身份信息", "您未被授予查看当事人身份信息的权限，请联系部门负责人。")
        if not _PURPOSE[0] <= len(purpose) <= _PURPOSE[1]:
            return _page(viewer, "请说明查看目的", "查看身份证号须填写目的（案号或事由，4 至 200 字）。", 400)
        if lead["subject_kind"] != "PERSON":
            return _page(viewer, "无需查看", "该线索的当事人是单位，统一社会信用代码已显示在线索页。", 400)
        if service.opener is None:
            return refuse(
                "unavailable", 503, "身份查看未启用", "本控制台未配置身份解密密钥（JIANDU_REVEAL_KEY_FILES）。"
            )
        now = int(time.time() * 1000)
        if archive.audit_count(user.username, AUDIT_WHAT, now - _HOUR_MS) >= service.per_hour:
            message = f"每人每小时最多查看 {service.per_hour} 次身份信息，请稍后再试。本次请求已记入审计日志。"
            return refuse("limited", 429, "查看过于频繁", message)
        sealed = archive.sealed_identity(lead["subject_key"])
        if sealed is None:
            return refuse("unavailable", 404, "暂无身份信息", "尚未收到该当事人的加密身份信息（报送机关未加密报送）。")
        try:
            number = service.opener.open(sealed.sealed, lead["subject_key"])
        except SealError:
            held = service.opener.key_ids
            why = f"由密钥 {sealed.key_id} 加密，本控制台未持有该密钥"
            if sealed.key_id in held:
                why = "已损坏或与当事人不符"
            return refuse("unavailable", 409, "无法解密", f"该身份信息{why}。")
        archive.audit(user.username, AUDIT_WHAT, lead_id, allowed=True, detail=purpose, at=now)
        CONSOLE_REVEALS.labels("revealed").inc()
        return HTMLResponse(_revealed(viewer, lead, number, purpose, now), headers=_HEADERS)

    return reveal


def _revealed(viewer: Viewer, lead: Mapping[str, Any], number: str, purpose: str, at: int) -> str:
    birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    sex = "男" if int(number[16]) % 2 else "女"
    return views.render_page(
        "revealed.html", viewer, title="当事人身份", lead=lead, number=number, birth=birth.isoformat(), sex=sex,
        purpose=purpose, at=at,
    )  # fmt: skip


def _page(viewer: Viewer, heading: str, message: str, status: int) -> Response:
    return HTMLResponse(views.error_page(viewer, heading, message), status_code=status, headers=_HEADERS)
