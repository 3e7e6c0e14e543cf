"""``jiandu webhooks [run | redeliver | failed]``: deliver lead versions to subscribers' HTTP endpoints.

``run`` (the default) is the long-running deliverer (run several, on several hosts, in one
group: they share the lead topic's partitions and hand them over with their state);
``redeliver`` sends the dead-lettered deliveries again (after the receiver is fixed);
``failed`` lists them (never their bodies). Dead letters live in the compacted topic
``<prefix>.consumers.webhook-dead-letters``, so both see every replica's, from any host.
``run`` serves /metrics, /healthz and /readyz (broker, the lead topic, the deliverer joined
its group and restored its state) on the ``webhooks`` port of ``JIANDU_METRICS_PORTS``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jiandu.cli.arguments import positive_int
from jiandu.core.timeutil import format_cst
from jiandu.errors import ConfigurationError
from jiandu.observability import MetricsServer, serve_process_metrics
from jiandu.settings import Settings, kafka_client_config

if TYPE_CHECKING:  # httpx and the Kafka clients load only when a webhooks command runs
    from consumers._group import GroupMembership
    from consumers.webhooks import FailedDeliveryStore, RetryPolicy, Subscription

__all__ = ["add_parser", "command", "dead_letters"]


def add_parser(sub: Any) -> None:
    """Register ``jiandu webhooks`` and its actions."""
    webhooks = sub.add_parser("webhooks", help="deliver lead versions to webhook subscriptions; redeliver failures")
    webhooks.add_argument("--group", default=None, help="consumer group of this deliverer (default <prefix>-webhooks)")
    actions = webhooks.add_subparsers(dest="webhooks_command")
    actions.add_parser("run", help="deliver until stopped (the default)")
    redeliver = actions.add_parser("redeliver", help="send dead-lettered deliveries again, in order per lead")
    failed = actions.add_parser("failed", help="list dead-lettered deliveries")
    for action in (redeliver, failed):
        action.add_argument("--group", default=argparse.SUPPRESS, help="the deliverer whose dead letters to use")
        action.add_argument("--subscription", default=None, help="only this subscription id")
        action.add_argument("--lead", default=None, help="only this lead_id")
    redeliver.add_argument("--attempts", type=positive_int, default=1, help="attempts per delivery (backoff between)")


@contextmanager
def dead_letters(settings: Settings, group: str, writer: str) -> Iterator[FailedDeliveryStore]:
    """The dead letters of ``group`` (its writes journaled as ``writer`` on the embedded broker)."""
    from consumers.webhooks import FailedDeliveryStore
    from jiandu.cli.hub import catalogue_of, create_topics, journal_for

    create_topics(settings)
    journal = journal_for(settings, writer)
    try:
        topic = catalogue_of(settings).webhook_dead_letters
        with FailedDeliveryStore(kafka_client_config(settings), topic, group, journal=journal) as store:
            yield store
    finally:
        if journal is not None:
            journal.close()


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``jiandu webhooks`` action."""
    from consumers.webhooks import webhook_group
    from jiandu.cli.hub import catalogue_of

    group = args.group or webhook_group(catalogue_of(settings))
    action = args.webhooks_command or "run"
    if action == "failed":
        return _failed(settings, group, args)
    subscriptions = _subscriptions(settings)
    if action == "redeliver":
        return asyncio.run(_redeliver(settings, group, subscriptions, args))
    return _run(settings, group, subscriptions)


def _subscriptions(settings: Settings) -> list[Subscription]:
    from consumers.webhooks import load_subscriptions

    if not settings.webhook_subscriptions:
        raise ConfigurationError("JIANDU_WEBHOOK_SUBSCRIPTIONS is not set: name the YAML file of the subscriptions")
    return load_subscriptions(Path(settings.webhook_subscriptions))


def _policy(settings: Settings, attempts: int | None = None) -> RetryPolicy:
    from consumers.webhooks import RetryPolicy

    return RetryPolicy(
        attempts or settings.webhook_max_attempts,
        settings.webhook_backoff_seconds,
        settings.webhook_backoff_max_seconds,
    )


def _run(settings: Settings, group: str, subscriptions: list[Subscription]) -> int:
    from consumers._group import GroupMembership

    membership = GroupMembership(group)
    state_problem: list[Callable[[], str | None]] = []  # the deliverer's, once it is built
    metrics = _serve_metrics(settings, membership, state_problem)
    try:
        return _deliver(settings, group, subscriptions, membership, state_problem)
    finally:
        if metrics is not None:
            metrics.stop()


def _serve_metrics(
    settings: Settings, membership: GroupMembership, state_problem: list[Callable[[], str | None]]
) -> MetricsServer | None:
    """/metrics, /healthz and /readyz of the deliverer: ready when the broker, the lead topic, the group
    and the deliverer's state are."""
    from jiandu.cli.hub import catalogue_of

    def state() -> str | None:
        return state_problem[0]() if state_problem else "webhook deliverer: not started yet"

    checks = [("group", membership.problem), ("state", state)]
    metrics = serve_process_metrics(settings, "webhooks", [catalogue_of(settings).leads], checks=checks)
    if metrics is not None:
        print(f"metrics: {metrics.url}/metrics", flush=True)
    return metrics


def _deliver(
    settings: Settings,
    group: str,
    subscriptions: list[Subscription],
    membership: GroupMembership,
    state_problem: list[Callable[[], str | None]],
) -> int:
    from consumers._group import GroupOptions
    from consumers.webhooks import WebhookDeliverer
    from jiandu.cli.alerts import stop_on_signals
    from jiandu.cli.hub import catalogue_of

    stop = stop_on_signals()
    with dead_letters(settings, group, "webhooks") as store:
        deliverer = WebhookDeliverer(
            kafka_client_config(settings),
            catalogue_of(settings),
            subscriptions,
            store,
            policy=_policy(settings),
            group=group,
            options=GroupOptions(settings.session_timeout_seconds, settings.consumer_fetch_max_wait_ms),
            timeout_seconds=settings.webhook_timeout_seconds,
            membership=membership,
            journal=store.journal,
        )
        state_problem.append(deliverer.state.problem)
        asyncio.run(deliverer.run(stop.is_set))
    print(f"delivered {deliverer.counts.delivered}, dead-lettered {deliverer.counts.dead_lettered}")
    return 0


async def _redeliver(
    settings: Settings, group: str, subscriptions: list[Subscription], args: argparse.Namespace
) -> int:
    import httpx

    from consumers.webhooks import redeliver

    with dead_letters(settings, group, "webhooks-redeliver") as store:
        async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
            report = await redeliver(
                client,
                store,
                {s.id: s for s in subscriptions},
                _policy(settings, args.attempts),
                subscription=args.subscription,
                lead_id=args.lead,
            )
    print(
        f"redelivered {report.delivered}, failed again {report.failed}, held back behind a failure {report.held}, "
        f"subscription no longer configured {report.unknown_subscription}"
    )
    return 0 if report.failed == report.held == report.unknown_subscription == 0 else 1


def _failed(settings: Settings, group: str, args: argparse.Namespace) -> int:
    with dead_letters(settings, group, "webhooks-failed") as store:
        rows = store.failed(subscription=args.subscription, lead_id=args.lead)
    for row in rows:
        print(
            f"{format_cst(row.failed_at)}  {row.subscription}  {row.lead_id}  version {format_cst(row.version)}  "
            f"attempts {row.attempts}  {row.last_error}"
        )
    print(f"{len(rows)} failed deliveries")
    return 0
