"""``jiandu filedrop``: the file-drop adapter as a process; ``jiandu filedrop unseal``: a processed export back.

Agencies export into ``<drop>/<folder>/``; each complete file is mapped by its
mapping file, published through the shared intake, and stored in ``done/``
sealed (AES-256-GCM under a key derived from ``JIANDU_PSEUDONYM_KEY``) with a
receipt; the clear file is unlinked. Sealed files and their receipts are deleted
``JIANDU_FILEDROP_RETENTION_DAYS`` after processing (checked at start and hourly).
Replicas on several hosts share the drop folder (shared storage): each source
folder is owned by one of them at a time (the consumer group
``<prefix>-adapters-filedrop``), and its checkpoints live on the topic
``<prefix>.internal.adapter-checkpoints``. SIGTERM or Ctrl-C stops at the next
confirmed batch, and a restart or another replica (after a ``kill -9``, once the
group's session timed out) resumes each file after its last confirmed line. /metrics, /healthz and /readyz
(broker, topics, the drop folder writable) are served on the ``filedrop`` port of
``JIANDU_METRICS_PORTS``.

``jiandu filedrop unseal FILE --out PATH`` writes the original of a sealed export
for an auditor: never over an existing file, and only when its sha256 is the one
its receipt records.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from jiandu.cli.arguments import positive_int
from jiandu.errors import InputError
from jiandu.observability import MetricsServer, serve_process_metrics
from jiandu.security import printable
from jiandu.settings import Settings

__all__ = ["add_parser", "command"]

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    """The ``filedrop`` sub-command, its options and ``filedrop unseal``."""
    parser = sub.add_parser("filedrop", help="map agency export files (CSV, JSON lines) dropped into a folder")
    parser.add_argument("--drop", type=Path, default=None, help="the drop folder: one sub-folder per source")
    parser.add_argument("--once", action="store_true", help="process every file there, then exit")
    parser.add_argument(
        "--mappings",
        type=Path,
        action="append",
        help="a mapping folder or file; repeat to add more (default: the shipped adapters/mappings)",
    )
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds a file must stay unchanged to count as complete (no .done)"
    )
    parser.add_argument("--confirm-every", type=positive_int, default=1000, help="rows between broker confirmations")
    actions = parser.add_subparsers(dest="filedrop_command")
    unseal = actions.add_parser("unseal", help="write the original of a sealed export in done/ (for an audit)")
    unseal.add_argument("file", type=Path, help="the sealed file, e.g. <drop>/court_210102/done/x.csv.sealed")
    unseal.add_argument("--out", type=Path, required=True, help="where to write the original (must not exist)")
    unseal.add_argument("--receipt", type=Path, default=None, help="its receipt (default: the one beside it)")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the file drop until stopped (or, with ``--once``, until no file is left), or unseal one file."""
    if args.filedrop_command == "unseal":
        return _unseal(settings, args)
    from jiandu.cli.hub import create_topics

    if args.drop is None:
        raise InputError("give the drop folder with --drop DIR (or `jiandu filedrop unseal FILE --out PATH`)")
    mappings = _mappings(args.mappings)
    if not args.drop.is_dir():
        raise InputError(f"the drop folder {args.drop} does not exist")
    if args.confirm_every < 1 or args.settle < 0:
        raise InputError("--confirm-every must be at least 1 and --settle not negative")
    from adapters.files import declare_source_folders

    declare_source_folders(args.drop, mappings)
    metrics = _serve_metrics(settings, args.drop)
    try:
        create_topics(settings)
        return _run(settings, args, mappings, metrics)
    finally:
        if metrics is not None:
            metrics.stop()


def _mappings(paths: list[Path] | None) -> list[Any]:
    from adapters.files import SHIPPED_MAPPINGS, load_mapping, load_mappings

    return [m for p in paths or [SHIPPED_MAPPINGS] for m in (load_mappings(p) if p.is_dir() else [load_mapping(p)])]


def _run(settings: Settings, args: argparse.Namespace, mappings: list[Any], metrics: MetricsServer | None) -> int:
    from adapters.files import FileDrop, FileSeal
    from adapters.files.reading import RowLimits
    from jiandu.cli.hub import adapter_lease, leased_checkpoints, new_intake

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    publisher, intake = new_intake(settings, adapter="filedrop")
    lease = adapter_lease(settings, "filedrop")  # the folders are shared with the other replicas of the group
    try:
        with publisher:
            drop = FileDrop(
                args.drop,
                intake,
                mappings,
                lease=lease,
                checkpoints=leased_checkpoints(lease, publisher),
                settle_seconds=args.settle,
                confirm_every=args.confirm_every,
                seal=FileSeal(settings.pseudonym_key_bytes),
                retention_days=settings.filedrop_retention_days,
                max_file_bytes=settings.filedrop_max_file_bytes,
                row_limits=RowLimits(settings.filedrop_max_row_bytes, settings.filedrop_max_field_chars),
            )
            print(f"file drop {args.drop}: {len(mappings)} mappings; folders shared in group {lease.group}", flush=True)
            if metrics is not None:
                print(f"metrics: {metrics.url}/metrics", flush=True)
            for receipt in drop.run(once=args.once, stop=stop):
                print(printable(_summary(receipt.document), keep_newlines=True), flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def _unseal(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.files import FileSeal, restore

    copy = restore(args.file, args.out, FileSeal(settings.pseudonym_key_bytes), receipt=args.receipt)
    log.info("unsealed %s to %s (%d bytes, sha256 %s)", args.file, args.out, copy.size, copy.sha256)
    print(f"{args.out}: {copy.size} bytes, sha256 {copy.sha256} as the receipt records")
    print("it holds raw ID numbers in clear: keep it only as long as the audit needs it, then delete it")
    return 0


def _serve_metrics(settings: Settings, drop: Path) -> MetricsServer | None:
    """/metrics, /healthz and /readyz of the file drop: ready when the broker, its topics and the folder are."""
    from jiandu.cli.hub import catalogue_of

    catalogue = catalogue_of(settings)
    topics = [*catalogue.event_topics(), catalogue.dead_letters]
    return serve_process_metrics(settings, "filedrop", topics, checks=[("drop_folder", lambda: _drop_problem(drop))])


def _drop_problem(drop: Path) -> str | None:
    """Why the file drop cannot work in ``drop`` (processed files move to done/ in it), or None."""
    if not drop.is_dir():
        return f"the drop folder {drop} does not exist"
    if not os.access(drop, os.W_OK | os.X_OK):
        return f"the drop folder {drop} is not writable: processed files cannot move to done/"
    return None


def _summary(document: dict[str, Any]) -> str:
    where = f"{document['folder']}/{document['file']}"
    if "problem" in document:
        return f"{where}: {document['problem']} → {document['moved_to']}"
    lines = [
        f"{where}: {document['rows']} rows, accepted {document['accepted']}, rejected {document['rejected']} "
        f"(mapping {document['mapping']}) → {document['moved_to']}"
    ]
    lines += [f"  {count:6}  {reason}" for reason, count in document["reasons"].items()]
    return "\n".join(lines)
