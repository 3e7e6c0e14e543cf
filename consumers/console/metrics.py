"""The console's Prometheus series: sign-ins by result, refusals by reason, requests by status class.

Labels are fixed words (``ok``/``failed``; ``scope``/``role``/``csrf``; ``2xx``…): never a
username, a path or a lead.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jiandu.observability.labels import status_class
from jiandu.observability.metrics.consumers import CONSOLE_DENIED, CONSOLE_REQUESTS, CONSOLE_SIGNINS

__all__ = ["CSRF", "DENIAL_REASONS", "ROLE", "SCOPE", "RequestCounting", "count_denied", "count_signin"]

SCOPE = "scope"  # the lead (or the assignee) is outside the user's jurisdiction or departments
ROLE = "role"  # the user's role may not do it (an officer reading the audit log, assigning)
CSRF = "csrf"  # a POST without its session's (or the sign-in form's) token
DENIAL_REASONS = (SCOPE, ROLE, CSRF)

_SIGNINS = {True: CONSOLE_SIGNINS.labels("ok"), False: CONSOLE_SIGNINS.labels("failed")}
_DENIED = {reason: CONSOLE_DENIED.labels(reason) for reason in DENIAL_REASONS}
# every status class exported at 0 from the start: rate() and increase() miss the first count of a series
# that appears already holding it
_REQUESTS = {status: CONSOLE_REQUESTS.labels(status) for status in ("2xx", "3xx", "4xx", "5xx")}


def count_signin(ok: bool) -> None:
    """A sign-in attempt whose password was checked: ``ok`` or ``failed``."""
    _SIGNINS[ok].inc()


def count_denied(reason: str) -> None:
    """A request refused with 403, by reason (one of :data:`DENIAL_REASONS`)."""
    _DENIED[reason].inc()


class RequestCounting:
    """ASGI middleware counting every HTTP response by status class (``5xx`` when the app raised)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        except Exception:  # Starlette's error middleware, outside this one, answers 500
            _count_request(status or 500)
            raise
        _count_request(status)


def _count_request(status: int | None) -> None:
    counter = _REQUESTS.get(status_class(status))
    (counter or CONSOLE_REQUESTS.labels(status_class(status))).inc()
