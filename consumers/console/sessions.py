"""Signed session cookies and the CSRF tokens of the console's forms.

A session cookie is ``<username>.<expiry seconds>.<session id>.<HMAC-SHA256>`` (base64url username,
a random session id), nothing else in it. A cookie is valid while its signature checks, it has not
expired, **and** the server still holds its session (:class:`SessionStore`): signing out ends the
session on the server, so a copied cookie is worthless afterwards (once, a saved cookie still opened
/leads after /logout). A session also ends after ``idle_seconds`` without a request, after its
absolute lifetime, when its user signs out everywhere, when the user is removed from the users file,
and when the console restarts. Changing ``JIANDU_CONSOLE_SECRET`` signs everyone out as well.

CSRF: every state-changing form of a signed-in page carries ``csrf_token`` = HMAC of the session id
under the same secret (domain-separated from the cookie signatures). A forging site cannot read
the page, the cookie (HttpOnly) or the secret, so it cannot supply the token; the token changes
with every sign-in and needs no server-side state. The sign-in form has no session yet: it uses a
*signed double-submit cookie* (a random nonce in a ``/login`` cookie, its HMAC in the form), so a
forged sign-in (login CSRF: signing a victim in as the attacker) fails too, even if an attacker
could plant a cookie, because the HMAC of a planted nonce cannot be computed without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["COOKIE", "CSRF_FIELD", "LOGIN_COOKIE", "Session", "SessionSigner", "SessionStore"]

COOKIE = "jiandu_console"
LOGIN_COOKIE = "jiandu_console_login"
CSRF_FIELD = "csrf_token"
_CSRF_CONTEXT = "csrf\x1f"  # cookie payloads never contain \x1f: a token is never a cookie signature
_LOGIN_CONTEXT = "login\x1f"
_NONCE_BYTES = 18
_NONCE = re.compile(r"[A-Za-z0-9_-]{24}")  # token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Session:
    """A valid session cookie: who, which sign-in, until when (epoch seconds)."""

    username: str
    session_id: str
    expires_at: int


class SessionSigner:
    """Issues and checks session cookie values and CSRF tokens with one secret key."""

    def __init__(self, secret: bytes, *, lifetime_seconds: int = 8 * 3600) -> None:
        if len(secret) < 16:
            raise ValueError("the console session secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds

    def issue(self, username: str, now: float, session_id: str | None = None) -> str:
        """A cookie value for a new session of ``username``, valid for the lifetime from ``now`` (epoch seconds)."""
        session_id = session_id or secrets.token_urlsafe(_NONCE_BYTES)
        payload = f"{_b64(username.encode())}.{int(now) + self.lifetime_seconds}.{session_id}"
        return f"{payload}.{self._sign(payload)}"

    def session(self, value: str, now: float) -> Session | None:
        """The session of a cookie value, or None when it is forged, malformed or expired."""
        payload, _, signature = value.rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        parts = payload.split(".")
        if len(parts) != 3:
            return None
        encoded, expiry, session_id = parts
        try:
            if int(expiry) < now:
                return None
            username = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return Session(username, session_id, int(expiry))

    def username(self, value: str, now: float) -> str | None:
        """The signed-in username, or None when the value is forged, malformed or expired."""
        session = self.session(value, now)
        return None if session is None else session.username

    def csrf_token(self, session: Session) -> str:
        """The token every POST form of this session carries."""
        return self._sign(_CSRF_CONTEXT + session.session_id)

    def csrf_ok(self, session: Session, token: str) -> bool:
        """True when ``token`` is this session's (constant-time)."""
        return bool(token) and hmac.compare_digest(token, self.csrf_token(session))

    @staticmethod
    def login_nonce(current: str = "") -> str:
        """The sign-in cookie's nonce: ``current`` when it is one we could have issued, else a fresh one."""
        return current if _NONCE.fullmatch(current) else secrets.token_urlsafe(_NONCE_BYTES)

    def login_token(self, nonce: str) -> str:
        """The sign-in form's token for the nonce in its cookie."""
        return self._sign(_LOGIN_CONTEXT + nonce)

    def login_ok(self, nonce: str, token: str) -> bool:
        """True when the form's token matches the cookie's nonce (both present; constant-time)."""
        return bool(nonce) and bool(token) and hmac.compare_digest(token, self.login_token(nonce))

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


@dataclass(slots=True)
class _Live:
    username: str
    opened: float
    seen: float


class SessionStore:
    """The sessions the server holds: opened at sign-in, ended at sign-out, idle timeout or lifetime.

    In memory: a console restart ends every session (officers sign in again), and nothing about a
    session is written anywhere. Thread-safe; at most ``max_sessions`` (the oldest end first).
    """

    def __init__(
        self,
        *,
        idle_seconds: float = 1800.0,
        lifetime_seconds: float = 8 * 3600.0,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.lifetime_seconds = lifetime_seconds
        self._max = max_sessions
        self._clock = clock
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()

    def open(self, username: str) -> str:
        """A new session of ``username``; its id goes into the signed cookie."""
        session_id = secrets.token_urlsafe(_NONCE_BYTES)
        now = self._clock()
        with self._lock:
            self._live[session_id] = _Live(username, now, now)
            while len(self._live) > self._max:
                del self._live[next(iter(self._live))]
        return session_id

    def touch(self, session: Session) -> bool:
        """True when the cookie's session is live (and now seen again); an idle or expired one is ended."""
        now = self._clock()
        with self._lock:
            live = self._live.get(session.session_id)
            if live is None or live.username != session.username:
                return False
            if now - live.seen > self.idle_seconds or now - live.opened > self.lifetime_seconds:
                del self._live[session.session_id]
                return False
            live.seen = now
            return True

    def end(self, session_id: str) -> None:
        """End one session (sign-out)."""
        with self._lock:
            self._live.pop(session_id, None)

    def end_user(self, username: str) -> int:
        """End every session of ``username`` (sign-out everywhere); how many there were."""
        with self._lock:
            ended = [sid for sid, live in self._live.items() if live.username == username]
            for sid in ended:
                del self._live[sid]
        return len(ended)

    def keep_only(self, usernames: Iterable[str]) -> int:
        """End the sessions of users no longer configured; how many ended."""
        kept = set(usernames)
        with self._lock:
            ended = [sid for sid, live in self._live.items() if live.username not in kept]
            for sid in ended:
                del self._live[sid]
        return len(ended)

    def __len__(self) -> int:
        return len(self._live)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
