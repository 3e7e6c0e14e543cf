"""Per-source checkpoints of the REST poller: where the next poll starts, kept across crashes.

A checkpoint is one small JSON file per source, replaced atomically (written to a
temporary file in the same directory, fsynced, renamed over the old one, then the
directory fsynced): after a crash, at any instant, the file holds either the old or
the new checkpoint, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from jiandu.errors import ConfigurationError

__all__ = ["Checkpoint", "CheckpointStore"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a source's next page starts, and how much was confirmed so far.

    ``cursor`` is the agency's cursor after the last confirmed page (None: the
    source's ``start_since``); ``page_token`` is the token of the next page when a
    ``page_token`` source stopped in the middle of its pages.
    """

    source: str
    cursor: str | None = None
    page_token: str | None = None
    pages: int = 0
    records: int = 0
    updated_at: str | None = None

    def advanced(self, *, cursor: str | None, page_token: str | None, records: int) -> Checkpoint:
        """The checkpoint after one more confirmed page."""
        return replace(
            self,
            cursor=cursor,
            page_token=page_token,
            pages=self.pages + 1,
            records=self.records + records,
            updated_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )


class CheckpointStore:
    """The checkpoint files of every source, in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, source: str) -> Path:
        """The file of one source (its code, percent-encoded: ``court%3A210102.json``)."""
        return self.directory / f"{quote(source, safe='')}.json"

    def load(self, source: str) -> Checkpoint:
        """The source's checkpoint; a fresh one when there is none yet."""
        path = self.path_of(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Checkpoint(source)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the checkpoint of {source} at {path}: {exc.strerror}") from exc
        try:
            values = json.loads(text)
            checkpoint = Checkpoint(**values)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigurationError(
                f"checkpoint of {source} at {path} is damaged ({exc}); fix or delete it "
                "(deleting it re-reads the source from its start_since: duplicates are ignored by event_id)"
            ) from exc
        if checkpoint.source != source:
            raise ConfigurationError(f"checkpoint file {path} belongs to {checkpoint.source!r}, not {source!r}")
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the source's checkpoint atomically (temp file + fsync + rename + directory fsync)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_of(checkpoint.source)
        data = json.dumps(asdict(checkpoint), ensure_ascii=False, indent=1).encode()
        fd, temp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on every platform
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
