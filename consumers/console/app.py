"""The console's Starlette application: sign-in, the lead list, a lead, working on it, statistics.

Every page is rendered on the server. The archive is read and written from the event loop's
thread only (handlers are ``async`` and call it directly), so one SQLite connection serves all
requests; publishing an action to Kafka, which waits for the broker, runs in a worker thread.
Each view of a lead, each refusal and each sign-in goes to the archive's audit log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from consumers.archive.model import Action, LeadFilter
from consumers.archive.store import LeadArchive
from consumers.console import views
from consumers.console.labels import MODEL_ZH
from consumers.console.scope import scoped_query, scoped_statistics
from consumers.console.sessions import COOKIE, SessionSigner
from consumers.console.users import User, UserDirectory
from jiandu.core.timeutil import format_cst, local_midnight_ms
from jiandu.errors import InputError

__all__ = ["ConsoleConfig", "create_app"]

_FILTER_FIELDS = ("model", "department", "jurisdiction", "status", "severity", "due_from", "due_to")
_MAX_FORM_BYTES = 65536
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: Puts an officer's action on the outcome topic and returns once the broker has it.
Publish = Callable[[Action], None]


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """What the console needs besides the archive: users, the cookie signer, the outcome publisher."""

    users: UserDirectory
    signer: SessionSigner
    publish: Publish
    page_size: int = 50
    poll_seconds: float = 5.0


def create_app(archive: LeadArchive, config: ConsoleConfig) -> Starlette:
    """The console on ``archive``."""
    console = _Console(archive, config)
    routes = [
        Route("/", console.home),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/leads", console.signed_in(console.leads)),
        Route("/api/leads", console.signed_in(console.leads_json)),
        Route("/leads/{lead_id}", console.signed_in(console.lead)),
        Route("/leads/{lead_id}/actions", console.signed_in(console.act), methods=["POST"]),
        Route("/stats", console.signed_in(console.stats)),
        Mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static"),
    ]
    return Starlette(routes=routes)


Handler = Callable[[Request, User], Awaitable[Response]]


class _Console:
    def __init__(self, archive: LeadArchive, config: ConsoleConfig) -> None:
        self._archive = archive
        self._config = config

    # -- sessions --------------------------------------------------------------------------------

    def signed_in(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            name = self._config.signer.username(request.cookies.get(COOKIE, ""), time.time())
            user = self._config.users.get(name) if name else None
            if user is None:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "请重新登录"}, status_code=401, headers=_HEADERS)
                return RedirectResponse("/login", status_code=303)
            return await handler(request, user)

        return endpoint

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/leads", status_code=303)

    async def login_form(self, request: Request) -> Response:
        return _html(views.login_page())

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        username = form.get("username", "")
        user = await run_in_threadpool(self._config.users.authenticate, username, form.get("password", ""))
        self._archive.audit(username[:64] or "?", "sign-in", None, allowed=user is not None)
        if user is None:
            return _html(views.login_page("用户名或密码不正确"), 401)
        response = RedirectResponse("/leads", status_code=303)
        response.set_cookie(
            COOKIE,
            self._config.signer.issue(user.username, time.time()),
            max_age=self._config.signer.lifetime_seconds,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- leads -----------------------------------------------------------------------------------

    def _listing(self, request: Request, user: User) -> tuple[Any, dict[str, str], int, str]:
        form = {k: v.strip() for k, v in request.query_params.items() if k in _FILTER_FIELDS and v.strip()}
        page = _positive(request.query_params.get("page"))
        result = scoped_query(self._archive, user, _lead_filter(form), page, self._config.page_size)
        return result, form, page, urlencode(form)

    async def leads(self, request: Request, user: User) -> Response:
        try:
            result, form, page, query = self._listing(request, user)
        except InputError as exc:
            return _html(views.error_page(user, "筛选条件有误", str(exc)), 400)
        return _html(
            views.leads_page(
                user,
                result,
                form,
                models=sorted(MODEL_ZH),
                page=page,
                page_size=self._config.page_size,
                query=query,
                poll_seconds=self._config.poll_seconds,
            )
        )

    async def leads_json(self, request: Request, user: User) -> Response:
        try:
            result, _, page, query = self._listing(request, user)
        except InputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=_HEADERS)
        body = {
            "total": result.total,
            "by_status": result.by_status,
            "by_model": result.by_model,
            "signature": views.table_signature(result),
            "html": views.leads_table(result, page, self._config.page_size, query),
            "now": format_cst(int(time.time() * 1000))[:19].replace("T", " "),
        }
        return JSONResponse(body, headers=_HEADERS)

    async def lead(self, request: Request, user: User) -> Response:
        lead_id = request.path_params["lead_id"]
        history = self._archive.lead(lead_id)
        if history is None:
            return _html(views.error_page(user, "未找到线索", f"线索 {lead_id} 不在档案中"), 404)
        if not user.may_see(history.latest):
            self._archive.audit(user.username, "view", lead_id, allowed=False)
            return _html(views.error_page(user, "无权查看", "该线索不在您的管辖区划或承办部门范围内"), 403)
        self._archive.audit(user.username, "view", lead_id, allowed=True)
        return _html(views.lead_page(user, history, self._config.users.officers_for(history.latest)))

    async def act(self, request: Request, user: User) -> Response:
        lead_id = request.path_params["lead_id"]
        form = await _form(request)
        kind = form.get("action", "")
        history = self._archive.lead(lead_id)
        if history is None:
            return _html(views.error_page(user, "未找到线索", f"线索 {lead_id} 不在档案中"), 404)
        assignee = form.get("assignee") or None
        allowed = user.may_see(history.latest) and (kind != "assign" or self._may_assign(user, assignee, history))
        if not allowed:
            self._archive.audit(user.username, f"action:{kind}"[:64], lead_id, allowed=False)
            return _html(views.error_page(user, "无权办理", "该线索或指派对象不在您的权限范围内"), 403)
        outcome = form.get("outcome") if kind == "outcome" else None
        action = Action(lead_id, user.username, kind, int(time.time() * 1000), assignee, outcome, form.get("note", ""))
        try:
            action.validate()
        except InputError as exc:
            return _html(views.error_page(user, "办理信息有误", str(exc)), 400)
        # the outcome topic first, as `jiandu archive act`: a rebuilt archive then gets the action back
        await run_in_threadpool(self._config.publish, action)
        self._archive.record_action(action)  # also writes its audit row
        return RedirectResponse(f"/leads/{lead_id}", status_code=303)

    def _may_assign(self, user: User, assignee: str | None, history: Any) -> bool:
        target = self._config.users.get(assignee or "")
        return user.may_assign and target is not None and target in self._config.users.officers_for(history.latest)

    async def stats(self, request: Request, user: User) -> Response:
        form = {k: v.strip() for k, v in request.query_params.items() if k in ("model", "jurisdiction") and v.strip()}
        rows = scoped_statistics(self._archive, user, _lead_filter(form))
        return _html(views.stats_page(user, rows, form, sorted(MODEL_ZH)))


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (python-multipart is not a dependency)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _positive(text: str | None) -> int:
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


def _lead_filter(form: dict[str, str]) -> LeadFilter:
    """The archive filter of the submitted form; due dates are China calendar days, ``due_to`` inclusive."""
    return LeadFilter(
        model=form.get("model"),
        department=form.get("department"),
        jurisdiction_prefix=form.get("jurisdiction"),
        status=form.get("status"),
        severity=form.get("severity"),
        due_after=_day_ms(form.get("due_from"), "due_from"),
        due_before=_day_ms(form.get("due_to"), "due_to", next_day=True),
    )


def _day_ms(text: str | None, name: str, *, next_day: bool = False) -> int | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} {text!r}: use a date like 2025-03-01") from None
    return local_midnight_ms(day + timedelta(days=1) if next_day else day)
