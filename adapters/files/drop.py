"""The file drop: agencies export files into one folder per source; each complete file becomes events.

Layout of the drop folder::

    <drop>/<folder>/                  one folder per source unit, e.g. court_210102/
        刑事判决_20240301.csv          an export: CSV or JSON lines
        刑事判决_20240301.csv.done     optional marker: the export is complete
        done/                         processed files, sealed (<name>.sealed), each with <name>.receipt.json
        unmatched/                    complete files no mapping applies to, with a receipt saying why
        refused/                      files the hub will not read, with a receipt saying why

**Hostile input.** An export larger than ``max_file_bytes`` is refused unread; a row
longer than ``row_limits.row_bytes`` or with a cell longer than ``row_limits.field_chars``
is dead-lettered (its payload cut to the row limit) and the file read on; a file whose
processing fails for any reason other than the broker is refused with its receipt, so
one file never stops the others. Symbolic links are never followed: a linked source
folder is skipped (with a warning), a linked file is moved (the link itself) to
``refused/``, files are opened with ``O_NOFOLLOW``, nothing resolving outside the drop
folder is read, and a ``done/``, ``unmatched/`` or ``refused/`` that is a link is not
moved into.

**Complete.** A file is taken when ``<name>.done`` exists, or when its size and
change time have not changed for ``settle_seconds`` while this process watched
it. The change time (ctime), unlike the modification time, cannot be set back by
a copying tool, so a copy that preserves timestamps is not mistaken for a
finished one. Hidden files, ``~$`` lock files and ``.tmp``/``.part`` files are
never taken: an agency that writes ``x.csv.tmp`` and renames it is always safe.

**Nothing lost, resumable.** Rows go to ``producers.RecordIntake`` (the only way to
Kafka); a row that cannot be mapped is dead-lettered with the reason. Every
``confirm_every`` rows the intake is confirmed (every event and dead letter
acknowledged by the broker) and only then the checkpoint advances to the last
line of those rows. After a crash the file is read again from the line after the
checkpoint: rows after it may be sent a second time, never skipped (at least
once); a re-sent row maps to the same record and so to the same ``event_id``
(``<source>/<type>/<source_record_id>``, none of it depends on the run), which
downstream ignores as a duplicate — exactly once by ``event_id``.

**Replicas.** Several file drops (on several hosts) may watch one drop folder on shared
storage: each source folder is worked by the replica that holds its lease
(``adapters.leasing``), its checkpoint is where the next owner reads it (Kafka, for
``jiandu filedrop``), and the lease moves only between two steps of the work (the
listing, each confirmed batch), so no folder is worked by two replicas at once.

**Nothing in clear at rest.** A processed export still holds raw ID numbers, so it
is stored sealed (``adapters.files.filing``, ``adapters.files.sealed``) and the clear
file unlinked; ``DoneFolders`` seals leftovers and deletes what is past the retention
time, at start and every ``housekeeping_seconds``. A row's dead letter carries the
row with its header and mapping (``adapters.files.letters``), so it can be mapped again.

**Metrics** (``jiandu.observability.metrics.adapters``), per source (the mapping's
constant ``source``, else the folder's ``<category>_<division>``): files done or
failed (no single mapping, unreadable), the last file done, the last checkpoint.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.files.completion import MARKER_SUFFIX, CompletionWatch
from adapters.files.convert import RowMapper
from adapters.files.filing import DONE, RECEIPT_SUFFIX, REFUSED, UNMATCHED, Receipt, file_done, set_aside
from adapters.files.letters import RowPayloads
from adapters.files.listing import DropListing
from adapters.files.mapping import FormatMapping
from adapters.files.reading import FileFingerprint, Row, RowLimits, csv_header, fingerprint, read_rows
from adapters.files.retention import DoneFolders
from adapters.files.sealed import FileSeal
from adapters.files.state import CheckpointStore, Progress, unit_of
from adapters.leasing import Checkpoints, Lease, SoleOwner, WorkGate
from jiandu.core.idscan import mask_id_numbers
from jiandu.core.timeutil import format_cst, utc_now_ms
from jiandu.errors import BrokerError, DeliveryError, InputError
from jiandu.observability.labels import source_label
from jiandu.observability.metrics.adapters import ADAPTER_CHECKPOINT, ADAPTER_LAST_SUCCESS, FILES_PROCESSED
from producers import RecordIntake, declare_flow

__all__ = ["DropFile", "FileDrop", "declare_source_folders"]

log = logging.getLogger(__name__)

_NEVER_TAKEN = (MARKER_SUFFIX, ".tmp", ".part", ".partial", ".crdownload", RECEIPT_SUFFIX)
_ADAPTER = "filedrop"  # the intake's adapter name, so the adapter's and the intake's series join
_FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DropFile:
    """A complete export in a source's folder."""

    path: Path

    @property
    def folder(self) -> str:
        """The source folder's name (``court_210102``), which mappings match."""
        return self.path.parent.name

    @property
    def marker(self) -> Path:
        """The ``<name>.done`` marker an agency may write when the export is complete."""
        return self.path.with_name(self.path.name + MARKER_SUFFIX)

    @property
    def origin(self) -> str:
        """How dead letters name the file."""
        return f"{self.folder}/{self.path.name}"


class FileDrop:
    """Watches a drop folder and turns every complete export into events through the intake."""

    def __init__(
        self,
        drop: Path,
        intake: RecordIntake,
        mappings: Sequence[FormatMapping],
        *,
        lease: Lease | None = None,
        checkpoints: Checkpoints | None = None,
        settle_seconds: float = 10.0,
        confirm_every: int = 1_000,
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        seal: FileSeal | None = None,
        retention_days: int = 0,
        housekeeping_seconds: float = 3600.0,
        max_file_bytes: int = 268_435_456,
        row_limits: RowLimits | None = None,
    ) -> None:
        """``lease`` says which source folders this replica owns, ``checkpoints`` where each stands (both
        on Kafka for ``jiandu filedrop``; without them this process owns every folder, with its checkpoints
        in memory);
        ``seal`` stores processed files sealed (without it they stay in clear: development only);
        ``retention_days`` after processing they are deleted with their receipts (0: kept forever);
        ``max_file_bytes`` and ``row_limits``: the limits of one export and one row (see Hostile input)."""
        if confirm_every < 1:
            raise ValueError("confirm_every must be at least 1")
        self._drop = drop
        self._intake = intake
        self._mappings = tuple(mappings)
        owner = SoleOwner()
        self._lease: Lease = lease or owner
        self._gate = WorkGate()  # the lease moves the folders between two steps of this thread's work
        self._checkpoints = CheckpointStore(checkpoints or owner)
        self._confirm_every = confirm_every
        self._poll = poll_seconds
        self._clock = clock
        self._completion = CompletionWatch(settle_seconds, clock)
        self._seal = seal
        self._done = DoneFolders(drop, seal, retention_days, held=self._holds)
        self._housekeeping = housekeeping_seconds
        self._next_housekeeping = float("-inf")
        self._max_file_bytes = max_file_bytes
        self._row_limits = row_limits or RowLimits()
        self._listing = DropListing(
            drop, _takeable_name, lambda path, problem: self._refuse(DropFile(path), problem), held=self._holds
        )
        if seal is None:
            log.warning("no seal given: processed files stay in clear in done/ (pass seal=FileSeal(key))")
        declare_source_folders(drop, mappings)

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> Iterator[Receipt]:
        """Process complete files as they appear; with ``once``, stop when no file is left to wait for.

        Setting ``stop`` ends the run at the next confirmed batch: the file stays and resumes later.
        """
        stop = stop or threading.Event()
        self._lease.start(self._gate.open, self._gate.close)
        try:
            yield from self._run(once, stop)
        finally:
            self._gate.leave()
            self._lease.close()

    def _run(self, once: bool, stop: threading.Event) -> Iterator[Receipt]:
        """Steps between which the lease may move the folders: listing, then each batch of rows."""
        while not stop.is_set():
            if not self._gate.enter(self._poll):  # no folder is known to be this replica's yet, or it is moving
                continue
            self.housekeep_if_due()
            ready, settling = self.poll()
            for file in ready:
                try:
                    receipt = self.process(file, stop)
                except InputError as exc:  # unreadable now (permissions, changed while read): not a reason to stop
                    self._listing.give_up(file.path, str(exc))
                    continue
                if receipt is None:  # stopped, or its folder went to another replica: it resumes there
                    if stop.is_set():
                        return
                    break
                yield receipt
                if stop.is_set():
                    return
            self._gate.leave()
            if once and not ready and not settling:
                return
            if not ready:
                stop.wait(self._poll)

    def housekeep_if_due(self) -> None:
        """Seal leftovers in ``done/`` and apply the retention time, at the first call and then periodically."""
        if self._clock() >= self._next_housekeeping:
            self._done.sweep()
            self._next_housekeeping = self._clock() + self._housekeeping

    def poll(self) -> tuple[list[DropFile], int]:
        """Files complete now (oldest first), and how many are still being written."""
        ready, settling = self._completion.check(self._listing.files())
        return [DropFile(path) for path in ready], settling

    def process(self, file: DropFile, stop: threading.Event | None = None) -> Receipt | None:
        """Turn one complete file into events; None when ``stop`` ended it mid-file (it resumes later)."""
        matches = [(m, c) for m in self._mappings if (c := m.captures(file.folder, file.path.name)) is not None]
        if len(matches) != 1:
            FILES_PROCESSED.labels(_source_of(file), _FAILED).inc()
            return self._set_aside(file, _no_single_mapping(file, [m for m, _ in matches]))
        mapper = RowMapper(*matches[0])
        source = _source_of(file, mapper)
        try:
            size = file.path.lstat().st_size
        except OSError as exc:
            raise InputError(f"cannot read {file.path}: {exc.strerror or exc}") from exc
        if size > self._max_file_bytes:
            FILES_PROCESSED.labels(source, _FAILED).inc()
            return self._refuse(
                file, f"{size} bytes: more than {self._max_file_bytes} (JIANDU_FILEDROP_MAX_FILE_BYTES)"
            )
        try:
            progress = self._convert(file, mapper, source, stop or threading.Event())
        except InputError:
            FILES_PROCESSED.labels(source, _FAILED).inc()
            raise
        except (DeliveryError, BrokerError):
            raise  # the broker, not the file: the file stays and resumes from its checkpoint
        except Exception as exc:  # an input never stops the adapter: this file is set aside, the others go on
            log.exception("%s: failed part-way; moved to %s/", file.origin, REFUSED)
            FILES_PROCESSED.labels(source, _FAILED).inc()
            problem = f"failed part-way ({type(exc).__name__}: {mask_id_numbers(str(exc))[:500]})"
            try:
                return self._refuse(file, problem)
            except (OSError, InputError) as moving:
                raise InputError(f"{problem}; and it cannot be moved aside: {moving}") from exc
        if progress is None:
            return None
        receipt = self._finish(file, progress)
        FILES_PROCESSED.labels(source, DONE).inc()
        ADAPTER_LAST_SUCCESS.mark(_ADAPTER, source)
        return receipt

    def _convert(self, file: DropFile, mapper: RowMapper, source: str, stop: threading.Event) -> Progress | None:
        """Every row of the file through the intake; its progress, or None when ``stop`` ended it mid-file."""
        try:
            content = fingerprint(file.path)
        except OSError as exc:
            raise InputError(f"cannot read {file.path}: {exc.strerror or exc}") from exc
        progress = self._start(file, content, mapper.mapping)
        return progress if self._send_rows(file, content, mapper, progress, stop, source) else None

    def _refuse(self, file: DropFile, problem: str) -> Receipt:
        log.error("%s: %s; moved to %s/", file.origin, problem, REFUSED)
        document = {
            "folder": file.folder,
            "file": file.path.name,
            "problem": problem,
            "finished_at": format_cst(utc_now_ms()),
        }
        receipt = set_aside(file.path, document, REFUSED)
        if not file.marker.is_symlink():
            file.marker.unlink(missing_ok=True)
        return receipt

    def _start(self, file: DropFile, content: FileFingerprint, mapping: FormatMapping) -> Progress:
        progress = self._checkpoints.load(file.folder, content.sha256)
        if progress is None:
            return Progress(
                folder=file.folder,
                file=file.path.name,
                sha256=content.sha256,
                size=content.size,
                encoding=content.encoding,
                mapping=mapping.name,
                mapping_sha256=mapping.sha256,
                started_at=format_cst(utc_now_ms()),
            )
        progress.resumed_at.append(format_cst(utc_now_ms()))
        if progress.mapping_sha256 != mapping.sha256:
            log.warning("%s: mapping %s changed since the file was started", file.origin, mapping.name)
            progress.mapping, progress.mapping_sha256 = mapping.name, mapping.sha256
        log.info("%s: resuming after line %d (%d rows confirmed)", file.origin, progress.line, progress.rows)
        return progress

    def _send_rows(
        self,
        file: DropFile,
        content: FileFingerprint,
        mapper: RowMapper,
        progress: Progress,
        stop: threading.Event,
        source: str,
    ) -> bool:
        """Submit the rows after the checkpoint, confirming and checkpointing in batches; False if stopped."""
        self._intake.new_report()  # one report per file: counts for the receipt, memory bounded by a file
        batch = _Batch(self._intake, self._checkpoints, progress, source)
        mapping = mapper.mapping
        payloads = _payloads(file, content, mapping)
        rows = read_rows(
            file.path,
            content.encoding,
            file_format=mapping.format_of(file.path.name),
            delimiter=mapping.delimiter,
            skip_lines=mapping.skip_lines,
            after_line=progress.line,
            limits=self._row_limits,
        )
        try:
            for row in rows:
                self._submit(file, row, mapper, payloads.of(row))
                if batch.add(row) >= self._confirm_every:
                    batch.commit()
                    if stop.is_set() or not self._still_held(file):
                        return False
        except OSError as exc:
            raise InputError(f"cannot read {file.path}: {exc.strerror or exc}") from exc
        batch.commit()
        return True

    def _holds(self, folder: str) -> bool:
        return self._lease.holds(unit_of(folder))

    def _still_held(self, file: DropFile) -> bool:
        """Between two batches: False when the file's folder went to another replica (or is moving)."""
        self._gate.leave()
        if self._gate.enter() and self._holds(file.folder):
            return True
        log.info("%s: its folder went to another replica, which resumes from the last checkpoint", file.origin)
        return False

    def _submit(self, file: DropFile, row: Row, mapper: RowMapper, payload: bytes) -> None:
        """One row through the intake; ``payload`` is what its dead letter keeps (sealed): the row and its context."""
        origin = f"{file.origin}:{row.line}"
        if row.problem is not None:
            self._intake.reject(mapper.envelope(), payload, origin, field=None, rule="unreadable", message=row.problem)
            return
        mapped = mapper.map(row.cells)
        if mapped.problem is not None:
            self._intake.reject(mapped.record, payload, origin, field=None, rule="mapping", message=mapped.problem)
        else:
            self._intake.submit(mapped.record, payload, origin)

    def _finish(self, file: DropFile, progress: Progress) -> Receipt:
        document = {
            "folder": progress.folder,
            "file": progress.file,
            "sha256": progress.sha256,
            "size": progress.size,
            "encoding": progress.encoding,
            "mapping": progress.mapping,
            "mapping_sha256": progress.mapping_sha256,
            "rows": progress.rows,
            "accepted": progress.accepted,
            "rejected": progress.rejected,
            "reasons": progress.reasons,
            "started_at": progress.started_at,
            "finished_at": format_cst(utc_now_ms()),
            "resumed_at": progress.resumed_at,
        }
        receipt = file_done(file.path, document, self._seal)
        file.marker.unlink(missing_ok=True)
        self._checkpoints.discard(progress)  # after the move: a crash in between only re-reads a confirmed file
        log.info(
            "%s: %d rows, %d accepted, %d rejected (mapping %s) -> %s",
            file.origin,
            progress.rows,
            progress.accepted,
            progress.rejected,
            progress.mapping,
            receipt.moved_to,
        )
        return receipt

    def _set_aside(self, file: DropFile, problem: str) -> Receipt:
        log.error("%s: %s; moved to %s/", file.origin, problem, UNMATCHED)
        document = {
            "folder": file.folder,
            "file": file.path.name,
            "problem": problem,
            "finished_at": format_cst(utc_now_ms()),
        }
        receipt = set_aside(file.path, document)
        file.marker.unlink(missing_ok=True)
        return receipt


class _Batch:
    """Rows submitted since the last confirmation; ``commit`` confirms them, then moves the checkpoint."""

    def __init__(self, intake: RecordIntake, checkpoints: CheckpointStore, progress: Progress, source: str) -> None:
        self._intake = intake
        self._checkpoints = checkpoints
        self._progress = progress
        self._source = source  # its label
        self._rows = 0
        self._last_line = progress.line
        self._accepted = 0
        self._rejections = 0

    def add(self, row: Row) -> int:
        self._rows += 1
        self._last_line = row.last_line
        return self._rows

    def commit(self) -> None:
        report = self._intake.confirm()  # raises DeliveryError if anything was not acknowledged: no checkpoint
        new = report.rejections[self._rejections :]
        reasons = collections.Counter(r.reason for r in new)
        self._progress.add(
            line=self._last_line, rows=self._rows, accepted=report.accepted - self._accepted, reasons=reasons
        )
        self._accepted, self._rejections, self._rows = report.accepted, len(report.rejections), 0
        self._checkpoints.save(self._progress)
        ADAPTER_CHECKPOINT.mark(_ADAPTER, self._source)


def _takeable_name(name: str) -> bool:
    hidden = name.startswith((".", "~$"))
    return not hidden and not name.endswith(_NEVER_TAKEN)


def declare_source_folders(drop: Path, mappings: Sequence[FormatMapping] = ()) -> None:
    """Export the counters of every source folder in ``drop`` at 0, before the metrics endpoint opens.

    ``files_processed_total`` (done, failed) and, for each record type a mapping of the
    folder can give, the intake's received, accepted and every rejection reason. A
    series that first appears already holding a count hides that count from rate() and
    increase(): the dashboard's files processed and rejections stayed 0 through a run.
    """
    if not drop.is_dir():
        return
    for folder in drop.iterdir():
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        category, _, division = folder.name.partition("_")
        for outcome in (DONE, _FAILED):
            FILES_PROCESSED.labels(source_label(f"{category}:{division}"), outcome)
        for mapping in mappings:
            if (match := mapping.folder.fullmatch(folder.name)) is None:
                continue
            captures = {k: v for k, v in match.groupdict().items() if v is not None}
            try:  # the source its rows will carry: the mapping's template, filled from the folder's name
                source = RowMapper(mapping, captures).envelope().get("source", f"{category}:{division}")
            except (KeyError, ValueError):  # a template naming a group this folder lacks fails per file, later
                source = f"{category}:{division}"
            for record_type in mapping.record_type.possible:
                declare_flow(_ADAPTER, str(source), record_type, rules=("mapping", "unreadable"))


def _source_of(file: DropFile, mapper: RowMapper | None = None) -> str:
    """The source label of a file: its mapping's constant ``source``, else the folder's ``<category>_<division>``."""
    constant = mapper.envelope().get("source") if mapper is not None else None
    if isinstance(constant, str):
        return source_label(constant)
    category, _, division = file.folder.partition("_")
    return source_label(f"{category}:{division}")


def _no_single_mapping(file: DropFile, matches: list[FormatMapping]) -> str:
    if not matches:
        return (
            f"no mapping applies to folder {file.folder!r} file {file.path.name!r}: "
            f"add one to adapters/mappings/, then move the file back"
        )
    names = ", ".join(m.name for m in matches)
    return f"mappings {names} all apply to folder {file.folder!r} file {file.path.name!r}: make their matches exclusive"


def _payloads(file: DropFile, content: FileFingerprint, mapping: FormatMapping) -> RowPayloads:
    """The dead-letter payloads of a file's rows: each row with its header line and mapping."""
    file_format = mapping.format_of(file.path.name)
    header = csv_header(file.path, content.encoding, skip_lines=mapping.skip_lines) if file_format == "csv" else None
    return RowPayloads(
        mapping,
        folder=file.folder,
        file=file.path.name,
        encoding=content.encoding,
        file_format=file_format,
        header=header,
    )
