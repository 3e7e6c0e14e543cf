"""``jiandu alerts``: route every lead version to its department's and severity's alert topic until stopped.

/metrics, /healthz and /readyz (broker, the lead and alert topics, the router joined its
group and restored its state) are served on the ``alerts`` port of ``JIANDU_METRICS_PORTS``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jiandu.observability import serve_process_metrics
from jiandu.settings import Settings, kafka_client_config

if TYPE_CHECKING:  # the Kafka clients load only when the router runs
    from consumers._group import GroupMembership

__all__ = ["add_parser", "command", "stop_on_signals"]

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    """Register ``jiandu alerts``."""
    alerts = sub.add_parser("alerts", help="route lead versions to <prefix>.alerts.dept.* and .severity.* topics")
    alerts.add_argument("--group", default=None, help="consumer group on the lead topic (default <prefix>-alerts)")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the alert router until SIGTERM or Ctrl-C."""
    # imported before the endpoint opens: the module exports alerts_routed_total at 0 for both kinds
    # (a series that appears holding a count hides it from rate())
    import consumers.alerts  # noqa: F401
    from consumers._group import GroupMembership
    from jiandu.cli.hub import catalogue_of

    catalogue = catalogue_of(settings)
    membership = GroupMembership()
    state_problem: list[Callable[[], str | None]] = []  # the router's, once it is built

    def state() -> str | None:
        return state_problem[0]() if state_problem else "alert router: not started yet"

    checks = [("group", membership.problem), ("state", state)]
    metrics = serve_process_metrics(settings, "alerts", [catalogue.leads, *catalogue.alert_topics()], checks=checks)
    if metrics is not None:
        print(f"metrics: {metrics.url}/metrics", flush=True)
    try:
        return _route(settings, args, membership, state_problem)
    finally:
        if metrics is not None:
            metrics.stop()


def _route(
    settings: Settings,
    args: argparse.Namespace,
    membership: GroupMembership,
    state_problem: list[Callable[[], str | None]],
) -> int:
    from consumers._group import GroupOptions
    from consumers.alerts import AlertRouter
    from jiandu.cli.hub import catalogue_of, create_topics, journal_for

    create_topics(settings)  # the alert topics must exist before anything is routed to them
    options = GroupOptions(settings.session_timeout_seconds, settings.consumer_fetch_max_wait_ms)
    stop = stop_on_signals()
    journal = journal_for(settings, "alerts")  # the embedded broker forgets the router's state on a restart
    try:
        with AlertRouter(
            kafka_client_config(settings),
            catalogue_of(settings),
            group=args.group,
            options=options,
            membership=membership,
            journal=journal,
        ) as router:
            state_problem.append(router.state.problem)
            log.info("alert router: group %s on %s", router.group, router.catalogue.leads)
            router.run(stop.is_set)
            log.info("alert router stopped after %d lead versions", router.routed)
    finally:
        if journal is not None:
            journal.close()
    return 0


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so that a long-running command ends cleanly (commits, leaves its group)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
