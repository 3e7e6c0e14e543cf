"""Housekeeping of ``done/`` and ``refused/``: clear leftovers sealed, nothing kept longer than the retention time.

``refused/`` holds exports the hub would not read (too large, failed part-way): they hold raw ID
numbers like any export, so they are sealed and expire the same way. ``unmatched/`` is left as it
is: its files wait to be moved back once a mapping applies. Links are never followed.

The file drop sweeps at start and then periodically (``FileDrop(housekeeping_seconds=…)``):

- **Leftovers in clear.** A file in ``done/`` that is not sealed (processed before
  files were sealed, or by a file drop without a key) is sealed beside its receipt and
  the clear file unlinked; the receipt then names the sealed file.
- **Retention.** A stored file and its receipt are deleted once the file was
  processed more than ``retention_days`` ago: by the receipt's ``finished_at``, else
  (no receipt, or an unreadable one) the modification time. 0 keeps them forever.

Every file sealed or deleted is logged. A file that cannot be handled (permissions)
is logged as an error and left for the next sweep: housekeeping never stops the
file drop from taking new exports.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from adapters.files.filing import DONE, RECEIPT_SUFFIX, REFUSED, SEALED_SUFFIX, receipt_path
from adapters.files.sealed import FileSeal
from adapters.files.state import sync_directory, write_json_atomically
from jiandu.core.timeutil import DAY_MS, format_cst, parse_datetime, to_ms, utc_now_ms

__all__ = ["DoneFolders", "Housekeeping"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Housekeeping:
    """What one sweep did: files sealed (the sealed copies) and files deleted."""

    sealed: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    kept: int = 0


class DoneFolders:
    """The ``done/`` folders of a drop folder, and the policy they are kept under."""

    def __init__(
        self, drop: Path, seal: FileSeal | None, retention_days: int, held: Callable[[str], bool] = lambda _: True
    ) -> None:
        """``held(folder name)``: whether this replica owns the source folder (only its owner sweeps it)."""
        if retention_days < 0:
            raise ValueError("retention_days must be 0 (keep forever) or more")
        self._drop = drop
        self._held = held
        self._seal = seal
        self._days = retention_days

    def sweep(self, now_ms: int | None = None) -> Housekeeping:
        """Seal leftovers, then delete what is past the retention time; logged."""
        now_ms = utc_now_ms() if now_ms is None else now_ms
        done = Housekeeping()
        for folder in self._folders():
            if self._seal is not None:
                done.sealed += [s for f in _leftovers(folder) if (s := self._seal_leftover(f)) is not None]
            if self._days:
                self._expire(folder, now_ms - self._days * DAY_MS, done)
        self._log(done)
        return done

    def _folders(self) -> Iterator[Path]:
        if not self._drop.is_dir():
            return
        for source in sorted(self._drop.iterdir()):
            if source.name.startswith(".") or source.is_symlink() or not self._held(source.name):
                continue
            for kept in (source / DONE, source / REFUSED):
                if not kept.is_symlink() and kept.is_dir():  # never sealed or deleted through a link
                    yield kept

    def _seal_leftover(self, clear: Path) -> Path | None:
        assert self._seal is not None
        target = clear.with_name(clear.name + SEALED_SUFFIX)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            copy = self._seal.seal(clear, temporary)
            _note_sealed(receipt_path(clear), target, copy.sha256)
            os.replace(temporary, target)
            sync_directory(clear.parent)
            clear.unlink()
            sync_directory(clear.parent)
        except OSError as exc:
            log.error("%s is in clear in done/ and could not be sealed: %s; fix it, the next sweep retries", clear, exc)
            return None
        log.warning("%s was in clear in done/: sealed it to %s", self._shown(clear), target.name)
        return target

    def _expire(self, folder: Path, cutoff_ms: int, done: Housekeeping) -> None:
        for files, processed_ms in _processed_exports(folder):
            if processed_ms >= cutoff_ms:
                done.kept += 1
                continue
            try:
                for path in files:  # the stored file first, its receipt last
                    path.unlink(missing_ok=True)
            except OSError as exc:
                log.error("retention: cannot delete %s: %s; fix it, the next sweep retries", files[0], exc)
                continue
            done.deleted += files
            log.info(
                "retention: deleted %s (processed %s, more than %d days ago)",
                ", ".join(self._shown(p) for p in files),
                format_cst(processed_ms),
                self._days,
            )

    def _log(self, done: Housekeeping) -> None:
        kept = f"{self._days} days" if self._days else "forever"
        log.info(
            "housekeeping of %s/*/{done,refused}: %d sealed from clear, %d files deleted, %d kept (retention: %s)",
            self._drop,
            len(done.sealed),
            len(done.deleted),
            done.kept,
            kept,
        )

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(self._drop)) if path.is_relative_to(self._drop) else str(path)


def _leftovers(folder: Path) -> list[Path]:
    """Files in ``done/`` stored in clear: neither sealed nor receipts nor hidden temporary files."""
    return [
        path
        for path in sorted(folder.iterdir())
        if path.is_file()
        and not path.is_symlink()
        and not path.name.startswith(".")
        and not path.name.endswith((SEALED_SUFFIX, RECEIPT_SUFFIX))
    ]


def _processed_exports(folder: Path) -> Iterator[tuple[list[Path], int]]:
    """(its files: stored, then receipt; processed at, in ms) of every processed export in a ``done/`` folder."""
    names = {path.name for path in folder.iterdir() if not path.name.startswith(".")}
    stems = {n.removesuffix(RECEIPT_SUFFIX) for n in names if n.endswith(RECEIPT_SUFFIX)}
    stems |= {n.removesuffix(SEALED_SUFFIX) for n in names if n.endswith(SEALED_SUFFIX)}
    for stem in sorted(stems):
        files = [folder / n for n in (stem + SEALED_SUFFIX, stem, stem + RECEIPT_SUFFIX) if n in names]
        yield files, _processed_ms(folder / (stem + RECEIPT_SUFFIX), files)


def _processed_ms(receipt: Path, files: list[Path]) -> int:
    """When a file was processed: its receipt's ``finished_at``, else the newest modification time."""
    try:
        return to_ms(parse_datetime(json.loads(receipt.read_text(encoding="utf-8"))["finished_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        times = [int(p.stat().st_mtime * 1000) for p in files if p.exists()]
        return max(times, default=utc_now_ms())


def _note_sealed(receipt: Path, target: Path, sha256: str) -> None:
    """Make a leftover's receipt name its sealed copy (a receipt of other content is left as it is, and logged)."""
    try:
        document = json.loads(receipt.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except ValueError:
        log.warning("%s is not valid JSON: left as it is", receipt)
        return
    if not isinstance(document, dict) or document.get("sha256") not in (None, sha256):
        log.warning("%s records another sha256 than %s holds: left as it is", receipt, target.name)
        return
    document.update(moved_to=f"{target.parent.name}/{target.name}", sealed=True)
    write_json_atomically(receipt, document)
