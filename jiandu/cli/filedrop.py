"""``jiandu filedrop``: the file-drop adapter as a process.

Agencies export into ``<drop>/<folder>/``; each complete file is mapped by its
mapping file, published through the shared intake, and moved to ``done/`` with
a receipt. Checkpoints live under ``$JIANDU_DATA_DIR/filedrop/checkpoints``;
SIGTERM or Ctrl-C stops at the next confirmed batch, and a restart (even after
``kill -9``) resumes each file after its last confirmed line. /metrics, /healthz and
/readyz (broker, topics, the drop folder writable) are served on the ``filedrop``
port of ``JIANDU_METRICS_PORTS``.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from jiandu.errors import InputError
from jiandu.observability import MetricsServer, serve_process_metrics
from jiandu.settings import Settings

__all__ = ["add_parser", "command"]


def add_parser(sub: Any) -> None:
    """The ``filedrop`` sub-command and its options."""
    parser = sub.add_parser("filedrop", help="map agency export files (CSV, JSON lines) dropped into a folder")
    parser.add_argument("--drop", type=Path, required=True, help="the drop folder: one sub-folder per source")
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
    parser.add_argument("--confirm-every", type=int, default=1000, help="rows between broker confirmations")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the file drop until stopped (or, with ``--once``, until no file is left)."""
    from adapters.files import SHIPPED_MAPPINGS, load_mapping, load_mappings
    from jiandu.cli.hub import create_topics

    sources: list[Path] = args.mappings or [SHIPPED_MAPPINGS]
    mappings = [m for p in sources for m in (load_mappings(p) if p.is_dir() else [load_mapping(p)])]
    if not args.drop.is_dir():
        raise InputError(f"the drop folder {args.drop} does not exist")
    if args.confirm_every < 1 or args.settle < 0:
        raise InputError("--confirm-every must be at least 1 and --settle not negative")
    metrics = _serve_metrics(settings, args.drop)
    try:
        create_topics(settings)
        return _run(settings, args, mappings, metrics)
    finally:
        if metrics is not None:
            metrics.stop()


def _run(settings: Settings, args: argparse.Namespace, mappings: list[Any], metrics: MetricsServer | None) -> int:
    from adapters.files import FileDrop
    from jiandu.cli.hub import new_intake

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    publisher, intake = new_intake(settings, adapter="filedrop")
    try:
        with publisher:
            drop = FileDrop(
                args.drop,
                intake,
                mappings,
                checkpoint_dir=settings.data_dir / "filedrop" / "checkpoints",
                settle_seconds=args.settle,
                confirm_every=args.confirm_every,
            )
            print(f"file drop {args.drop}: {len(mappings)} mappings", flush=True)
            if metrics is not None:
                print(f"metrics: {metrics.url}/metrics", flush=True)
            for receipt in drop.run(once=args.once, stop=stop):
                print(_summary(receipt.document), flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
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
