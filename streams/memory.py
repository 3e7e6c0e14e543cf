"""Returning the worker's freed heap memory to the system (glibc's allocator keeps it otherwise).

Objects larger than 512 bytes (event values, facts, encoded states) come from the C
allocator, not Python's own. glibc gives memory back only from the top of its heaps:
what is freed below an object that lives on (a record held for the input order, a
cached state) stays resident. In the routing worker, which allocates and frees such
objects by the million, that free-but-resident memory grew for as long as it ran
(≈ 45 MB a minute at 1 M persons) while the memory in use stayed flat.
``malloc_trim(0)`` hands the free pages inside the heaps back (``madvise``); run every
few seconds, it keeps the resident size near what is in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_free_heap"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only (not musl, not macOS)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_free_heap() -> bool:
    """Give the allocator's free pages back to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)  # ctypes releases the GIL meanwhile
    return True
