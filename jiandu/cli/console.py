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

from jiandu.cli.arguments import port
from jiandu.core.identity_seal import IdentityOpener, generate_key_pair
from jiandu.errors import ConfigurationError, InputError
from jiandu.observability import serve_process_metrics
from jiandu.settings import Settings, kafka_client_config

if TYPE_CHECKING:  # the web stack and Kafka clients load only when the console runs
    from consumers.archive import Action, LeadArchive
    from consumers.console import ConsoleServer, UserDirectory

__all__ = ["add_parser", "command", "open_console", "reveal_keys", "session_secret"]


def add_parser(sub: Any) -> None:
    """Register ``console`` and ``console hash-password`` on the main parser's sub-parsers."""
    console = sub.add_parser("console", help="the officers' console (127.0.0.1:JIANDU_CONSOLE_PORT)")
    console.add_argument("--port", type=port, default=None, help="override JIANDU_CONSOLE_PORT (0: a free port)")
    actions = console.add_subparsers(dest="console_command")
    hashing = actions.add_parser("hash-password", help="print the password_hash of a password for the users file")
    hashing.add_argument("--stdin", action="store_true", help="read the password from standard input (no prompt)")
    keygen = actions.add_parser(
        "reveal-keygen", help="create a reveal key pair: .pub for JIANDU_REVEAL_PUBLIC_KEY, .key for the console"
    )
    keygen.add_argument("--out", type=Path, required=True, help="directory to write reveal-<id>.key and .pub into")
    actions.add_parser(
        "reseal", help="seal again under JIANDU_REVEAL_PUBLIC_KEY every archived ID number an older key sealed"
    )


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu console`` or ``jiandu console hash-password``."""
    if args.console_command == "hash-password":
        return _hash_password(args.stdin)
    if args.console_command == "reveal-keygen":
        private, public, key_id = generate_key_pair(args.out)
        print(f"key {key_id}: private {private} (the console only: add it to JIANDU_REVEAL_KEY_FILES)")
        print(f"public {public} (adapters: JIANDU_REVEAL_PUBLIC_KEY)")
        return 0
    if args.console_command == "reseal":
        return _reseal(settings)
    return _serve(settings, settings.console_port if args.port is None else args.port)


def session_secret(settings: Settings) -> bytes:
    """The cookie-signing key: JIANDU_CONSOLE_SECRET (the same on every replica), or in development a random one
    (sign-ins then end at restart and hold on this process only)."""
    if settings.console_secret:
        if len(settings.console_secret) < 16:
            raise ConfigurationError("JIANDU_CONSOLE_SECRET is shorter than 16 characters: use `openssl rand -hex 32`")
        return settings.console_secret.encode()
    if settings.mode != "development":
        raise ConfigurationError("JIANDU_CONSOLE_SECRET is not set: set it to a long random secret in production")
    return secrets.token_bytes(32)


def reveal_keys(settings: Settings) -> IdentityOpener | None:
    """The reveal service's private keys (JIANDU_REVEAL_KEY_FILES): read here, by the console, and nowhere else."""
    files = [Path(p.strip()) for p in settings.reveal_key_files.split(",") if p.strip()]
    return IdentityOpener.from_files(files) if files else None


def open_console(
    settings: Settings, port: int, archive: LeadArchive, publish: Callable[[Action], None], *, poll_seconds: float = 5.0
) -> ConsoleServer:
    """Build and start the console over ``archive``; the caller stops it. Shared by the command and tests."""
    from consumers.console import ConsoleConfig, ConsoleServer, SessionSigner, create_app
    from consumers.console.reveal import RevealService

    config = ConsoleConfig(
        users=_users(settings),
        signer=SessionSigner(session_secret(settings), lifetime_seconds=settings.console_session_hours * 3600),
        publish=publish,
        poll_seconds=poll_seconds,
        session_idle_seconds=settings.console_session_idle_minutes * 60,
        reveal=RevealService(reveal_keys(settings), settings.console_reveals_per_hour),
    )
    return ConsoleServer(create_app(archive, config), port, host=settings.listen_host).start()


def _users(settings: Settings) -> UserDirectory:
    """The users file of the settings, loaded and checked."""
    from consumers.console import load_users

    if not settings.console_users:
        raise ConfigurationError("JIANDU_CONSOLE_USERS is not set: the console needs its users file (YAML)")
    return load_users(Path(settings.console_users))


def _serve(settings: Settings, port: int) -> int:
    from consumers.archive.probe import ArchiveProbe
    from jiandu.cli.hub import catalogue_of

    # before the metrics endpoint opens: a bad users file fails first, and importing the console
    # exports its series at 0 (a series that appears holding a count hides it from rate())
    _users(settings)
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


def _reseal(settings: Settings) -> int:
    """Key rotation: what older keys sealed, sealed again for the newest (consumers/console/rotation.py)."""
    import time

    from kafka import KafkaProducer

    from consumers.archive import open_archive
    from consumers.console.rotation import reseal
    from jiandu.cli.hub import catalogue_of, create_topics
    from jiandu.core.identity_seal import IdentitySealer
    from jiandu.serde import AvroCodec

    opener = reveal_keys(settings)
    if opener is None or not settings.reveal_public_key:
        raise ConfigurationError("reseal needs JIANDU_REVEAL_KEY_FILES (old and new keys) and JIANDU_REVEAL_PUBLIC_KEY")
    sealer = IdentitySealer.from_file(Path(settings.reveal_public_key))
    create_topics(settings)
    codec, topic = AvroCodec(), catalogue_of(settings).identities
    producer = KafkaProducer(**kafka_client_config(settings), acks="all")
    archive = open_archive(settings.archive_url, settings.data_dir)

    def publish(s: Any) -> None:
        value = {"person_key": s.person_key, "key_id": s.key_id, "sealed": s.sealed, "sealed_at": s.sealed_at}
        producer.send(topic, key=s.person_key.encode(), value=codec.encode("sealed_identity", value)).get(timeout=30)

    try:
        report = reseal(archive, opener, sealer, publish, int(time.time() * 1000))
    finally:
        producer.close()
        archive.close()
    print(f"key {sealer.key_id}: {report.resealed} sealed again, {report.current} already current, "
          f"{report.failed} could not be opened (their key is not in JIANDU_REVEAL_KEY_FILES)")  # fmt: skip
    return 1 if report.failed else 0


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
