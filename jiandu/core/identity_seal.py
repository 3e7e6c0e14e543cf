"""Raw ID numbers sealed for the console's reveal service only (identity revealed under control).

The adapter seals each raw ID number it pseudonymises with the reveal service's X25519 public key
(an anonymous "sealed box": a fresh ephemeral key per seal, ECDH, HKDF-SHA256, ChaCha20-Poly1305),
bound to the person's pseudonym as associated data so that a sealed number cannot be moved to
another person. Only the holder of the private key (the console's reveal service, from a key file)
can open it: workers, Kafka clients and the archive carry the sealed bytes, never the number.

Rotation: a seal names the key it was made for (``key_id``: the first 8 bytes of SHA-256 of the
public key). The adapter seals with the newest public key; the reveal service accepts every private
key it is given, so numbers sealed before a rotation stay revealable until the old key is retired.

Seal layout: ``0x01`` (version) ‖ key id (8) ‖ ephemeral public key (32) ‖ ciphertext ‖ tag (16).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jiandu.errors import ConfigurationError

__all__ = ["IdentityOpener", "IdentitySealer", "SealError", "generate_key_pair", "key_id_of", "seal_key_id"]

_VERSION = b"\x01"
_INFO = b"jiandu identity seal v1"
_NONCE = bytes(12)  # every seal has its own ephemeral key, hence its own AEAD key: a fixed nonce is safe
_KEY_ID = 8
_HEADER = 1 + _KEY_ID + 32


class SealError(ValueError):
    """A seal that cannot be opened: unknown key, tampered bytes, or bound to another person."""


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public: X25519PublicKey) -> str:
    """Hex id of a public key: what a seal names and the audit log shows."""
    return hashlib.sha256(_raw(public)).digest()[:_KEY_ID].hex()


def seal_key_id(sealed: bytes) -> str:
    """The id of the key a seal was made for."""
    return sealed[1 : 1 + _KEY_ID].hex()


def _aead(shared: bytes, ephemeral: bytes, recipient: bytes) -> ChaCha20Poly1305:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)
    return ChaCha20Poly1305(key)


class IdentitySealer:
    """Seals ID numbers for one public key (the newest of the reveal service's keys)."""

    def __init__(self, public: X25519PublicKey) -> None:
        self._public = public
        self._raw = _raw(public)
        self.key_id = key_id_of(public)

    @classmethod
    def from_file(cls, path: Path) -> IdentitySealer:
        """The public key from a PEM file (``jiandu console reveal-keygen`` writes it)."""
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"JIANDU_REVEAL_PUBLIC_KEY {path}: cannot read the public key: {exc}") from exc
        if not isinstance(key, X25519PublicKey):
            raise ConfigurationError(f"JIANDU_REVEAL_PUBLIC_KEY {path}: not an X25519 public key")
        return cls(key)

    def seal(self, id_number: str, person_key: str) -> bytes:
        """The sealed number, bound to ``person_key``."""
        ephemeral = X25519PrivateKey.generate()
        eph_raw = _raw(ephemeral.public_key())
        aead = _aead(ephemeral.exchange(self._public), eph_raw, self._raw)
        body = aead.encrypt(_NONCE, id_number.encode("ascii"), person_key.encode("ascii"))
        return _VERSION + bytes.fromhex(self.key_id) + eph_raw + body

    def __repr__(self) -> str:
        return f"IdentitySealer(key_id={self.key_id})"


class IdentityOpener:
    """Opens seals with any of the reveal service's private keys (several during a rotation)."""

    def __init__(self, keys: Iterable[X25519PrivateKey]) -> None:
        self._keys = {key_id_of(k.public_key()): k for k in keys}

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> IdentityOpener:
        """The private keys from PEM files (unencrypted PKCS#8; protect them with file permissions)."""
        keys = []
        for path in paths:
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (OSError, ValueError, TypeError) as exc:
                raise ConfigurationError(f"JIANDU_REVEAL_KEY_FILES {path}: cannot read the private key: {exc}") from exc
            if not isinstance(key, X25519PrivateKey):
                raise ConfigurationError(f"JIANDU_REVEAL_KEY_FILES {path}: not an X25519 private key")
            keys.append(key)
        return cls(keys)

    @property
    def key_ids(self) -> list[str]:
        """Ids of the keys this opener holds."""
        return sorted(self._keys)

    def open(self, sealed: bytes, person_key: str) -> str:
        """The ID number sealed for ``person_key``; :class:`SealError` when it cannot be opened."""
        if len(sealed) <= _HEADER + 16 or sealed[:1] != _VERSION:
            raise SealError("not an identity seal")
        key = self._keys.get(seal_key_id(sealed))
        if key is None:
            raise SealError(f"sealed for key {seal_key_id(sealed)}, which the reveal service does not hold")
        eph_raw = sealed[1 + _KEY_ID : _HEADER]
        shared = key.exchange(X25519PublicKey.from_public_bytes(eph_raw))
        try:
            plain = _aead(shared, eph_raw, _raw(key.public_key())).decrypt(
                _NONCE, sealed[_HEADER:], person_key.encode("ascii")
            )
        except InvalidTag:
            raise SealError("the seal was altered or belongs to another person") from None
        return plain.decode("ascii")

    def __repr__(self) -> str:
        return f"IdentityOpener(key_ids={self.key_ids})"


def generate_key_pair(directory: Path) -> tuple[Path, Path, str]:
    """Write a new key pair into ``directory`` as ``reveal-<id>.key`` (0600) and ``reveal-<id>.pub``."""
    private = X25519PrivateKey.generate()
    key_id = key_id_of(private.public_key())
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / f"reveal-{key_id}.key", directory / f"reveal-{key_id}.pub"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_path.touch(mode=0o600)
    private_path.write_bytes(pem)
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path, key_id
