"""The 当事人 of a lead page: a pseudonym, and the form to reveal the person's ID number (reveal.py)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consumers.console.views import Viewer

__all__ = ["PURPOSE_LENGTH", "subject_html"]

#: The shortest and longest purpose an officer may state for a reveal.
PURPOSE_LENGTH = (4, 200)
_PURPOSE = PURPOSE_LENGTH


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def subject_html(viewer: Viewer, lead: Mapping[str, Any], csrf_field: str) -> str:
    """The 当事人 cell of a lead page: the pseudonym, shortened, and the reveal form for those who may use it."""
    kind, key = lead["subject_kind"], lead["subject_key"]
    if kind != "PERSON":
        return f'<span id="subject">单位 统一社会信用代码 {_e(key)}</span>'
    short = f'<span id="subject" title="当事人假名编号（身份证号经加密处理，不在系统中明文传输）：{_e(key)}">'
    short += f"假名编号 {_e(key[:8])}…</span>"
    if not viewer.user.may_reveal(lead):
        return short + ' <span class="muted">（无查看身份权限）</span>'
    lo, hi = _PURPOSE
    return (
        f'{short}<form method="post" action="/leads/{_e(lead["lead_id"])}/reveal" class="reveal" id="reveal-form">'
        f"{csrf_field}<label>查看目的（案号或事由） "
        f'<input name="purpose" id="reveal-purpose" required minlength="{lo}" maxlength="{hi}" size="28" '
        'placeholder="如 沈检刑执〔2026〕12号 核查"></label> '
        '<button type="submit" id="reveal">查看身份证号</button>'
        '<span class="muted">查看将连同目的记入审计日志</span></form>'
    )
