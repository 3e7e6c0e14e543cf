"""Sealed files: a processed export kept encrypted at rest, streamed in authenticated chunks.

An agency export holds raw ID numbers, which must not rest in clear on the hub's
disk once the file is processed. It is kept sealed instead, with AES-256-GCM under
a key derived the way dead-letter payloads are sealed (``jiandu.core.sealing``:
HKDF-SHA256 of ``JIANDU_PSEUDONYM_KEY``), here with this format's own label and a
random salt per file, so each file has a key of its own. Exports can be hundreds
of megabytes: the file is sealed and opened chunk by chunk, never whole in memory.

Format, version 1::

    header   b"JDSEALF1" · chunk size (4 bytes, big-endian) · salt (32 bytes) · key check (16 bytes)
    chunks   AES-256-GCM(chunk) = ciphertext ‖ 16-byte tag, for every ``chunk size`` bytes of the
             original; the last chunk is shorter, possibly empty, and always present

Each chunk's nonce is its index (11 bytes, big-endian) followed by a final-chunk
flag (1 byte), and the whole header is its associated data (the STREAM
construction): a chunk moved to another place does not open, a file cut at a chunk
boundary lacks its final chunk, bytes appended after the final chunk are refused,
and an altered header opens nothing. The key check (HMAC of the header under a
second derived key) tells a wrong key apart from a damaged file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jiandu.errors import ConfigurationError, InputError

__all__ = ["DEFAULT_CHUNK_BYTES", "MAGIC", "FileSeal", "SealedCopy"]

MAGIC = b"JDSEALF1"
DEFAULT_CHUNK_BYTES = 1 << 20
_INFO = b"jiandu file-drop sealed file v1"
_SALT, _CHECK, _TAG = 32, 16, 16
_PREAMBLE = struct.Struct(">8sI32s")  # magic, chunk size, salt: what the key check covers
_HEADER = _PREAMBLE.size + _CHECK
_MAX_CHUNK = 64 << 20


@dataclass(frozen=True, slots=True)
class SealedCopy:
    """What was sealed or opened: the original's SHA-256 and size (receipts record them)."""

    sha256: str
    size: int


class FileSeal:
    """Seals files into the chunked format above and opens them again; the key never leaves it."""

    def __init__(self, pseudonym_key: bytes, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        if not 1 <= chunk_bytes <= _MAX_CHUNK:
            raise ValueError(f"chunk_bytes must be between 1 and {_MAX_CHUNK}")
        self._key = pseudonym_key
        self._chunk = chunk_bytes

    def seal(self, source: Path, target: Path) -> SealedCopy:
        """Write ``source`` sealed to ``target`` (created or truncated) and fsync it."""
        header, aead = self._new_header()
        digest, size = hashlib.sha256(), 0
        with source.open("rb") as clear, target.open("wb") as sealed:
            sealed.write(header)
            for index, chunk, last in _chunks(clear, self._chunk):
                digest.update(chunk)
                size += len(chunk)
                sealed.write(aead.encrypt(_nonce(index, last), chunk, header))
            sealed.flush()
            os.fsync(sealed.fileno())
        return SealedCopy(digest.hexdigest(), size)

    def unseal(self, sealed: Path, out: BinaryIO) -> SealedCopy:
        """Write the original of ``sealed`` to ``out``; only authenticated chunks are ever written.

        InputError when the file is not a sealed file, was altered or was cut short;
        ConfigurationError when it was sealed under another pseudonym key.
        """
        digest, size = hashlib.sha256(), 0
        with sealed.open("rb") as handle:
            header, aead, chunk_bytes = self._read_header(sealed, handle)
            for index, block, last in _chunks(handle, chunk_bytes + _TAG):
                chunk = _open_chunk(aead, header, index, block, last, sealed)
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return SealedCopy(digest.hexdigest(), size)

    def _new_header(self) -> tuple[bytes, AESGCM]:
        preamble = _PREAMBLE.pack(MAGIC, self._chunk, os.urandom(_SALT))
        aead_key, check_key = self._keys(preamble)
        return preamble + _key_check(check_key, preamble), AESGCM(aead_key)

    def _read_header(self, path: Path, handle: BinaryIO) -> tuple[bytes, AESGCM, int]:
        header = handle.read(_HEADER)
        if len(header) < _HEADER or not header.startswith(MAGIC):
            raise InputError(f"{path} is not a sealed file of the file drop (no {MAGIC.decode()} header)")
        preamble, check = header[: _PREAMBLE.size], header[_PREAMBLE.size :]
        _, chunk_bytes, _ = _PREAMBLE.unpack(preamble)
        aead_key, check_key = self._keys(preamble)
        if not 1 <= chunk_bytes <= _MAX_CHUNK or not hmac.compare_digest(check, _key_check(check_key, preamble)):
            raise ConfigurationError(
                f"cannot open {path}: it was sealed under a different JIANDU_PSEUDONYM_KEY, or its header was "
                "altered; set the key the hub had when it processed the file"
            )
        return header, AESGCM(aead_key), chunk_bytes

    def _keys(self, preamble: bytes) -> tuple[bytes, bytes]:
        salt = preamble[-_SALT:]
        keys = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=_INFO).derive(self._key)
        return keys[:32], keys[32:]

    def __repr__(self) -> str:
        return f"FileSeal(<key hidden>, chunk_bytes={self._chunk})"


def _chunks(handle: BinaryIO, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """(index, chunk, is last) for every ``size`` bytes of a stream; one chunk read ahead, always a last one."""
    current, index = handle.read(size), 0
    while True:
        following = handle.read(size) if len(current) == size else b""
        yield index, current, not following
        if not following:
            return
        current, index = following, index + 1


def _open_chunk(aead: AESGCM, header: bytes, index: int, block: bytes, last: bool, path: Path) -> bytes:
    try:
        return aead.decrypt(_nonce(index, last), block, header)
    except InvalidTag:
        pass
    if _authentic(aead, header, index, block, not last):
        what = "is truncated: it ends before its final chunk" if last else "has bytes appended after its final chunk"
        raise InputError(f"{path} {what} (chunk {index}); restore it from a backup") from None
    raise InputError(
        f"{path} is damaged or was altered: chunk {index} does not authenticate (changed, moved or cut short); "
        "restore it from a backup"
    ) from None


def _authentic(aead: AESGCM, header: bytes, index: int, block: bytes, last: bool) -> bool:
    try:
        aead.decrypt(_nonce(index, last), block, header)
    except InvalidTag:
        return False
    return True


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _key_check(check_key: bytes, preamble: bytes) -> bytes:
    return hmac.new(check_key, preamble, hashlib.sha256).digest()[:_CHECK]
