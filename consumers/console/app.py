"""The console's Starlette application: sign-in, the lead list, a lead, working on it, statistics, the audit log.

Every page is rendered on the server. The archive is read and written from the event loop's
thread only (handlers are ``async`` and call it directly), so one SQLite connection serves all
requests; publishing an action to Kafka, which waits for the broker, runs in a worker thread.
Each view of a lead, each action, each refusal, each sign-in and sign-out goes to the archive's
audit log. Every POST is checked for its CSRF token (sessions.py) before it changes anything.
Sign-ins, refusals (by reason: scope, role, csrf) and responses (by status class) are counted
for /metrics (metrics.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from consumers.archive.model import Action
from consumers.archive.store import LeadArchive
from consumers.console import views
from consumers.console.export import export_endpoint
from consumers.console.forms import (
    AUDIT_FIELDS,
    LEAD_FIELDS,
    audit_filter,
    lead_filter,
    positive,
    read_form,
    submitted,
)
from consumers.console.labels import MODEL_ZH
from consumers.console.metrics import CSRF, ROLE, SCOPE, RequestCounting, count_denied, count_signin
from consumers.console.quality import QualityPages, days_silent
from consumers.console.reveal import RevealService, reveal_endpoint
from consumers.console.scope import audit_scope, scoped_query
from consumers.console.sessions import COOKIE, CSRF_FIELD, LOGIN_COOKIE, SessionSigner, SessionStore
from consumers.console.stats import StatsPages
from consumers.console.users import UserDirectory
from consumers.console.views import Viewer
from jiandu.core.idscan import mask_id_numbers
from jiandu.core.timeutil import format_cst
from jiandu.errors import InputError
from jiandu.security import SECURITY_HEADERS, FailureThrottle, SecurityHeaders

__all__ = ["ConsoleConfig", "Publish", "create_app"]

_HEADERS = dict(SECURITY_HEADERS)  # on every response by the middleware; set here too for the 500 page
_NOT_FOUND = ("未找到线索", "线索 {} 不在档案中，或不在您的管辖区划或承办部门范围内")
_LOCKED = "登录失败次数过多，请 {} 秒后再试。"
_THROTTLE_AUDIT_SECONDS = 60.0
_CSRF_HEADING = "请求未通过安全校验"
_CSRF_MESSAGE = (
    "该请求缺少有效的安全令牌（CSRF），可能来自其他网站伪造的请求，操作未执行，已记入审计日志。"
    "如确是您本人操作，请回到控制台页面刷新后重试。"
)
_LOGIN_CSRF_MESSAGE = "登录请求未通过安全校验（页面已过期或来自其他网站），请重新输入用户名和密码。"

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
    session_idle_seconds: float = 1800.0
    """A session without a request for this long ends (its absolute lifetime is the signer's)."""
    signins: FailureThrottle = field(default_factory=lambda: FailureThrottle(lockout_failures=20))
    """Sign-in failures per user name and per client address: 5 free, then waits doubling from 1 s to
    60 s, and after 20 a lockout of 15 minutes (audited as sign-in-locked)."""
    reveal: RevealService = field(default_factory=lambda: RevealService(None))


def create_app(archive: LeadArchive, config: ConsoleConfig) -> Starlette:
    """The console on ``archive``."""
    console = _Console(archive, config)
    stats, quality = StatsPages(archive, lambda user: days_silent(archive, user)), QualityPages(archive)
    routes = [
        Route("/", console.home),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.signed_in(console.logout), methods=["POST"]),
        Route("/leads", console.signed_in(console.leads)),
        Route("/api/leads", console.signed_in(console.leads_json)),
        Route("/leads.csv", console.signed_in(export_endpoint(archive))),
        Route("/leads/{lead_id}", console.signed_in(console.lead)),
        Route("/leads/{lead_id}/actions", console.signed_in(console.act), methods=["POST"]),
        Route("/leads/{lead_id}/reveal", console.signed_in(reveal_endpoint(archive, config.reveal)), methods=["POST"]),
        Route("/stats", console.signed_in(stats.stats)),
        Route("/stats/report", console.signed_in(stats.report)),
        Route("/stats/report.pdf", console.signed_in(stats.report_pdf)),
        Route("/quality", console.signed_in(quality.scorecard)),
        Route("/quality/report", console.signed_in(quality.report)),
        Route("/quality/report.pdf", console.signed_in(quality.report_pdf)),
        Route("/audit", console.signed_in(console.audit_log)),
        Mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(RequestCounting)],
        exception_handlers={InputError: _bad_request, Exception: _internal_error},
    )


async def _bad_request(request: Request, exc: Exception) -> Response:
    """Any parameter a view did not check itself: 400, never a 500."""
    return _html(views.error_page(None, "请求参数有误", str(exc)), 400)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _html(views.error_page(None, "系统错误", "服务器内部错误，操作未执行，请稍后重试。"), 500)


Handler = Callable[[Request, Viewer], Awaitable[Response]]


class _Console:
    def __init__(self, archive: LeadArchive, config: ConsoleConfig) -> None:
        self._archive = archive
        self._config = config
        # per replica, as the sign-in throttle: a name flooding three replicas is audited up to three times a minute
        self._throttle_audited: dict[str, float] = {}  # user name -> when its last refused attempt was audited
        self._sessions = SessionStore(
            archive, idle_seconds=config.session_idle_seconds, lifetime_seconds=config.signer.lifetime_seconds
        )

    # -- sessions and CSRF -----------------------------------------------------------------------

    def signed_in(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` for signed-in users only; a POST runs only with the session's CSRF token."""

        async def endpoint(request: Request) -> Response:
            signer, sessions = self._config.signer, self._sessions
            if self._config.users.refresh():  # the users file changed: removed users' sessions end
                sessions.keep_only(u.username for u in self._config.users)
            session = signer.session(request.cookies.get(COOKIE, ""), time.time())
            live = session is not None and sessions.touch(session)
            user = self._config.users.get(session.username) if session and live else None
            if session is None or user is None:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "请重新登录"}, status_code=401, headers=_HEADERS)
                return RedirectResponse("/login", status_code=303)
            viewer = Viewer(user, signer.csrf_token(session), session.session_id)
            if request.method == "POST":
                form = await read_form(request)
                if not signer.csrf_ok(session, form.get(CSRF_FIELD, "")):
                    return self._csrf_rejected(request, viewer)
            return await handler(request, viewer)

        return endpoint

    def _csrf_rejected(self, request: Request, viewer: Viewer) -> Response:
        self._refused(viewer.user.username, "csrf-rejected", request.path_params.get("lead_id"), CSRF)
        return _html(views.error_page(viewer, _CSRF_HEADING, _CSRF_MESSAGE), 403)

    def _refused(self, username: str, what: str, lead_id: str | None, reason: str) -> None:
        """Audit a refusal and count it by reason (scope, role or csrf)."""
        self._archive.audit(username, what, lead_id, allowed=False)
        count_denied(reason)

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/leads", status_code=303)

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request)

    async def login(self, request: Request) -> Response:
        """Sign in. The form carries a signed double-submit token (sessions.py): there is no session to bind to yet."""
        form = await read_form(request)
        username = mask_id_numbers(form.get("username", "")[:64]) or "?"  # it is audited: never an ID number
        if not self._config.signer.login_ok(request.cookies.get(LOGIN_COOKIE, ""), form.get(CSRF_FIELD, "")):
            self._refused(username, "csrf-rejected", None, CSRF)  # not a sign-in attempt: no password was checked
            return self._login_page(request, _LOGIN_CSRF_MESSAGE, 403, fresh=True)
        keys = (f"user:{username}", f"client:{request.client.host if request.client else '?'}")
        verdict = self._config.signins.check(*keys)
        if verdict is not None:  # no password is checked while a name or an address waits or is locked out
            self._audit_throttled(username)
            return self._login_page(request, _LOCKED.format(verdict.retry_after), 429, retry=verdict.retry_after)
        user = await run_in_threadpool(self._config.users.authenticate, username, form.get("password", ""))
        self._archive.audit(username, "sign-in", None, allowed=user is not None)
        count_signin(user is not None)
        if user is None:
            verdict = self._config.signins.failed(*keys)
            if verdict is not None and verdict.locked:
                self._archive.audit(username, "sign-in-locked", None, allowed=False)
            return self._login_page(request, "用户名或密码不正确", 401)
        self._config.signins.succeeded(*keys)
        session_id = self._sessions.open(user.username)
        response = RedirectResponse("/leads", status_code=303)
        response.set_cookie(
            COOKIE,
            self._config.signer.issue(user.username, time.time(), session_id),
            max_age=self._config.signer.lifetime_seconds,
            httponly=True,
            samesite="strict",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
        return response

    def _audit_throttled(self, username: str) -> None:
        """Audit refused attempts of a name at most once a minute: a flood must not flood the audit log too."""
        now = time.monotonic()
        if now - self._throttle_audited.get(username, float("-inf")) < _THROTTLE_AUDIT_SECONDS:
            return
        if len(self._throttle_audited) > 10_000:
            self._throttle_audited.clear()
        self._throttle_audited[username] = now
        self._archive.audit(username, "sign-in-throttled", None, allowed=False)

    def _login_page(
        self, request: Request, message: str = "", status: int = 200, *, fresh: bool = False, retry: int = 0
    ) -> Response:
        """The sign-in form; its nonce cookie is kept (two open sign-in tabs both work) unless ``fresh``."""
        nonce = self._config.signer.login_nonce("" if fresh else request.cookies.get(LOGIN_COOKIE, ""))
        response = _html(views.login_page(self._config.signer.login_token(nonce), message), status)
        if retry:
            response.headers["Retry-After"] = str(retry)
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
        return response

    async def logout(self, request: Request, viewer: Viewer) -> Response:
        """End this session on the server (its cookie is worthless from now on), or with ``everywhere`` all of
        the user's sessions."""
        if (await read_form(request)).get("everywhere"):
            self._sessions.end_user(viewer.user.username)
            self._archive.audit(viewer.user.username, "sign-out-everywhere", None, allowed=True)
        else:
            self._sessions.end(viewer.session_id)
            self._archive.audit(viewer.user.username, "sign-out", None, allowed=True)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- leads -----------------------------------------------------------------------------------

    def _listing(self, request: Request, viewer: Viewer) -> tuple[Any, dict[str, str], int, str]:
        form = submitted(request.query_params, LEAD_FIELDS)
        page = positive(request.query_params.get("page"))
        result = scoped_query(self._archive, viewer.user, lead_filter(form), page, self._config.page_size)
        return result, form, page, urlencode(form)

    async def leads(self, request: Request, viewer: Viewer) -> Response:
        try:
            result, form, page, query = self._listing(request, viewer)
        except InputError as exc:
            return _html(views.error_page(viewer, "筛选条件有误", str(exc)), 400)
        return _html(
            views.leads_page(
                viewer,
                result,
                form,
                models=sorted(MODEL_ZH),
                page=page,
                page_size=self._config.page_size,
                query=query,
                poll_seconds=self._config.poll_seconds,
            )
        )

    async def leads_json(self, request: Request, viewer: Viewer) -> Response:
        try:
            result, _, page, query = self._listing(request, viewer)
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

    async def lead(self, request: Request, viewer: Viewer) -> Response:
        lead_id, user = request.path_params["lead_id"], viewer.user
        history = self._archive.lead(lead_id)
        if history is None or not user.may_see(history.latest):
            # missing and out of scope answer alike (404): an officer cannot probe which lead ids exist
            if history is not None:
                self._refused(user.username, "view", lead_id, SCOPE)
            return _not_found(viewer, lead_id)
        self._archive.audit(user.username, "view", lead_id, allowed=True)
        return _html(views.lead_page(viewer, history, self._config.users.officers_for(history.latest)))

    async def act(self, request: Request, viewer: Viewer) -> Response:
        lead_id, user = request.path_params["lead_id"], viewer.user
        form = await read_form(request)
        kind = form.get("action", "")
        history = self._archive.lead(lead_id)
        if history is None or not user.may_see(history.latest):
            if history is not None:
                self._refused(user.username, f"action:{kind}"[:64], lead_id, SCOPE)
            return _not_found(viewer, lead_id)
        assignee = form.get("assignee") or None
        refusal = self._refusal(viewer, kind, assignee, history)
        if refusal is not None:
            self._refused(user.username, f"action:{kind}"[:64], lead_id, refusal)
            return _html(views.error_page(viewer, "无权办理", "该线索或指派对象不在您的权限范围内"), 403)
        outcome = form.get("outcome") if kind == "outcome" else None
        action = Action(lead_id, user.username, kind, int(time.time() * 1000), assignee, outcome, form.get("note", ""))
        try:
            action.validate()
        except InputError as exc:
            return _html(views.error_page(viewer, "办理信息有误", str(exc)), 400)
        # the outcome topic first, as `jiandu archive act`: a rebuilt archive then gets the action back
        await run_in_threadpool(self._config.publish, action)
        self._archive.record_action(action)  # also writes its audit row
        return RedirectResponse(f"/leads/{lead_id}", status_code=303)

    def _refusal(self, viewer: Viewer, kind: str, assignee: str | None, history: Any) -> str | None:
        """Why ``viewer`` may not do ``kind`` on the lead: ``scope`` (the lead or the assignee is outside
        what they may see) or ``role`` (only supervisors and admins assign); None when they may."""
        user = viewer.user
        if not user.may_see(history.latest):
            return SCOPE
        if kind != "assign":
            return None
        if not user.may_assign:
            return ROLE
        target = self._config.users.get(assignee or "")
        return None if target is not None and target in self._config.users.officers_for(history.latest) else SCOPE

    # -- audit log -------------------------------------------------------------------------------

    async def audit_log(self, request: Request, viewer: Viewer) -> Response:
        """The audit log for supervisors (within their jurisdiction) and admins; anyone else: 403, audited."""
        user = viewer.user
        if not user.may_read_audit:
            self._refused(user.username, "view-audit", None, ROLE)
            return _html(views.error_page(viewer, "无权查看", "审计日志仅供部门负责人和管理员查阅"), 403)
        form = submitted(request.query_params, AUDIT_FIELDS)
        try:
            page = positive(request.query_params.get("page"))
            filters = audit_filter(form, audit_scope(user, self._config.users))
            result = self._archive.audit_entries(filters, page=page, page_size=self._config.page_size)
        except InputError as exc:
            return _html(views.error_page(viewer, "筛选条件有误", str(exc)), 400)
        self._archive.audit(user.username, "view-audit", None, allowed=True)
        names = {u.username: u.name for u in self._config.users}
        body = views.audit_page(
            viewer, result, form, names=names, page=page, page_size=self._config.page_size, query=urlencode(form)
        )
        return _html(body)


def _not_found(viewer: Viewer, lead_id: str) -> Response:
    heading, message = _NOT_FOUND
    return _html(views.error_page(viewer, heading, message.format(lead_id[:80])), 404)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)
