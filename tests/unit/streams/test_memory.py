"""The worker gives freed heap memory back: freed objects below live ones stay resident otherwise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from streams.memory import _malloc_trim, release_free_heap

_MB = 1 << 20


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(_malloc_trim() is None, reason="not glibc: no malloc_trim")
def test_memory_freed_among_live_objects_is_returned() -> None:
    rng = random.Random(1)
    # event values as the router allocates them (above Python's 512-byte small-object limit)
    values = [bytes(rng.randint(600, 1500)) for _ in range(150_000)]
    values = values[::20]  # one in twenty lives on (held for the input order, cached), scattered
    retained = _rss()
    assert release_free_heap()
    assert retained - _rss() > 60 * _MB  # ≈ 150 MB freed; glibc alone kept nearly all of it resident
    assert len(values) == 7_500
