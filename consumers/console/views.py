"""Server-rendered HTML of the console: Jinja2 templates in ``templates/`` with autoescape (templating.py).

Each function gathers what one page shows and renders its template; no HTML is put together
here, so no value can reach a page unescaped. Every POST form gets the viewer's CSRF token as a
hidden field (the ``csrf_field`` macro of ``macros.html``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consumers.archive.model import OUTCOMES, Action, AuditPage, LeadHistory, QueryResult
from consumers.console.subject import PURPOSE_LENGTH
from consumers.console.templating import model_label, render
from consumers.console.users import User

__all__ = [
    "Viewer",
    "audit_page",
    "error_page",
    "lead_page",
    "leads_page",
    "leads_table",
    "login_page",
    "model_label",
    "render_page",
    "table_signature",
]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whom a page is rendered for: the signed-in user and the CSRF token of their session."""

    user: User
    csrf: str
    session_id: str = ""


def render_page(template: str, viewer: Viewer | None, **context: Any) -> str:
    """A page of the console (``template`` extends ``layout.html``), for the feature modules too."""
    return render(template, viewer=viewer, **context)


def login_page(token: str, message: str = "") -> str:
    """The sign-in form with its double-submit token, and an error message after a failed attempt."""
    return render_page("login.html", None, title="登录", token=token, message=message)


def error_page(viewer: Viewer | None, heading: str, message: str) -> str:
    """403, 404 and 400 pages."""
    return render_page("error.html", viewer, title=heading, heading=heading, message=message)


def table_signature(result: QueryResult) -> str:
    """Changes whenever a lead on the page or a count changes: the live list swaps the table then."""
    parts = [str(result.total), repr(sorted(result.by_status.items()))]
    parts += [f"{r['lead_id']}@{r['version']}" for r in result.rows]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def leads_table(result: QueryResult, page: int, page_size: int, query: str) -> str:
    """The counts, the table and the pager of the lead list (also what the live list swaps in)."""
    return render("leads_table.html", result=result, page=page, page_size=page_size, query=query)


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
    return render_page(
        "leads.html",
        viewer,
        title="线索列表",
        form=form,
        model_choices=[(m, model_label(m)) for m in models],
        department_choices=[(d, d) for d in viewer.user.visible_departments],
        result=result,
        page=page,
        page_size=page_size,
        query=query,
        poll_seconds=f"{poll_seconds:g}",
        signature=table_signature(result),
    )


def lead_page(viewer: Viewer, history: LeadHistory, assignees: Sequence[User]) -> str:
    """One lead: summary, legal basis, deadline, the evidence timeline, the forms to work on it, history."""
    lead = history.latest
    return render_page(
        "lead.html",
        viewer,
        title=f"线索 {lead['lead_id']}",
        lead=lead,
        history=history,
        evidence=sorted(lead["evidence"], key=lambda e: (e["occurred_at"], e["event_id"])),
        acknowledged=_acknowledged(history.actions),
        names={u.username: u.name for u in assignees},
        assignees=assignees,
        outcomes=OUTCOMES,
        detected_gap=_gap(lead["raised_at"], lead["detected_at"]),
        purpose_length=PURPOSE_LENGTH,
    )


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
    return render_page(
        "audit.html",
        viewer,
        title="审计日志",
        result=result,
        form=form,
        names=names,
        page=page,
        page_size=page_size,
        query=query,
    )
