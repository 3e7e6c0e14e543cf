"""``jiandu archive [run | rebuild | act | stats]``: the lead archive (SQLite, or PostgreSQL by JIANDU_ARCHIVE_URL).

``run`` (the default) is the archiver: a consumer group on the lead, outcome and identities topics,
the event topics and the dead letters, that stores every lead version, officer action and sealed ID
number, counts the data-quality scorecard, and commits offsets after the database. ``rebuild``
forgets the lead versions and reads them all again from the beginning (actions are kept and
replayed; the scorecard counts nothing twice).
``act`` records an officer's action: on the outcome topic first, so that a rebuild restores it,
then in the archive. ``stats`` prints raised, worked and confirmed leads by model, jurisdiction, month.
``run`` serves /metrics, /healthz and /readyz (broker, its topics, the archiver
joined its group, the database answers) on the ``archive`` port of ``JIANDU_METRICS_PORTS``.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from jiandu.cli.arguments import non_negative_float
from jiandu.cli.hub import catalogue_of, create_topics, journal_for
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.errors import InputError
from jiandu.observability import MetricsServer, serve_process_metrics
from jiandu.settings import Settings, kafka_client_config

if TYPE_CHECKING:  # the archive and Kafka clients load only when an archive command runs
    from consumers._group import GroupMembership
    from consumers.archive import LeadArchive
    from consumers.archive.probe import ArchiveProbe

__all__ = ["add_parser", "command", "group_id"]


def group_id(settings: Settings) -> str:
    """The archiver's consumer group."""
    return f"{settings.topic_prefix}-archive"


def add_parser(sub: Any) -> None:
    """Register ``archive`` and its sub-commands."""
    archive = sub.add_parser("archive", help="archive every lead version and officer action (SQLite or PostgreSQL)")
    actions = archive.add_subparsers(dest="archive_command", required=False)
    run = actions.add_parser("run", help="the archiver (the default): consume leads and actions into the archive")
    for parser in (archive, run):
        parser.add_argument("--duration", type=non_negative_float, default=None, help="stop after this many seconds")
    actions.add_parser("rebuild", help="forget the lead versions and re-read the archiver's topics")
    act = actions.add_parser("act", help="record an officer's action on a lead")
    act.add_argument("lead_id", help="the lead (its lead_id, as the console and the lead topic show it)")
    act.add_argument("--officer", required=True, help="who acts (the officer's user name)")
    act.add_argument(
        "--action", required=True, choices=["acknowledge", "assign", "outcome", "close"], help="what the officer does"
    )
    act.add_argument("--assignee", default=None, help="with --action assign")
    act.add_argument("--outcome", default=None, help="with --action outcome: 发出纠正违法通知书, 检察建议, 立案监督, …")
    act.add_argument("--note", default="", help="free text kept with the action")
    act.add_argument("--at", default=None, help="ISO 8601 time of the action (default: now)")
    stats = actions.add_parser("stats", help="raised, worked and confirmed leads by model, jurisdiction and month")
    stats.add_argument("--model", default=None, help="only this model, e.g. M02")
    stats.add_argument("--jurisdiction", default=None, help="division code prefix, e.g. 2101")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu archive …``."""
    from consumers.archive import open_archive

    archive = open_archive(settings.archive_url, settings.data_dir)
    try:
        name = args.archive_command or "run"
        return {"run": _run, "rebuild": _rebuild, "act": _act, "stats": _stats}[name](settings, args, archive)
    finally:
        archive.close()


def _topics(settings: Settings) -> list[str]:
    catalogue = catalogue_of(settings)
    # the event topics and dead letters feed the data-quality scorecard (consumers/archive/quality.py)
    lead_side = [catalogue.leads, catalogue.outcomes, catalogue.identities]
    return [*lead_side, *catalogue.event_topics(), catalogue.dead_letters]


def _run(settings: Settings, args: argparse.Namespace, archive: LeadArchive) -> int:
    from consumers._group import GroupMembership
    from consumers.archive.probe import ArchiveProbe

    membership = GroupMembership(group_id(settings))
    probe = ArchiveProbe(settings.archive_url, settings.data_dir)
    metrics = _serve_metrics(settings, membership, probe)
    try:
        return _archive_until_stopped(settings, args, archive, membership)
    finally:
        if metrics is not None:
            metrics.stop()
        probe.close()


def _serve_metrics(settings: Settings, membership: GroupMembership, probe: ArchiveProbe) -> MetricsServer | None:
    """/metrics, /healthz and /readyz of the archiver: ready when the broker, its topics, its group and the
    database are."""
    checks = [("group", membership.problem), ("database", probe.problem)]
    metrics = serve_process_metrics(settings, "archive", _topics(settings), checks=checks)
    if metrics is not None:
        print(f"metrics: {metrics.url}/metrics", flush=True)
    return metrics


def _archive_until_stopped(
    settings: Settings, args: argparse.Namespace, archive: LeadArchive, membership: GroupMembership
) -> int:
    from consumers.archive import ArchiveProgress, archive_stream

    create_topics(settings)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ends = None if args.duration is None else time.monotonic() + args.duration

    def report(batch: ArchiveProgress) -> None:
        print(
            f"archived {batch.versions} versions, {batch.actions} actions ({batch.duplicates} already stored)",
            flush=True,
        )

    try:
        total = archive_stream(
            archive,
            kafka_client_config(settings),
            _topics(settings),
            group_id(settings),
            should_stop=lambda: stop.is_set() or (ends is not None and time.monotonic() > ends),
            session_timeout_ms=int(settings.session_timeout_seconds * 1000),
            on_batch=report,
            membership=membership,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"archiver stopped: {total.versions} versions, {total.actions} actions, {total.undecodable} undecodable")
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace, archive: LeadArchive) -> int:
    from consumers.archive import rebuild

    create_topics(settings)
    total = rebuild(archive, kafka_client_config(settings), _topics(settings))
    print(f"rebuilt: {total.versions} lead versions, {total.actions} actions restored, {total.undecodable} undecodable")
    return 0


def _act(settings: Settings, args: argparse.Namespace, archive: LeadArchive) -> int:
    from kafka import KafkaProducer

    from consumers.archive import Action, publish_action
    from jiandu.serde import AvroCodec

    try:
        at = to_ms(parse_datetime(args.at)) if args.at else int(time.time() * 1000)
    except ValueError:
        raise InputError(f"--at {args.at!r} is not an ISO 8601 date-time") from None
    action = Action(args.lead_id, args.officer, args.action, at, args.assignee, args.outcome, args.note)
    action.validate()
    create_topics(settings)
    producer = KafkaProducer(**kafka_client_config(settings), acks="all")
    try:
        journal = journal_for(settings, "archive-act")
        publish_action(producer, AvroCodec(), catalogue_of(settings).outcomes, action, journal)
        if journal is not None:
            journal.close()
    finally:
        producer.close()
    archive.record_action(action)
    print(f"recorded {action.action} on {action.lead_id} ({action.action_id})")
    return 0


def _stats(settings: Settings, args: argparse.Namespace, archive: LeadArchive) -> int:
    from consumers.archive import LeadFilter

    rows = archive.statistics(LeadFilter(model=args.model, jurisdiction_prefix=args.jurisdiction))
    print("month    model jurisdiction  raised  worked  confirmed  rate")
    for r in rows:
        rate = "-" if r.confirmation_rate is None else f"{r.confirmation_rate:.0%}"
        print(f"{r.month}  {r.model_id:5} {r.jurisdiction:12} {r.raised:7} {r.worked:7} {r.confirmed:10}  {rate}")
    return 0
