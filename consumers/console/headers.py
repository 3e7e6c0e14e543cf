"""The response headers every page of the console carries (the feature modules' pages as app.py's)."""

from __future__ import annotations

__all__ = ["PAGE_HEADERS"]

#: No caching (pages show personal data), no framing, scripts and styles from the console only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
