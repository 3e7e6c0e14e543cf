"""Which files of a drop folder may be taken: no link followed, nothing outside the drop, nothing given up.

An agency controls what appears in its folder, including symbolic links: ``/etc/passwd``
linked into a drop was once read and dead-lettered, and a linked agency folder was
ingested and its files moved outside the drop tree. Here a linked (or outside) source
folder is skipped with one warning; a linked file is handed to ``refuse`` (the file drop
moves the link itself to ``refused/``); the rest is listed. A file the file drop could not
read or move is *given up* until it changes (inode, size or change time), so it is not
retried on every poll, and not forgotten either.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from jiandu.errors import InputError

__all__ = ["DropListing"]

log = logging.getLogger(__name__)


class DropListing:
    """The takeable export files under ``drop/<folder>/``; ``refuse(path, problem)`` is called for linked files.

    ``held(folder name)``: whether this replica owns the folder now (the others' files are theirs to take).
    """

    def __init__(
        self,
        drop: Path,
        takeable_name: Callable[[str], bool],
        refuse: Callable[[Path, str], object],
        held: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self._drop = drop
        self._held = held
        self._takeable_name = takeable_name
        self._refuse = refuse
        self._skipped: set[Path] = set()
        self._given_up: dict[Path, tuple[int, int, int]] = {}

    def files(self) -> list[Path]:
        """Export files in the source folders, in folder order; links are never followed."""
        if not self._drop.is_dir():
            raise InputError(f"the drop folder {self._drop} does not exist")
        root = self._drop.resolve()
        folders = []
        for folder in sorted(p for p in self._drop.iterdir() if not p.name.startswith(".") and self._held(p.name)):
            if folder.is_symlink() or (folder.is_dir() and not folder.resolve().is_relative_to(root)):
                self._skip(folder)
            elif folder.is_dir():
                folders.append(folder)
        files = []
        for path in (path for folder in folders for path in folder.iterdir() if self._takeable_name(path.name)):
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                self._refuse(path, "a symbolic link (or a path outside the drop folder): never followed")
            elif path.is_file() and not self._still_given_up(path):
                files.append(path)
        return files

    def give_up(self, path: Path, why: str) -> None:
        """Leave a file that cannot be read or moved now, until it changes (or the file drop restarts)."""
        log.error("%s: %s; left where it is until it changes or the file drop restarts", path, why)
        with contextlib.suppress(OSError):
            self._given_up[path] = _identity(path)

    def _still_given_up(self, path: Path) -> bool:
        given_up = self._given_up.get(path)
        try:
            return given_up is not None and given_up == _identity(path)
        except OSError:
            return True

    def _skip(self, folder: Path) -> None:
        if folder not in self._skipped:
            self._skipped.add(folder)
            log.warning("%s is a symbolic link or lies outside the drop folder: skipped, never followed", folder)


def _identity(path: Path) -> tuple[int, int, int]:
    """What changes when a file is written or replaced: inode, size, change time."""
    status = path.lstat()
    return status.st_ino, status.st_size, status.st_ctime_ns
