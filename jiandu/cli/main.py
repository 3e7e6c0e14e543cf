"""The ``jiandu`` command line. Settings come from ``JIANDU_*`` variables, built once here."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from jiandu.cli import alerts as alerts_cli
from jiandu.cli import archive as archive_cli
from jiandu.cli import backup as backup_cli
from jiandu.cli import console as console_cli
from jiandu.cli import dlq as dlq_cli
from jiandu.cli import filedrop as filedrop_cli
from jiandu.cli import gateway as gateway_cli
from jiandu.cli import restpull as restpull_cli
from jiandu.cli import webhooks as webhooks_cli
from jiandu.cli.arguments import CommandParser, non_negative_float, port_or_none, positive_int
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.errors import InputError, JianduError
from jiandu.observability.logs import configure_logging
from jiandu.security import printable
from jiandu.settings import SETTINGS_DOC, Settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="jiandu", description="Jiandu Hub (监督数据共享中心)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the hub: embedded broker, streams worker, sample replay, leads")
    run.add_argument("--sample", type=Path, default=None, help="JSON-lines records to replay (default: generated)")
    run.add_argument(
        "--duration", type=non_negative_float, default=None, help="stop after this many seconds (default: Ctrl-C)"
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="also show the processes' log lines (always in the data dir)"
    )

    ingest = sub.add_parser("ingest", help="publish canonical JSON-lines records")
    ingest.add_argument("files", nargs="+", type=Path, help="JSON-lines files, one canonical record a line")

    worker = sub.add_parser("worker", help="run one streams worker (Faust)")
    worker.add_argument(
        "--mode", choices=["live", "backtest"], default="live", help="hub clock: wall clock (live) or event time"
    )
    worker.add_argument(
        "--web-port",
        type=port_or_none,
        default=None,
        help="metrics and health port (default JIANDU_WORKER_WEB_PORT; -1: none)",
    )
    worker.add_argument(
        "--no-router",
        action="store_true",
        help="evaluate only, route no events (a backtest routes with one worker, in input order)",
    )

    backtest = sub.add_parser("backtest", help="run the models over a history on fresh topics")
    backtest.add_argument("--input", type=Path, nargs="+", required=True, help="JSON-lines records of the history")
    backtest.add_argument("--clock-end", required=True, help="ISO 8601, e.g. 2025-03-01T00:00:00+08:00")
    backtest.add_argument("--out", type=Path, required=True, help="where to write the final lead versions (JSON lines)")
    backtest.add_argument(
        "--batch", action="store_true", help="the in-memory batch collision instead of the pipeline (no Kafka)"
    )

    models = sub.add_parser("models", help="list the configured supervision models and their parameters")
    models.add_argument("--params", action="store_true", help="print every parameter as YAML (JIANDU_MODEL_PARAMS)")
    simulate = sub.add_parser("simulate", help="generate a realistic agency history with planted cases")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (same seed, same history)")
    simulate.add_argument("--persons", type=positive_int, default=1000, help="storylines (persons) to generate")
    simulate.add_argument("--start", default="2024-01-01T00:00:00+08:00", help="ISO 8601 start of the history")
    simulate.add_argument("--days", type=positive_int, default=120, help="length of the history in days")
    simulate.add_argument("--out", type=Path, required=True, help="JSON-lines records")
    simulate.add_argument("--expected", type=Path, default=None, help="also write the planted OPEN leads here")

    leads = sub.add_parser("leads", help="the leads on the lead topic")
    lead_actions = leads.add_subparsers(dest="leads_command", required=True)
    export = lead_actions.add_parser("export", help="the final state of every lead, as `jiandu backtest --out` writes")
    export.add_argument("--out", type=Path, required=True, help="JSON lines, one lead each")
    export.add_argument("--timeout", type=float, default=600.0, help="seconds to read the lead topic to its end")

    journal = sub.add_parser("journal", help="the durable journal of accepted records (JIANDU_DATA_DIR/journal)")
    journal_actions = journal.add_subparsers(dest="journal_command", required=True)
    journal_actions.add_parser("compact", help="merge closed segments, dropping records accepted twice")

    sub.add_parser("broker", help="run the embedded broker in the foreground")
    sub.add_parser("topics", help="create every topic of the catalogue (idempotent)")
    acls = sub.add_parser("acls", help="print the Kafka ACLs of each principal as kafka-acls.sh commands")
    acls.add_argument(
        "--principal",
        action="append",
        default=[],
        metavar="ROLE=PRINCIPAL",
        help="e.g. adapter=User:jiandu-adapter; roles: adapter, worker, downstream, operator "
        "(default: User:jiandu-<role> for each)",
    )
    schemas = sub.add_parser("schemas", help="write or check schemas/*.avsc")
    schemas.add_argument("--write", action="store_true", help="rewrite the files instead of checking them")
    schemas.add_argument("--dir", type=Path, default=Path("schemas"), help="the folder of the .avsc files")
    sub.add_parser("settings", help="print the settings (secrets masked) and the configuration table")
    gateway_cli.add_parser(sub)
    dlq_cli.add_parser(sub)
    filedrop_cli.add_parser(sub)
    restpull_cli.add_parsers(sub)
    archive_cli.add_parser(sub)
    backup_cli.add_parser(sub)
    console_cli.add_parser(sub)
    alerts_cli.add_parser(sub)
    webhooks_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
        configure_logging(settings.log_level, settings.log_format, args.command)
        return _COMMANDS[args.command](settings, args)
    except InputError as exc:
        print(f"jiandu: {exc}", file=sys.stderr)
        return 2
    except JianduError as exc:
        print(f"jiandu: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.jsonl import ingest_jsonl
    from jiandu.cli.hub import create_topics, new_intake

    for path in args.files:
        if not path.is_file():
            raise InputError(f"cannot read {path}: no such file")
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="jsonl")
    with publisher:
        report = ingest_jsonl(args.files, intake, show_progress=sys.stderr.isatty())
    print(f"accepted {report.accepted}, rejected {report.rejected}")
    for reason, count in report.reasons().most_common():
        print(f"  {count:6}  {printable(reason)}")  # agency text: no escape sequences reach the terminal
    if report.accepted == 0:
        what = f"none of the {report.rejected} records was valid" if report.rejected else "no records found"
        raise InputError(f"{what} in {', '.join(map(str, args.files))}; nothing was published")
    return 0


def _models(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.models.configuration import build_engine, params_yaml

    engine = build_engine(settings)
    if args.params:
        print(params_yaml(engine.models), end="")
        return 0
    print("id   version  shape                department  name")
    for m in engine.models:
        name = f"{getattr(m, 'name', '')} {getattr(m, 'title_zh', '')}"
        print(f"{m.id:4} {m.version:8} {type(m).__name__:20} {m.department:6}  {name}")
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.broker import require_reachable
    from streams import run_worker

    settings.require_pseudonym_key()
    require_reachable(settings.bootstrap)  # else the worker's start-up fails with a traceback
    port = settings.worker_web_port if args.web_port is None else args.web_port
    run_worker(settings, mode=args.mode, web_port=None if port < 0 else port, route=not args.no_router)
    return 0


def _backtest(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.cli.backtest import collide, run_backtest, summary, write_leads
    from jiandu.models.configuration import build_engine

    settings.require_pseudonym_key()
    for path in args.input:
        if not path.is_file():
            raise InputError(f"cannot read {path}: no such file")
    try:
        clock_end = to_ms(parse_datetime(args.clock_end))
    except ValueError:
        raise InputError(f"--clock-end {args.clock_end!r} is not an ISO 8601 date-time") from None
    engine = build_engine(settings)  # a bad model file or parameter fails here, before any process starts
    if args.batch:
        started = time.monotonic()
        leads = collide(engine, settings, args.input, clock_end)
        write_leads(leads, args.out)
        print(f"batch collision: {len(leads)} leads in {time.monotonic() - started:.1f} s → {args.out}")
        print(summary(leads))
        return 0
    with tempfile.TemporaryDirectory(prefix="jiandu-backtest-") as work:
        result = run_backtest(
            settings, args.input, clock_end, args.out, work_dir=Path(work), show_progress=sys.stderr.isatty()
        )
    print(
        f"accepted {result.intake.accepted}, rejected {result.intake.rejected}; "
        f"{len(result.leads)} leads in {result.seconds:.1f} s → {args.out}"
    )
    print(summary(result.leads.values()))
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.simulate import generate_history

    try:
        start = parse_datetime(args.start)
    except ValueError:
        raise InputError(f"--start {args.start!r} is not an ISO 8601 date-time") from None
    history = generate_history(
        seed=args.seed, persons=args.persons, start=start, days=args.days, pseudonym_key=settings.pseudonym_key_bytes
    )
    history.to_jsonl(args.out)
    if args.expected:
        history.expected_to_jsonl(args.expected)
    print(
        f"{len(history.records)} records ({len(history.invalid_lines)} invalid) → {args.out}; "
        f"clock end {history.clock_end.isoformat()}; {len(history.open_leads)} planted OPEN leads"
    )
    return 0


def _broker(settings: Settings, args: argparse.Namespace) -> int:
    import signal
    import threading

    from jiandu.broker import EmbeddedBroker

    journal = settings.journal_dir if settings.journal_enabled else None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())  # the broker is in its own session: stopping it is ours
    broker = EmbeddedBroker(settings.broker_port, log_path=settings.data_dir / "tansu.log", journal_dir=journal)
    try:
        broker.start()
        if broker.replayed is not None:
            print(f"journal {journal}: {broker.replayed}")
        print(f"embedded broker on {broker.bootstrap} (pid {broker.pid}); Ctrl-C stops it", flush=True)
        while broker.running and not stop.wait(0.5):
            pass
        if not stop.is_set():
            print(f"jiandu: the embedded broker (pid {broker.pid}) exited; see {broker.log_path}", file=sys.stderr)
            return 1
    finally:
        broker.stop()
    return 0


def _leads(settings: Settings, args: argparse.Namespace) -> int:
    from consumers import read_leads
    from jiandu.cli.backtest import summary, write_leads
    from jiandu.cli.hub import catalogue_of
    from jiandu.errors import BrokerError
    from jiandu.settings import kafka_client_config

    topic = catalogue_of(settings).leads
    try:
        leads = read_leads(kafka_client_config(settings), topic, timeout=args.timeout)
    except TimeoutError as exc:
        raise BrokerError(str(exc)) from exc
    write_leads(leads.values(), args.out)
    print(f"{len(leads)} leads (the last version of each on {topic}) → {args.out}")
    print(summary(leads.values()))
    return 0


def _journal(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.journal_compaction import compact_journal

    if not settings.journal_dir.is_dir():
        raise InputError(f"no journal in {settings.journal_dir} (JIANDU_DATA_DIR)")
    print(f"journal {settings.journal_dir}: {compact_journal(settings.journal_dir)}")
    return 0


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.cli.hub import create_topics

    created = create_topics(settings)
    print(f"{len(created)} topics created")
    return 0


def _acls(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.broker.acls import ROLES, acl_commands, hub_acls
    from jiandu.cli.hub import catalogue_of

    principals = {role: f"User:jiandu-{role}" for role in ROLES}
    for option in args.principal:
        role, _, principal = option.partition("=")
        if role not in ROLES or not principal:
            print(f"jiandu acls: --principal {option!r}: use ROLE=PRINCIPAL with a role of {', '.join(ROLES)}")
            return 2
        principals[role] = principal
    print("\n".join(acl_commands(hub_acls(catalogue_of(settings), principals))))
    return 0


def _schemas(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from jiandu.avro_schemas import all_schemas

    if not args.dir.is_dir():
        raise InputError(
            f"schemas folder {args.dir} does not exist; pass --dir with the folder holding the .avsc files"
        )
    stale = []
    for name, schema in all_schemas().items():
        path = args.dir / f"{name}.avsc"
        text = json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
        if args.write:
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path.name)
    if stale:
        print(f"out of date: {', '.join(stale)}; run `jiandu schemas --write`", file=sys.stderr)
        return 1
    return 0


def _settings(settings: Settings, args: argparse.Namespace) -> int:
    for key, value in settings.masked().items():
        print(f"{key} = {value}")
    print()
    for name, default, doc in SETTINGS_DOC():
        print(f"| `{name}` | {f'`{default}`' if default else '(empty)'} | {doc} |")
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from jiandu.cli.run import run_hub

    if args.sample is not None and not args.sample.is_file():
        raise InputError(f"cannot read --sample {args.sample}: no such file (leave --sample out for a generated one)")
    return run_hub(settings, sample=args.sample, duration=args.duration, verbose=args.verbose)


_COMMANDS = {
    "run": _run,
    "ingest": _ingest,
    "worker": _worker,
    "backtest": _backtest,
    "broker": _broker,
    "leads": _leads,
    "journal": _journal,
    "topics": _topics,
    "acls": _acls,
    "models": _models,
    "simulate": _simulate,
    "schemas": _schemas,
    "settings": _settings,
    "gateway": gateway_cli.command,
    "dlq": dlq_cli.command,
    "filedrop": filedrop_cli.command,
    "rest-pull": restpull_cli.rest_pull_command,
    "agency-sim": restpull_cli.agency_sim_command,
    "archive": archive_cli.command,
    "backup": backup_cli.command,
    "console": console_cli.command,
    "alerts": alerts_cli.command,
    "webhooks": webhooks_cli.command,
}
