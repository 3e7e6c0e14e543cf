"""Webhook signatures: ``X-Jiandu-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``.

The timestamp is signed with the body so that a captured request cannot be
replayed later: a receiver recomputes the signature, compares in constant time
and rejects timestamps older than five minutes (:func:`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "TOLERANCE_SECONDS", "sign", "verify_signature"]

DELIVERY_HEADER = "X-Jiandu-Delivery"
TIMESTAMP_HEADER = "X-Jiandu-Timestamp"
SIGNATURE_HEADER = "X-Jiandu-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True when ``headers`` carry a valid v1 signature of ``body`` made within ``tolerance`` seconds.

    ``headers`` are looked up case-insensitively (HTTP header names are).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lower[TIMESTAMP_HEADER.lower()])
        signature = lower[SIGNATURE_HEADER.lower()]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
