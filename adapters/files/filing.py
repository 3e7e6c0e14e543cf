"""Where a finished export goes: sealed into ``done/`` with its receipt, or set aside in ``unmatched/``.

::

    <folder>/done/<name>.sealed          the processed export, sealed (adapters.files.sealed)
    <folder>/done/<name>.receipt.json    its counts, reasons and the SHA-256 of the original
    <folder>/unmatched/<name>            a file no single mapping applies to, with its receipt: not
                                         processed, so kept as it came, for a fixed mapping to take
    <folder>/refused/<name>              a file the hub will not read (over JIANDU_FILEDROP_MAX_FILE_BYTES,
                                         a symbolic link, or one that failed part-way), with its receipt

**Crash-safe order.** The sealed copy is written to a temporary file and fsynced,
then the receipt is written (atomically), then the copy is renamed into place and
the folder fsynced, and only then is the clear export unlinked, then its marker. A
crash anywhere leaves the clear export in the drop folder; a restart finishes it
again (its checkpoint says every row was confirmed) into the same name.

:func:`restore` gives an auditor the original back (``jiandu filedrop unseal``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.files.sealed import FileSeal, SealedCopy
from adapters.files.state import sync_directory, write_json_atomically
from jiandu.errors import InputError

__all__ = [
    "DONE",
    "RECEIPT_SUFFIX",
    "REFUSED",
    "SEALED_SUFFIX",
    "UNMATCHED",
    "Receipt",
    "file_done",
    "receipt_path",
    "restore",
    "set_aside",
]

DONE, UNMATCHED, REFUSED = "done", "unmatched", "refused"
RECEIPT_SUFFIX = ".receipt.json"
SEALED_SUFFIX = ".sealed"


@dataclass(frozen=True, slots=True)
class Receipt:
    """A processed file: where it went and what its receipt says."""

    moved_to: Path
    document: dict[str, Any]  # the content of the receipt file

    @property
    def path(self) -> Path:
        """The receipt file: ``<name>.receipt.json`` beside the stored file."""
        return receipt_path(self.moved_to)


def receipt_path(stored: Path) -> Path:
    """The receipt of a file in ``done/`` or ``unmatched/`` (``x.csv.sealed`` -> ``x.csv.receipt.json``)."""
    return stored.with_name(stored.name.removesuffix(SEALED_SUFFIX) + RECEIPT_SUFFIX)


def file_done(export: Path, document: dict[str, Any], seal: FileSeal | None) -> Receipt:
    """Store a processed export in ``done/`` sealed (in clear only without a seal), receipt beside it."""
    if seal is None:
        return _move(export, DONE, document)
    done = export.parent / DONE
    target = _free_name(done, export.name, str(document["sha256"]), SEALED_SUFFIX)
    temporary = target.with_name(f".{target.name}.tmp")
    copy = seal.seal(export, temporary)
    if copy.sha256 != document["sha256"]:
        temporary.unlink()
        raise InputError(
            f"{export} changed while it was processed (sha256 {document['sha256'][:12]}… at the start, "
            f"{copy.sha256[:12]}… now): an agency must not write into a file the hub has taken; it is processed "
            "again as a new file"
        )
    receipt = Receipt(target, {**document, "moved_to": f"{DONE}/{target.name}", "sealed": True})
    write_json_atomically(receipt.path, receipt.document)
    os.replace(temporary, target)
    sync_directory(done)
    export.unlink()  # only now: the sealed copy is on disk
    sync_directory(export.parent)
    return receipt


def set_aside(export: Path, document: dict[str, Any], subfolder: str = UNMATCHED) -> Receipt:
    """Move a file into ``unmatched/`` (no single mapping applies) or ``refused/``, as it came, with its receipt.

    A symbolic link is moved as the link itself: what it points to is never touched.
    """
    return _move(export, subfolder, document)


def restore(sealed: Path, out: Path, seal: FileSeal, *, receipt: Path | None = None) -> SealedCopy:
    """Write the original of a sealed export to ``out``, checked against the SHA-256 its receipt records.

    Never overwrites: ``out`` must not exist. On any failure nothing is left at ``out``.
    """
    expected = _receipt_sha256(sealed, receipt or receipt_path(sealed))
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{out} exists: give a new file name (unseal never overwrites)") from None
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            copy = seal.unseal(sealed, handle)
        if copy.sha256 != expected:
            raise InputError(
                f"{sealed} opens, but its content's sha256 {copy.sha256[:12]}… is not the {expected[:12]}… its receipt "
                "records: the receipt belongs to another file; give the right one with --receipt"
            )
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return copy


def _receipt_sha256(sealed: Path, receipt: Path) -> str:
    if not sealed.is_file():
        raise InputError(f"cannot read {sealed}: no such file")
    try:
        document = json.loads(receipt.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{sealed} has no receipt at {receipt}: give it with --receipt (the sha256 is checked against it)"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the receipt {receipt}: {exc}") from exc
    sha256 = document.get("sha256") if isinstance(document, dict) else None
    if not isinstance(sha256, str):
        raise InputError(f"the receipt {receipt} records no sha256: it is not the receipt of a processed file")
    return sha256


def _move(export: Path, subfolder: str, document: dict[str, Any]) -> Receipt:
    """Receipt first, then the file: a crash in between leaves the file to redo, not lost."""
    target = _free_name(export.parent / subfolder, export.name, str(document.get("sha256", "")), "")
    receipt = Receipt(target, {**document, "moved_to": f"{subfolder}/{target.name}"})
    write_json_atomically(receipt.path, receipt.document)
    os.replace(export, target)
    return receipt


def _free_name(directory: Path, name: str, sha256: str, suffix: str) -> Path:
    """``directory/<name><suffix>``; with the content hash in the name when another file has that name.

    A name whose receipt records the same content is reused: that is the same file, finished again.
    """
    if directory.is_symlink():
        raise InputError(
            f"{directory} is a symbolic link: the hub never moves files out of the drop folder; remove the link"
        )
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}{suffix}"
    if not sha256 or not _taken_by_other(target, sha256):
        return target
    stem, dot, extension = name.rpartition(".")
    return directory / (f"{stem}.{sha256[:12]}.{extension}{suffix}" if dot else f"{name}.{sha256[:12]}{suffix}")


def _taken_by_other(target: Path, sha256: str) -> bool:
    receipt = receipt_path(target)
    if not target.exists() and not receipt.exists():
        return False
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return bool(json.loads(receipt.read_text(encoding="utf-8")).get("sha256") != sha256)
    return True
