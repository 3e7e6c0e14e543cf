"""What the file drop keeps: per-file checkpoints in the adapter checkpoints, and receipts on disk.

A checkpoint says "every row up to line N of this file was confirmed by the
broker", with the counts so far; it is written only after ``intake.confirm()``
returned, whole (on Kafka for the hub's commands: ``adapters.leasing``), so the
replica that owns the folder next resumes there. It is keyed by the drop folder and
the file's SHA-256: a complete export never changes, and a different file under the
same name starts from the beginning. Receipts are written atomically (temporary
file, fsync, rename) beside the processed file, on the shared drop folder.
"""

from __future__ import annotations

import collections
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.leasing import Checkpoints

__all__ = ["CheckpointStore", "Progress", "sync_directory", "unit_of", "write_json_atomically"]

_MAX_REASONS = 1_000  # distinct reasons kept; the rest are counted together
_OTHER = "(other reasons)"


@dataclass(slots=True)
class Progress:
    """How far one file has been confirmed, with its counts: the checkpoint and, finished, the receipt."""

    folder: str
    file: str
    sha256: str
    size: int
    encoding: str
    mapping: str
    mapping_sha256: str
    started_at: str
    line: int = 0  # every row ending at or before this line is confirmed
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    resumed_at: list[str] = field(default_factory=list)  # restarts that continued from a checkpoint

    def add(self, *, line: int, rows: int, accepted: int, reasons: collections.Counter[str]) -> None:
        """Count a confirmed batch that ends at ``line``."""
        self.line = line
        self.rows += rows
        self.accepted += accepted
        self.rejected += sum(reasons.values())
        merged = collections.Counter(self.reasons)
        merged.update(reasons)
        kept = dict(merged.most_common(_MAX_REASONS))
        other = sum(merged.values()) - sum(kept.values())
        self.reasons = {**kept, _OTHER: kept.get(_OTHER, 0) + other} if other else kept

    def to_json(self) -> dict[str, Any]:
        """The checkpoint's JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        """Inverse of :meth:`to_json`."""
        return cls(**data)


class CheckpointStore:
    """Checkpoints of the files being processed, one document per source folder (``filedrop:<folder>``).

    The folder is the unit a replica owns (``adapters.leasing``); its document maps the SHA-256 of each
    file under way to its progress, usually one, and drops it once the file is done.
    """

    def __init__(self, documents: Checkpoints) -> None:
        self._documents = documents

    def load(self, folder: str, sha256: str) -> Progress | None:
        """The checkpoint of a file, or None when it was never (or is no longer) being processed."""
        found = self._files(folder).get(sha256)
        return Progress.from_json(found) if found is not None else None

    def save(self, progress: Progress) -> None:
        """Replace a file's checkpoint (durable when this returns)."""
        files = self._files(progress.folder)
        files[progress.sha256] = progress.to_json()
        self._documents.save(unit_of(progress.folder), {"files": files})

    def discard(self, progress: Progress) -> None:
        """Forget a finished file's checkpoint."""
        files = self._files(progress.folder)
        if files.pop(progress.sha256, None) is not None:
            self._documents.save(unit_of(progress.folder), {"files": files})

    def _files(self, folder: str) -> dict[str, Any]:
        document = self._documents.load(unit_of(folder)) or {}
        return dict(document.get("files", {}))


def unit_of(folder: str) -> str:
    """The lease and checkpoint key of a source folder: ``filedrop:<folder>``."""
    return f"filedrop:{folder}"


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write JSON so that readers (and a restart after a crash) see the old or the new file, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX: the directory entry is data of the directory)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
