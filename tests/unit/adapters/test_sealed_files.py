"""Sealed files: the chunked AES-256-GCM format round-trips exactly and refuses every alteration clearly."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest

from adapters.files import FileSeal
from adapters.files.sealed import MAGIC
from jiandu.errors import ConfigurationError, InputError

KEY = b"unit-test-pseudonym-key"
CHUNK = 64
HEADER = 60
BLOCK = CHUNK + 16


def sealed_copy(tmp_path: Path, data: bytes, *, chunk: int = CHUNK) -> Path:
    clear, sealed = tmp_path / "export.csv", tmp_path / "export.csv.sealed"
    clear.write_bytes(data)
    copy = FileSeal(KEY, chunk_bytes=chunk).seal(clear, sealed)
    assert (copy.sha256, copy.size) == (hashlib.sha256(data).hexdigest(), len(data))
    return sealed


def unsealed(path: Path, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    FileSeal(key).unseal(path, out)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_every_size_round_trips_exactly_and_nothing_is_in_clear(tmp_path: Path, size: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(size)) if size < 8 else b"210102198503172415," * (size // 19 + 1)
    data = data[:size]
    sealed = sealed_copy(tmp_path, data)
    content = sealed.read_bytes()
    assert content.startswith(MAGIC)
    assert len(content) == HEADER + max(1, -(-size // CHUNK)) * 16 + size, "one tag per chunk, an empty last one"
    if size >= 18:
        assert b"210102198503172415" not in content
    assert unsealed(sealed) == data


def test_the_same_file_sealed_twice_differs(tmp_path: Path) -> None:
    first = sealed_copy(tmp_path, b"x" * 200).read_bytes()
    second = sealed_copy(tmp_path, b"x" * 200).read_bytes()
    assert first != second, "a random salt per file: a key of its own"


def test_a_changed_byte_anywhere_in_the_chunks_is_refused(tmp_path: Path) -> None:
    sealed = sealed_copy(tmp_path, os.urandom(3 * CHUNK + 5))
    content = sealed.read_bytes()
    for position in (HEADER, HEADER + BLOCK + 3, len(content) - 1):
        altered = bytearray(content)
        altered[position] ^= 0x01
        sealed.write_bytes(bytes(altered))
        with pytest.raises(InputError, match=r"is damaged or was altered: chunk \d+ does not authenticate"):
            unsealed(sealed)


def test_reordered_chunks_are_refused(tmp_path: Path) -> None:
    sealed = sealed_copy(tmp_path, os.urandom(3 * CHUNK + 5))
    content = sealed.read_bytes()
    header, first, second, rest = (
        content[:HEADER],
        content[HEADER : HEADER + BLOCK],
        content[HEADER + BLOCK : HEADER + 2 * BLOCK],
        content[HEADER + 2 * BLOCK :],
    )
    sealed.write_bytes(header + second + first + rest)
    with pytest.raises(InputError, match="chunk 0 does not authenticate"):
        unsealed(sealed)


def test_a_file_cut_at_a_chunk_boundary_is_truncated_not_complete(tmp_path: Path) -> None:
    sealed = sealed_copy(tmp_path, os.urandom(3 * CHUNK + 5))
    content = sealed.read_bytes()
    sealed.write_bytes(content[: HEADER + 2 * BLOCK])
    with pytest.raises(InputError, match=r"is truncated: it ends before its final chunk \(chunk 1\)"):
        unsealed(sealed)
    sealed.write_bytes(content[: HEADER + 2 * BLOCK + 7])
    with pytest.raises(InputError, match="chunk 2 does not authenticate"):
        unsealed(sealed)
    sealed.write_bytes(content[:HEADER])
    with pytest.raises(InputError, match="chunk 0"):
        unsealed(sealed)


def test_bytes_appended_after_the_final_chunk_are_refused(tmp_path: Path) -> None:
    sealed = sealed_copy(tmp_path, os.urandom(2 * CHUNK))
    content = sealed.read_bytes()
    sealed.write_bytes(content + content[HEADER : HEADER + BLOCK])
    with pytest.raises(InputError, match="has bytes appended after its final chunk"):
        unsealed(sealed)


def test_a_wrong_key_or_a_changed_header_is_told_apart_from_damage(tmp_path: Path) -> None:
    sealed = sealed_copy(tmp_path, b"some rows\n" * 20)
    with pytest.raises(ConfigurationError, match="sealed under a different JIANDU_PSEUDONYM_KEY"):
        unsealed(sealed, key=b"another key")
    content = bytearray(sealed.read_bytes())
    content[20] ^= 0x01  # in the salt
    sealed.write_bytes(bytes(content))
    with pytest.raises(ConfigurationError, match="or its header was altered"):
        unsealed(sealed)
    sealed.write_bytes(b"a clear export\n")
    with pytest.raises(InputError, match="is not a sealed file of the file drop"):
        unsealed(sealed)


def test_a_large_file_is_sealed_and_opened_in_bounded_memory(tmp_path: Path) -> None:
    clear = tmp_path / "large.csv"
    with clear.open("wb") as handle:
        for _ in range(24):
            handle.write(os.urandom(1 << 20))
    seal, sealed = FileSeal(KEY), tmp_path / "large.csv.sealed"
    tracemalloc.start()
    try:
        copy = seal.seal(clear, sealed)
        with (tmp_path / "back.csv").open("wb") as out:
            back = seal.unseal(sealed, out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert back == copy and copy.size == 24 << 20
    assert peak < 8 << 20, f"peak {peak} bytes for a 24 MiB file: it must be streamed, a few chunks at a time"
    assert hashlib.sha256((tmp_path / "back.csv").read_bytes()).hexdigest() == copy.sha256
