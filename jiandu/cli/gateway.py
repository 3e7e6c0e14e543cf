"""``jiandu gateway``: the push API for agencies; ``jiandu gateway hash-token``: issue an agency's token.

The gateway connects to the configured broker (``JIANDU_KAFKA_BOOTSTRAP``, or the
embedded broker on ``JIANDU_BROKER_PORT`` started by ``jiandu broker`` / ``jiandu
run``), creates missing topics, and serves on ``127.0.0.1:JIANDU_GATEWAY_PORT``
until SIGINT or SIGTERM. Its /metrics, /healthz and /readyz (broker, topics,
credentials loaded, push API serving) are on the ``gateway`` port of
``JIANDU_METRICS_PORTS``; the agency-facing port keeps only its own /healthz.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jiandu.cli.arguments import port
from jiandu.errors import ConfigurationError
from jiandu.observability import serve_process_metrics
from jiandu.settings import Settings

if TYPE_CHECKING:  # the web stack loads only when the gateway runs, not for every `jiandu`
    from adapters.gateway import AcceptedEventIds, GatewayServer, RateLimits
    from producers import KafkaPublisher

__all__ = ["add_parser", "command", "open_gateway", "rate_limits", "receipts_path", "write_development_agencies"]


#: Longest wait for the broker's confirmation of one push request: past it the agency gets a 503 with
#: Retry-After (the push API never hangs on a broker that is away).
_CONFIRM_SECONDS = 10.0


def add_parser(sub: Any) -> None:
    """Register ``gateway`` and ``gateway hash-token`` on the main parser's sub-parsers."""
    gateway = sub.add_parser("gateway", help="the HTTP push API for agencies (127.0.0.1:JIANDU_GATEWAY_PORT)")
    gateway.add_argument("--port", type=port, default=None, help="override JIANDU_GATEWAY_PORT (0: a free port)")
    actions = gateway.add_subparsers(dest="gateway_command")
    token = actions.add_parser("hash-token", help="issue a bearer token for an agency and print its hash")
    token.add_argument("--agency", required=True, help="the agency id of the credentials file")
    token.add_argument(
        "--stdin", action="store_true", help="hash the token read from standard input instead of issuing a new one"
    )


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu gateway`` or ``jiandu gateway hash-token``."""
    if args.gateway_command == "hash-token":
        return _hash_token(args.agency, sys.stdin.readline().strip() if args.stdin else None)
    return _serve(settings, settings.gateway_port if args.port is None else args.port)


def receipts_path(settings: Settings) -> Path:
    """The SQLite file of accepted event ids (one per topic prefix: each prefix is its own hub), when
    JIANDU_GATEWAY_RECEIPTS_URL does not name a shared database."""
    return settings.data_dir / f"gateway-accepted-{settings.topic_prefix}.sqlite3"


def open_gateway(settings: Settings, port: int) -> tuple[GatewayServer, KafkaPublisher, AcceptedEventIds]:
    """Build and start the gateway on the settings' broker; returns (server, publisher, receipts) to close.

    Shared by ``jiandu gateway`` and tests; the caller stops the server first, then
    closes the publisher (confirming anything queued) and the receipts.
    """
    from adapters.gateway import (
        AgencyThrottle,
        GatewayServer,
        Limits,
        PushIntake,
        create_app,
        load_agencies,
        open_receipts,
    )
    from jiandu.cli.hub import create_topics, new_intake

    settings.require_pseudonym_key()
    if not settings.gateway_agencies:
        raise ConfigurationError(
            "JIANDU_GATEWAY_AGENCIES is not set: point it at the agencies' credentials file (YAML; "
            "see `jiandu gateway hash-token --help` and the README)"
        )
    agencies = load_agencies(Path(settings.gateway_agencies))
    throttle = AgencyThrottle(rate_limits(settings))
    if settings.gateway_receipt_days < 0:
        raise ConfigurationError(
            f"JIANDU_GATEWAY_RECEIPT_DAYS={settings.gateway_receipt_days}: use 0 (keep forever) or more days"
        )
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="gateway", timeout=settings.gateway_confirm_seconds)
    receipts = open_receipts(
        settings.gateway_receipts_url,
        receipts_path(settings),
        namespace=settings.topic_prefix,
        retention_days=settings.gateway_receipt_days,
    )
    limits = Limits(settings.gateway_max_request_bytes, settings.gateway_max_records)
    push = PushIntake(intake, receipts, outage_seconds=settings.gateway_confirm_seconds)
    app = create_app(push, agencies, limits, throttle)
    try:
        server = GatewayServer(app, port, host=settings.listen_host, log_level=settings.log_level).start()
    except BaseException:
        publisher.close()
        receipts.close()
        raise
    receipts.start_expiry()
    return server, publisher, receipts


def rate_limits(settings: Settings) -> RateLimits:
    """The per-agency rate limits of the settings; ConfigurationError names a setting that cannot work."""
    from adapters.gateway import RateLimits

    limits = RateLimits(
        requests_per_second=settings.gateway_rate_requests_per_second,
        requests_burst=settings.gateway_rate_requests_burst,
        records_per_second=settings.gateway_rate_records_per_second,
        records_burst=settings.gateway_rate_records_burst,
    )
    limits.check(settings.gateway_max_records)
    return limits


def write_development_agencies(path: Path, sources: Iterable[str]) -> dict[str, str]:
    """A credentials file with one agency per category (``dev-<category>``) owning exactly ``sources``.

    For ``jiandu run`` and demos, which push a generated sample through the
    gateway: returns each category's fresh token (the file holds only hashes).
    """
    from adapters.gateway import hash_token, new_token

    by_category: dict[str, set[str]] = {}
    for source in sources:
        by_category.setdefault(source.split(":", 1)[0], set()).add(source)
    tokens = {category: new_token(f"dev-{category}") for category in by_category}
    lines = ["agencies:"]
    for category, owned in sorted(by_category.items()):
        lines += [
            f"  - id: dev-{category}",
            f"    category: {category}",
            f"    sources: [{', '.join(repr(s) for s in sorted(owned))}]",
            f'    token_hash: "{hash_token(tokens[category])}"',
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tokens


def _serve(settings: Settings, port: int) -> int:
    from jiandu.cli.hub import catalogue_of

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    opened: list[GatewayServer] = []  # the readiness checks look at the gateway once it is open
    catalogue = catalogue_of(settings)
    topics = [*catalogue.event_topics(), catalogue.dead_letters]
    if settings.gateway_agencies:  # every agency's request counts at 0 before the endpoint opens
        from adapters.gateway import declare_requests, load_agencies

        declare_requests(load_agencies(Path(settings.gateway_agencies)))
    metrics = serve_process_metrics(settings, "gateway", topics, checks=_readiness(opened))
    try:
        _serve_until_stopped(settings, port, stop, opened, metrics.url if metrics else None)
    finally:
        if metrics is not None:
            metrics.stop()
    return 0


def _serve_until_stopped(
    settings: Settings, port: int, stop: threading.Event, opened: list[GatewayServer], metrics_url: str | None
) -> None:
    server, publisher, receipts = open_gateway(settings, port)
    opened.append(server)
    print(f"gateway: {server.url}/api/v1/records:batch (OpenAPI at {server.url}/openapi.json); Ctrl-C stops it")
    print(f"accepted event ids: {receipts.where}", flush=True)
    if metrics_url is not None:
        print(f"metrics: {metrics_url}/metrics")
    sys.stdout.flush()
    try:
        while not stop.wait(1.0) and server.running:
            pass
    finally:
        server.stop()
        publisher.close()
        receipts.close()


def _readiness(opened: list[GatewayServer]) -> list[tuple[str, Callable[[], str | None]]]:
    """The gateway's own checks: its credentials loaded, its push API serving."""

    def credentials() -> str | None:
        agencies = len(opened[0].app.state.agencies) if opened else 0
        return None if agencies else "agency credentials not loaded yet (JIANDU_GATEWAY_AGENCIES)"

    def push_api() -> str | None:
        if not opened:
            return "the push API is not serving yet"
        return None if opened[0].running else f"the push API on {opened[0].url} stopped"

    return [("credentials", credentials), ("push_api", push_api)]


def _hash_token(agency_id: str, given: str | None) -> int:
    from adapters.gateway import hash_token, new_token

    token = given or new_token(agency_id)
    if not token.startswith(f"{agency_id}.") or len(token) < len(agency_id) + 33:
        raise ConfigurationError(
            f"a token of agency {agency_id} must read '{agency_id}.<secret>' with a secret of at least 32 characters"
        )
    if given is None:
        print(f"token (give it to the agency once; it is not stored): {token}", file=sys.stderr)
    print(f'token_hash: "{hash_token(token)}"')
    return 0
