"""Signed session cookies: ``<username>.<expiry seconds>.<HMAC-SHA256>`` (base64url), nothing else in them.

The server keeps no session table: a cookie is valid while its signature checks and it has not
expired. Changing ``JIANDU_CONSOLE_SECRET`` signs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["COOKIE", "SessionSigner"]

COOKIE = "jiandu_console"


class SessionSigner:
    """Issues and checks session cookie values with one secret key."""

    def __init__(self, secret: bytes, *, lifetime_seconds: int = 8 * 3600) -> None:
        if len(secret) < 16:
            raise ValueError("the console session secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds

    def issue(self, username: str, now: float) -> str:
        """A cookie value for ``username``, valid for the lifetime from ``now`` (epoch seconds)."""
        payload = f"{_b64(username.encode())}.{int(now) + self.lifetime_seconds}"
        return f"{payload}.{self._sign(payload)}"

    def username(self, value: str, now: float) -> str | None:
        """The signed-in username, or None when the value is forged, malformed or expired."""
        payload, _, signature = value.rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        encoded, _, expiry = payload.partition(".")
        try:
            if int(expiry) < now:
                return None
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
