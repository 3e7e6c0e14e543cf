"""Server-rendered HTML of the console: ``string.Template`` files in ``templates/``, every value escaped here.

Jinja2 is not a dependency of the hub; the pages are few and small, so the templates take only
pre-escaped fragments (``$name``) and all escaping happens in this module, through :func:`_e`.
Every POST form gets the viewer's CSRF token as a hidden field (:func:`_csrf_field`).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from consumers.archive.model import OUTCOMES, Action, AuditEntry, AuditPage, LeadHistory, QueryResult
from consumers.console.labels import (
    ACTION_ZH,
    AUDIT_ZH,
    MODEL_ZH,
    ROLE_ZH,
    SEVERITY_ZH,
    STATUS_ZH,
    agency_zh,
    record_type_zh,
)
from consumers.console.reasons import status_reason_zh
from consumers.console.sessions import CSRF_FIELD
from consumers.console.subject import subject_html
from consumers.console.users import User
from jiandu.core.timeutil import format_cst

__all__ = [
    "Viewer",
    "audit_page",
    "error_page",
    "lead_page",
    "leads_page",
    "leads_table",
    "login_page",
    "page",
    "table_signature",
]

_TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whom a page is rendered for: the signed-in user and the CSRF token of their session."""

    user: User
    csrf: str


@cache
def _template(name: str) -> Template:
    return Template((_TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _time(ms: int | None) -> str:
    return "—" if ms is None else format_cst(ms)[:16].replace("T", " ")


def _page(title: str, body: str, viewer: Viewer | None) -> str:
    nav = "" if viewer is None else _nav(viewer)
    return _template("layout").substitute(title=_e(title), nav=nav, body=body)


def page(title: str, body: str, viewer: Viewer | None) -> str:
    """A page of the console around ``body`` (already escaped HTML), for the feature modules."""
    return _page(title, body, viewer)


def _nav(viewer: Viewer) -> str:
    user = viewer.user
    audit = '<a href="/audit" id="audit-link">审计日志</a>' if user.may_read_audit else ""
    return _template("nav").substitute(
        user_name=_e(user.name), role_zh=ROLE_ZH[user.role], audit_link=audit, csrf_field=_csrf_field(viewer.csrf)
    )


def _csrf_field(token: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(token)}">'


def _options(choices: Iterable[tuple[str, str]], selected: str | None) -> str:
    out = ['<option value="">全部</option>']
    for value, label in choices:
        mark = " selected" if value == selected else ""
        out.append(f'<option value="{_e(value)}"{mark}>{_e(label)}</option>')
    return "".join(out)


#: Dates are typed as 2026-01-31: a browser's own date picker shows the operating system's order
#: (mm/dd/yyyy on an English system), which officers misread; the server checks the format (forms.py).
_DATE_INPUT = (
    'type="text" inputmode="numeric" pattern="\\d{4}-\\d{2}-\\d{2}" maxlength="10" size="11" '
    'placeholder="年-月-日" title="按 年-月-日 填写，如 2026-01-31"'
)


def model_label(model_id: str) -> str:
    """``M02 社区矫正漏管``."""
    return f"{model_id} {MODEL_ZH.get(model_id, '')}".strip()


def login_page(token: str, message: str = "") -> str:
    """The sign-in form with its double-submit token, and an error message after a failed attempt."""
    note = f'<p class="error" id="login-error">{_e(message)}</p>' if message else ""
    return _page("登录", _template("login").substitute(message=note, csrf_field=_csrf_field(token)), None)


def error_page(viewer: Viewer | None, heading: str, message: str) -> str:
    """403, 404 and 400 pages."""
    return _page(heading, _template("error").substitute(heading=_e(heading), message=_e(message)), viewer)


def table_signature(result: QueryResult) -> str:
    """Changes whenever a lead on the page or a count changes: the live list swaps the table then."""
    parts = [str(result.total), repr(sorted(result.by_status.items()))]
    parts += [f"{r['lead_id']}@{r['version']}" for r in result.rows]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def leads_table(result: QueryResult, page: int, page_size: int, query: str) -> str:
    """The counts, the table and the pager of the lead list (also what the live list swaps in)."""
    counts = " ".join(
        f'<span data-status="{_e(k)}">{_e(STATUS_ZH.get(k, k))} {v}</span>' for k, v in result.by_status.items()
    )
    models = " ".join(f"<span>{_e(model_label(k))} {v}</span>" for k, v in result.by_model.items())
    rows = "".join(_lead_row(r) for r in result.rows) or '<tr><td colspan="9">没有符合条件的线索</td></tr>'
    return (
        f'<p class="counts">共 <strong id="total">{result.total}</strong> 条 {counts}</p>'
        f'<p class="counts">{models}</p>'
        '<table class="leads"><thead><tr><th class="c-time">成立时间</th><th class="c-id">线索</th>'
        '<th class="c-model">模型</th><th class="c-short">部门</th><th class="c-short">区划</th>'
        '<th class="c-short">严重程度</th><th class="c-short">状态</th><th class="c-time">期限</th>'
        '<th class="c-summary">摘要</th></tr></thead>'
        f'<tbody id="lead-rows">{rows}</tbody></table>{_pager("/leads", result.total, page, page_size, query)}'
    )


def _lead_row(r: Mapping[str, Any]) -> str:
    return (
        f'<tr data-lead="{_e(r["lead_id"])}"><td class="c-time">{_time(r["raised_at"])}</td>'
        f'<td class="c-id"><a href="/leads/{_e(r["lead_id"])}" title="{_e(r["lead_id"])}">'
        f"{_e(_short_id(r['lead_id']))}</a></td>"
        f'<td class="c-model">{_e(model_label(r["model_id"]))}</td><td class="c-short">{_e(r["department"])}</td>'
        f'<td class="c-short">{_e(r["jurisdiction"])}</td>'
        f'<td class="c-short sev-{_e(r["severity"])}">{_e(SEVERITY_ZH.get(r["severity"], r["severity"]))}</td>'
        f'<td class="c-short status">{_e(STATUS_ZH.get(r["status"], r["status"]))}</td>'
        f'<td class="c-time">{_time(r["due_at"])}</td><td class="c-summary">{_e(r["summary_zh"])}</td></tr>'
    )


def _short_id(lead_id: str) -> str:
    """``M02-…4e00f3a1``: the model and the id's last characters tell leads apart in a list; the page has it all."""
    model, _, rest = lead_id.partition("-")
    return lead_id if len(rest) <= 10 else f"{model}-…{rest[-8:]}"


def leads_page(
    viewer: Viewer,
    result: QueryResult,
    form: Mapping[str, str],
    *,
    models: Sequence[str],
    page: int,
    page_size: int,
    query: str,
    poll_seconds: float,
) -> str:
    """The lead list with its filters; ``form`` holds the filter values as submitted."""
    body = _template("leads").substitute(
        model_options=_options(((m, model_label(m)) for m in models), form.get("model")),
        department_options=_options(((d, d) for d in viewer.user.visible_departments), form.get("department")),
        jurisdiction=_e(form.get("jurisdiction", "")),
        status_options=_options(STATUS_ZH.items(), form.get("status")),
        severity_options=_options(SEVERITY_ZH.items(), form.get("severity")),
        due_from=_e(form.get("due_from", "")),
        due_to=_e(form.get("due_to", "")),
        date_input=_DATE_INPUT,
        query=_e(query),
        poll_seconds=_e(f"{poll_seconds:g}"),
        signature=table_signature(result),
        table=leads_table(result, page, page_size, query),
        now="",
    )
    return _page("线索列表", body, viewer)


def lead_page(viewer: Viewer, history: LeadHistory, assignees: Sequence[User]) -> str:
    """One lead: summary, legal basis, deadline, the evidence timeline, the forms to work on it, history."""
    lead = history.latest
    body = _template("lead").substitute(
        model_label=_e(model_label(lead["model_id"])),
        lead_id=_e(lead["lead_id"]),
        summary=_e(lead["summary_zh"]),
        status=_e(STATUS_ZH.get(lead["status"], lead["status"])) + _reason(lead),
        severity=_e(SEVERITY_ZH.get(lead["severity"], lead["severity"])),
        department=_e(lead["department"]),
        jurisdiction=_e(lead["jurisdiction"]),
        due=_time(lead["due_at"]),
        raised=_time(lead["raised_at"]),
        detected=_time(lead["detected_at"]),
        detected_gap=_gap(lead["raised_at"], lead["detected_at"]),
        legal_basis=_e(lead["legal_basis_zh"]),
        case_no=_e(lead["case_no"] or "—"),
        subject=subject_html(viewer, lead, _csrf_field(viewer.csrf)),
        timeline="".join(_evidence_item(e, lead["trigger_event_id"]) for e in _by_time(lead["evidence"])),
        action_forms=_action_forms(viewer, lead["lead_id"], assignees, _acknowledged(history.actions)),
        actions="".join(_action_row(a) for a in history.actions) or '<tr><td colspan="6">尚未办理</td></tr>',
        versions="".join(_version_row(v) for v in reversed(history.versions)),
    )
    return _page(f"线索 {lead['lead_id']}", body, viewer)


def _reason(lead: Mapping[str, Any]) -> str:
    if not lead.get("status_reason") or lead["status"] == "OPEN":
        return ""
    return f"（{_e(status_reason_zh(lead['status_reason']))}）"


def _gap(raised: int, detected: int) -> str:
    """How much later the hub found the lead than it arose (the clock's grace, or a late record)."""
    minutes = (detected - raised) // 60_000
    if minutes < 1:
        return ""
    span = f"{minutes // 60} 小时 {minutes % 60} 分" if minutes >= 60 else f"{minutes} 分钟"
    return f"，比成立时间晚 {span}"


def _acknowledged(actions: Sequence[Action]) -> Action | None:
    """The first 签收 of a lead, if any: once signed for, it is not offered again."""
    return next((a for a in actions if a.action == "acknowledge"), None)


def _by_time(evidence: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(evidence, key=lambda e: (e["occurred_at"], e["event_id"]))


def _evidence_item(e: Mapping[str, Any], trigger: str) -> str:
    mark = "（触发事件）" if e["event_id"] == trigger else ""
    return (
        f'<li data-event="{_e(e["event_id"])}"><time>{_time(e["occurred_at"])}</time> '
        f'<span class="agency">{_e(agency_zh(e["source"]))}</span> '
        f'<span class="type">{_e(record_type_zh(e["type"]))}</span>{mark}<br>'
        f'<span class="muted">事件编号 {_e(e["event_id"])} · {_e(e["type"])}</span></li>'
    )


def _action_forms(viewer: Viewer, lead_id: str, assignees: Sequence[User], acknowledged: Action | None) -> str:
    outcomes = "".join(f'<option value="{_e(o)}">{_e(o)}</option>' for o in OUTCOMES)
    if acknowledged is None:
        sign = _action_form(viewer, lead_id, "acknowledge", '<button type="submit" id="acknowledge">签收</button>')
    else:
        sign = f'<p class="act" id="acknowledged">已于 {_time(acknowledged.at)} 由 {_e(acknowledged.officer)} 签收</p>'
    forms = [
        sign,
        _action_form(
            viewer,
            lead_id,
            "outcome",
            f'<label>办理结果 <select name="outcome" id="outcome">{outcomes}</select></label> '
            '<label>备注 <input name="note" id="outcome-note" size="40"></label> '
            '<button type="submit" id="record-outcome">记录结果</button>',
            form_id="outcome-form",
        ),
        _action_form(
            viewer,
            lead_id,
            "close",
            '<label>备注 <input name="note" size="40"></label> <button type="submit" id="close">办结</button>',
        ),
    ]
    if viewer.user.may_assign and assignees:
        people = "".join(f'<option value="{_e(u.username)}">{_e(u.name)}</option>' for u in assignees)
        fields = f'<label>指派给 <select name="assignee">{people}</select></label> '
        fields += '<button type="submit" id="assign">指派</button>'
        forms.insert(1, _action_form(viewer, lead_id, "assign", fields))
    return "".join(forms)


def _action_form(viewer: Viewer, lead_id: str, action: str, fields: str, *, form_id: str = "") -> str:
    """One action's POST form: the action, the CSRF token, then its own fields."""
    id_attr = f' id="{form_id}"' if form_id else ""
    return (
        f'<form method="post" action="/leads/{_e(lead_id)}/actions" class="act"{id_attr}>'
        f'<input type="hidden" name="action" value="{_e(action)}">{_csrf_field(viewer.csrf)}{fields}</form>'
    )


def _action_row(a: Action) -> str:
    return (
        f"<tr><td>{_time(a.at)}</td><td>{_e(ACTION_ZH.get(a.action, a.action))}</td><td>{_e(a.officer)}</td>"
        f"<td>{_e(a.assignee or '')}</td><td>{_e(a.outcome or '')}</td><td>{_e(a.note)}</td></tr>"
    )


def _version_row(v: Mapping[str, Any]) -> str:
    return (
        f"<tr><td>{_time(v['version'])}</td><td>{_e(STATUS_ZH.get(v['status'], v['status']))}</td>"
        f'<td title="{_e(v["status_reason"])}">{_e(status_reason_zh(v["status_reason"]))}</td>'
        f"<td>{len(v['evidence'])}</td></tr>"
    )


def audit_page(
    viewer: Viewer,
    result: AuditPage,
    form: Mapping[str, str],
    *,
    names: Mapping[str, str],
    page: int,
    page_size: int,
    query: str,
) -> str:
    """The audit log, newest first, with its filters; ``names`` shows users' names next to their usernames."""
    rows = "".join(_audit_row(e, names) for e in result.rows) or '<tr><td colspan="6">没有符合条件的审计记录</td></tr>'
    body = _template("audit").substitute(
        who=_e(form.get("who", "")),
        what_options=_options(AUDIT_ZH.items(), form.get("what")),
        lead=_e(form.get("lead", "")),
        date_from=_e(form.get("from", "")),
        date_to=_e(form.get("to", "")),
        date_input=_DATE_INPUT,
        total=result.total,
        rows=rows,
        pager=_pager("/audit", result.total, page, page_size, query),
    )
    return _page("审计日志", body, viewer)


def _audit_row(e: AuditEntry, names: Mapping[str, str]) -> str:
    who = f"{_e(e.who)}（{_e(names[e.who])}）" if e.who in names and names[e.who] != e.who else _e(e.who)
    lead = f'<a href="/leads/{_e(e.lead_id)}">{_e(e.lead_id)}</a>' if e.lead_id else "—"
    verdict = '<span class="allowed">允许</span>' if e.allowed else '<span class="denied">拒绝</span>'
    return (
        f'<tr data-who="{_e(e.who)}" data-what="{_e(e.what)}" data-lead="{_e(e.lead_id or "")}" '
        f'data-allowed="{int(e.allowed)}"><td class="at">{_e(format_cst(e.at)[:19].replace("T", " "))}</td>'
        f'<td class="who">{who}</td><td class="what">{_e(AUDIT_ZH.get(e.what, e.what))}</td>'
        f'<td>{lead}</td><td>{verdict}</td><td class="detail">{_e(e.detail)}</td></tr>'
    )


def _pager(path: str, total: int, page: int, page_size: int, query: str) -> str:
    pages = max(1, -(-total // page_size))
    link = f"{path}?{_e(query)}&amp;page=" if query else f"{path}?page="
    parts = [f"第 {page} / {pages} 页"]
    if page > 1:
        parts.insert(0, f'<a href="{link}{page - 1}">上一页</a>')
    if page < pages:
        parts.append(f'<a href="{link}{page + 1}">下一页</a>')
    return f'<p class="pager">{" ".join(parts)}</p>'
