"""``jiandu console``: the officers' console on 127.0.0.1:JIANDU_CONSOLE_PORT; ``jiandu console hash-password``.

The console reads the lead archive (``JIANDU_ARCHIVE_URL``, or SQLite in ``JIANDU_DATA_DIR``) that
``jiandu archive`` fills, signs users in from ``JIANDU_CONSOLE_USERS`` and puts each officer action
on the outcome topic before storing it, as ``jiandu archive act`` does. It serves until SIGINT or SIGTERM.
Its /metrics, /healthz and /readyz (broker, the outcome topic, the archive database answers, the
console serving) are on the ``console`` port of ``JIANDU_METRICS_PORTS``, apart from the officers' port.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jiandu.errors import ConfigurationError, InputError
from jiandu.observability import serve_process_metrics
from jiandu.settings import Settings, kafka_client_config

if TYPE_CHECKING:  # the web stack and Kafka clients load only when the console runs
    from consumers.archive import Action, LeadArchive
    from consumers.console import ConsoleServer

__all__ = ["add_parser", "command", "open_console", "session_secret"]


def add_parser(sub: Any) -> None:
    """Register ``console`` and ``console hash-password`` on the main parser's sub-parsers."""
    console = sub.add_parser("console", help="the officers' console (127.0.0.1:JIANDU_CONSOLE_PORT)")
    console.add_argument("--port", type=int, default=None, help="override JIANDU_CONSOLE_PORT (0: a free port)")
    actions = console.add_subparsers(dest="console_command")
    hashing = actions.add_parser("hash-password", help="print the password_hash of a password for the users file")
    hashing.add_argument("--stdin", action="store_true", help="read the password from standard input (no prompt)")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu console`` or ``jiandu console hash-password``."""
    if args.console_command == "hash-password":
        return _hash_password(args.stdin)
    return _serve(settings, settings.console_port if args.port is None else args.port)


def session_secret(settings: Settings) -> bytes:
    """The cookie-signing key: JIANDU_CONSOLE_SECRET, or in development a random one (sign-ins end at restart)."""
    if settings.console_secret:
        if len(settings.console_secret) < 16:
            raise ConfigurationError("JIANDU_CONSOLE_SECRET is shorter than 16 characters: use `openssl rand -hex 32`")
        return settings.console_secret.encode()
    if settings.mode != "development":
        raise ConfigurationError("JIANDU_CONSOLE_SECRET is not set: set it to a long random secret in production")
    return secrets.token_bytes(32)


def open_console(
    settings: Settings, port: int, archive: LeadArchive, publish: Callable[[Action], None], *, poll_seconds: float = 5.0
) -> ConsoleServer:
    """Build and start the console over ``archive``; the caller stops it. Shared by the command and tests."""
    from consumers.console import ConsoleConfig, ConsoleServer, SessionSigner, create_app, load_users

    if not settings.console_users:
        raise ConfigurationError("JIANDU_CONSOLE_USERS is not set: the console needs its users file (YAML)")
    config = ConsoleConfig(
        users=load_users(Path(settings.console_users)),
        signer=SessionSigner(session_secret(settings)),
        publish=publish,
        poll_seconds=poll_seconds,
    )
    return ConsoleServer(create_app(archive, config), port).start()


def _serve(settings: Settings, port: int) -> int:
    from consumers.archive.probe import ArchiveProbe
    from jiandu.cli.hub import catalogue_of

    probe = ArchiveProbe(settings.archive_url, settings.data_dir)
    opened: list[ConsoleServer] = []  # the readiness check looks at the console once it is open
    checks = [("database", probe.problem), ("console", lambda: _console_problem(opened))]
    metrics = serve_process_metrics(settings, "console", [catalogue_of(settings).outcomes], checks=checks)
    if metrics is not None:
        print(f"metrics: {metrics.url}/metrics", flush=True)
    try:
        _serve_until_stopped(settings, port, opened)
    finally:
        if metrics is not None:
            metrics.stop()
        probe.close()
    return 0


def _console_problem(opened: list[ConsoleServer]) -> str | None:
    if not opened:
        return "the console is not serving yet"
    return None if opened[0].running else f"the console on {opened[0].url} stopped"


def _serve_until_stopped(settings: Settings, port: int, opened: list[ConsoleServer]) -> None:
    from kafka import KafkaProducer

    from consumers.archive import open_archive, publish_action
    from jiandu.cli.hub import catalogue_of, create_topics, journal_for
    from jiandu.serde import AvroCodec

    create_topics(settings)
    codec, topic = AvroCodec(), catalogue_of(settings).outcomes
    producer = KafkaProducer(**kafka_client_config(settings), acks="all")
    journal = journal_for(settings, "console")
    archive = open_archive(settings.archive_url, settings.data_dir)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        publish = lambda action: publish_action(producer, codec, topic, action, journal)  # noqa: E731
        server = open_console(settings, port, archive, publish)
        opened.append(server)
        print(f"console on {server.url}; Ctrl-C stops it", flush=True)
        try:
            while not stop.wait(0.5) and server.running:
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
        producer.close()
        archive.close()
        if journal is not None:
            journal.close()


def _hash_password(from_stdin: bool) -> int:
    from consumers.console import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码 / password: ")
        if getpass.getpass("再次输入 / again: ") != password:
            raise InputError("the two passwords differ")
    if len(password) < 8:
        raise InputError("the password is shorter than 8 characters")
    print(hash_password(password))
    return 0
