"""Signed session cookies and the CSRF tokens of the console's forms.

A session cookie is ``<username>.<expiry seconds>.<session id>.<HMAC-SHA256>`` (base64url username,
a random session id), nothing else in it. A cookie is valid while its signature checks, it has not
expired, **and** the server still holds its session (:class:`SessionStore`): signing out ends the
session on the server, so a copied cookie is worthless afterwards (once, a saved cookie still opened
/leads after /logout). A session also ends after ``idle_seconds`` without a request, after its
absolute lifetime, when its user signs out everywhere and when the user is removed from the users file.
Sessions are rows of the shared archive database, so every console replica behind a load balancer
knows each of them, a sign-out on one replica holds on all, and a replica's restart ends none.
Changing ``JIANDU_CONSOLE_SECRET`` signs everyone out (every replica must have the same one).

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from consumers.archive.store import LeadArchive

__all__ = ["COOKIE", "CSRF_FIELD", "LOGIN_COOKIE", "Session", "SessionSigner", "SessionStore"]

COOKIE = "jiandu_console"
LOGIN_COOKIE = "jiandu_console_login"
CSRF_FIELD = "csrf_token"
_CSRF_CONTEXT = "csrf\x1f"  # cookie payloads never contain \x1f: a token is never a cookie signature
_LOGIN_CONTEXT = "login\x1f"
_NONCE_BYTES = 18
_NONCE = re.compile(r"[A-Za-z0-9_-]{24}")  # token_urlsafe(18)
_TOUCH_SECONDS = 60.0
_PURGE_SECONDS = 60.0


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


class SessionStore:
    """The sessions the console holds, in the shared archive database: every replica sees the same ones.

    Opened at sign-in, read on every request on whichever replica gets it, ended at sign-out (on
    every replica at once), after ``idle_seconds`` without a request, after ``lifetime_seconds``,
    by sign-out everywhere and when the user leaves the users file. A console restart ends nothing.
    The last-seen time is written at most every :attr:`touch_seconds` (a minute, or a tenth of the
    idle timeout when that is shorter) per session, not on every request: a session may therefore
    end up to that much before ``idle_seconds`` have passed since its last request, never after.
    The database holds the SHA-256 of each session id, never the id (and without the cookie-signing
    key an id alone opens nothing). Expired rows are purged at most once a minute, at a sign-in.
    """

    def __init__(
        self,
        archive: LeadArchive,
        *,
        idle_seconds: float = 1800.0,
        lifetime_seconds: float = 8 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.lifetime_seconds = lifetime_seconds
        self.touch_seconds = min(_TOUCH_SECONDS, idle_seconds / 10)
        self._archive = archive
        self._clock = clock
        self._purged = float("-inf")

    def open(self, username: str) -> str:
        """A new session of ``username``; its id goes into the signed cookie."""
        now = self._clock()
        if now - self._purged >= _PURGE_SECONDS:
            self.purge()
        session_id = secrets.token_urlsafe(_NONCE_BYTES)
        self._archive.open_session(_key(session_id), username, _ms(now))
        return session_id

    def touch(self, session: Session) -> bool:
        """True when the cookie's session is live (and now seen again); an idle or expired one is ended."""
        now, key = self._clock(), _key(session.session_id)
        stored = self._archive.stored_session(key)
        if stored is None or stored.username != session.username:
            return False
        if (
            _ms(now) - stored.seen_at > self.idle_seconds * 1000
            or _ms(now) - stored.opened_at > self.lifetime_seconds * 1000
        ):
            self._archive.end_sessions(key=key)
            return False
        if _ms(now) - stored.seen_at >= self.touch_seconds * 1000:
            self._archive.session_seen(key, _ms(now))
        return True

    def end(self, session_id: str) -> None:
        """End one session (sign-out)."""
        self._archive.end_sessions(key=_key(session_id))

    def end_user(self, username: str) -> int:
        """End every session of ``username`` (sign-out everywhere); how many there were."""
        return self._archive.end_sessions(username=username)

    def keep_only(self, usernames: Iterable[str]) -> int:
        """End the sessions of users no longer configured; how many ended."""
        return self._archive.end_sessions_except(usernames)

    def purge(self) -> int:
        """Delete the sessions that have expired (idle or past their lifetime); how many."""
        now = self._clock()
        self._purged = now
        return self._archive.purge_sessions(
            seen_before=_ms(now - self.idle_seconds), opened_before=_ms(now - self.lifetime_seconds)
        )

    def __len__(self) -> int:
        return self._archive.session_count()


def _key(session_id: str) -> str:
    """What the database holds of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
