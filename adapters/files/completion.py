"""When an export is complete: a ``<name>.done`` marker beside it, or unchanged for the settle time.

The change time (ctime), unlike the modification time, cannot be set back by a
copying tool, so a copy that preserves timestamps is not mistaken for a finished one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["MARKER_SUFFIX", "CompletionWatch"]

MARKER_SUFFIX = ".done"


class CompletionWatch:
    """Decides when an export is complete: a ``<name>.done`` marker, or unchanged for the settle time.

    "Unchanged" is the size and the change time (ctime) seen by this watch; a file
    first seen now waits the full settle time, even if it looks old.
    """

    def __init__(self, settle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._settle = settle_seconds
        self._clock = clock
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}

    def check(self, paths: Sequence[Path]) -> tuple[list[Path], int]:
        """The complete files among ``paths`` (oldest first) and how many are still settling."""
        now = self._clock()
        ready: list[tuple[int, str, Path]] = []
        seen: dict[Path, tuple[tuple[int, int], float]] = {}
        for path in paths:
            try:
                info = path.stat()
            except FileNotFoundError:  # renamed or removed since the folder was listed
                continue
            signature = (info.st_size, info.st_ctime_ns)
            before = self._seen.get(path)
            seen[path] = before if before is not None and before[0] == signature else (signature, now)
            if path.with_name(path.name + MARKER_SUFFIX).exists() or now - seen[path][1] >= self._settle:
                ready.append((info.st_mtime_ns, path.name, path))
        self._seen = seen
        return [path for *_, path in sorted(ready)], len(seen) - len(ready)
