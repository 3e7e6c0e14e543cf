"""Sealing of dead-letter payloads.

A dead letter must keep the original bytes (nothing is lost; a fixed mapping can
re-submit them), but those bytes may hold raw ID numbers, which must never reach
Kafka in clear. They are sealed with AES-256-GCM under a key derived (HKDF) from
the pseudonym key, so only the hub can open them.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jiandu.errors import ConfigurationError

__all__ = ["PayloadSeal"]

_INFO = b"jiandu dead-letter payload seal v1"
_NONCE = 12


class PayloadSeal:
    """Seals and opens dead-letter payloads."""

    def __init__(self, pseudonym_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(pseudonym_key)
        self._aead = AESGCM(key)

    def seal(self, payload: bytes) -> bytes:
        """nonce ‖ ciphertext ‖ tag."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, payload, _INFO)

    def open(self, sealed: bytes) -> bytes:
        """The original payload; fails if the hub's key is not the one that sealed it."""
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _INFO)
        except InvalidTag:
            raise ConfigurationError(
                "cannot open a dead-letter payload: it was sealed under a different JIANDU_PSEUDONYM_KEY"
            ) from None

    def __repr__(self) -> str:
        return "PayloadSeal(<key hidden>)"
