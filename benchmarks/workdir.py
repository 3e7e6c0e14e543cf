"""A benchmark's working directory: removed after a run, kept (without its inputs) after a failure.

A failed run names the worker log to read; deleting the directory on the way out deleted
that log too (a 3 M persons run's worker crash could not be read afterwards).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["work_directory"]


@contextlib.contextmanager
def work_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory; on failure it stays, minus its ``*.jsonl`` inputs, and is named on stdout."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    except BaseException:
        for history in work.glob("*.jsonl"):
            history.unlink(missing_ok=True)
        print(f"the run's logs and data are kept in {work} (remove it when read)", flush=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
