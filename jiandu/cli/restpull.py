"""``jiandu rest-pull``: poll agency REST APIs into the hub; ``jiandu agency-sim``: a simulated agency API.

The pipeline modules are imported inside the commands, as in ``main``, so that
``jiandu --help`` does not load Kafka and httpx. ``rest-pull`` serves /metrics,
/healthz and /readyz (broker, topics, a poller thread alive per source) on the
``rest-pull`` port of ``JIANDU_METRICS_PORTS``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jiandu.cli.arguments import non_negative_float, non_negative_int, port, positive_int
from jiandu.core.records import CATEGORIES
from jiandu.errors import ConfigurationError, InputError
from jiandu.observability import MetricsServer, serve_process_metrics
from jiandu.settings import Settings

if TYPE_CHECKING:
    from adapters.rest import RestPull, SourceConfig
    from producers import KafkaPublisher, RecordIntake
    from producers.leases import LeasedCheckpoints

__all__ = [
    "add_parsers",
    "agency_sim_command",
    "rest_pull_command",
    "run_rest_pull",
    "simulated_agencies",
    "simulated_records",
]

_ADAPTER = "rest-pull"


def add_parsers(sub: Any) -> None:
    """Register ``rest-pull`` and ``agency-sim`` on the main parser's sub-parsers."""
    pull = sub.add_parser("rest-pull", help="poll agency REST APIs into the hub (a checkpoint per source)")
    pull.add_argument("--config", type=Path, default=None, help="YAML or TOML sources file (JIANDU_REST_SOURCES)")
    pull.add_argument("--once", action="store_true", help="stop when every source has caught up")
    sim = sub.add_parser("agency-sim", help="serve a simulated agency records API on 127.0.0.1")
    sim.add_argument("--port", type=port, default=0, help="port on 127.0.0.1 (0: a free port, printed)")
    sim.add_argument("--records", type=Path, default=None, help="JSON-lines records (default: a generated history)")
    sim.add_argument("--source", action="append", help="serve only this source and its units (repeatable)")
    sim.add_argument(
        "--fault", action="append", help="NAME=VALUE: http_500=3, timeout=1, rate_limit=1, retry_after=2, …"
    )
    sim.add_argument("--seed", type=int, default=7, help="generated history: seed")
    sim.add_argument("--persons", type=positive_int, default=200, help="generated history: storylines")
    sim.add_argument("--days", type=positive_int, default=60, help="generated history: days, ending about now")
    sim.add_argument("--initial", type=non_negative_int, default=None, help="records visible at start (default: all)")
    sim.add_argument(
        "--per-second", type=non_negative_float, default=0.0, help="records appearing each second after that"
    )
    sim.add_argument("--latency", type=non_negative_float, default=0.0, help="seconds added to every records request")
    sim.add_argument("--token", default=None, help="require Authorization: Bearer TOKEN")


def rest_pull_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu rest-pull``."""
    return run_rest_pull(settings, args.config, once=args.once)


def run_rest_pull(settings: Settings, config: Path | None, *, once: bool) -> int:
    """Poll the sources of the sources file this replica holds until SIGINT/SIGTERM (``once``: until each has
    caught up). Replicas share the sources (a consumer-group lease), each polled by one of them at a time.

    Exit code 1 when a source failed; its checkpoint holds what was confirmed.
    """
    from adapters.rest import RestPull, load_sources
    from jiandu.cli.hub import adapter_lease, create_topics, leased_checkpoints, new_intake

    path = config or (Path(settings.rest_sources) if settings.rest_sources else None)
    if path is None:
        raise ConfigurationError("no REST sources file: give --config FILE or set JIANDU_REST_SOURCES")
    sources = load_sources(path, require_allowed=settings.mode == "production")
    settings.require_pseudonym_key()
    httpx_log = logging.getLogger("httpx")  # a line per request drowns the poller's own (one per page)
    httpx_log.setLevel(max(logging.WARNING, logging.getLogger().level))
    create_topics(settings)
    lease = adapter_lease(settings, "rest")

    def open_source(_source: SourceConfig) -> tuple[KafkaPublisher, RecordIntake, LeasedCheckpoints]:
        publisher, intake = new_intake(settings, adapter=_ADAPTER)
        return publisher, intake, leased_checkpoints(lease, publisher)

    pull = RestPull(sources, open_source, lease, once=once)
    signal.signal(signal.SIGTERM, lambda *_: pull.stop())
    print(f"rest-pull: {len(sources)} source(s) from {path}; shared with group {lease.group}", flush=True)
    metrics = _serve_metrics(settings, pull)
    try:
        _poll(pull)
    finally:
        if metrics is not None:
            metrics.stop()
    return _report(pull)


def _serve_metrics(settings: Settings, pull: RestPull) -> MetricsServer | None:
    """/metrics, /healthz and /readyz of rest-pull: ready when the broker, its topics and every poller are."""
    from jiandu.cli.hub import catalogue_of

    catalogue = catalogue_of(settings)
    topics = [*catalogue.event_topics(), catalogue.dead_letters]
    metrics = serve_process_metrics(settings, "rest-pull", topics, checks=[("pollers", lambda: _pollers_problem(pull))])
    if metrics is not None:
        print(f"metrics: {metrics.url}/metrics", flush=True)
    return metrics


def _pollers_problem(pull: RestPull) -> str | None:
    stopped = pull.not_polling()
    return f"no poller running for {', '.join(stopped)} (held by this replica)" if stopped else None


def _poll(pull: RestPull) -> None:
    """Run the pollers until they end, SIGTERM (``pull.stop``) or Ctrl-C."""
    pull.start()
    try:
        while not pull.wait(timeout=0.5):
            pass
    except KeyboardInterrupt:
        pull.stop()
        pull.wait()


def _report(pull: RestPull) -> int:
    """Print each source's counts; 1 when a source failed."""
    for outcome in pull.outcomes.values():
        counts = outcome.summary
        status = f"FAILED: {outcome.error}" if outcome.error else "ok"
        print(
            f"  {outcome.source}: {counts.pages} pages, {counts.accepted} accepted, "
            f"{counts.rejected} dead-lettered; {status}"
        )
    return 1 if pull.failed else 0


@contextlib.contextmanager
def simulated_agencies(
    settings: Settings, records: Sequence[dict[str, Any]], *, seconds: float, poll_interval: float = 1.0
) -> Iterator[Any]:
    """Simulated agencies polled into the hub, for a demo that looks live; yields the running :class:`RestPull`.

    One agency per source category (police, court, …) on a free 127.0.0.1 port,
    its records appearing evenly over ``seconds``, and a poller on each, owned by this
    process alone with its checkpoints in memory: a simulated feed is new every run, so
    old cursors would point into another feed. Everything started here is stopped when
    the block ends.
    """
    from adapters.agency_sim import AgencyFeed, AgencySimulator
    from adapters.leasing import SoleOwner
    from adapters.rest import RestPull, SourceConfig
    from jiandu.cli.hub import new_intake

    by_category: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_category.setdefault(str(record.get("source", "unknown")).split(":")[0], []).append(record)
    simulators: list[AgencySimulator] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        sources = []
        for category, group in sorted(by_category.items()):
            feed = AgencyFeed(group, initial=0, per_second=len(group) / max(seconds, 0.001))
            simulators.append(AgencySimulator(feed).start())
            url = simulators[-1].url
            sources.append(
                SourceConfig(
                    source=f"sim:{category}",
                    base_url=url,
                    allowed_sources=_simulated_allowed(category),
                    poll_interval_seconds=poll_interval,
                )
            )
        owner = SoleOwner()  # checkpoints in memory: a simulated feed is new every run, old cursors would mislead

        def open_source(_source: SourceConfig) -> tuple[KafkaPublisher, RecordIntake, SoleOwner]:
            return (*new_intake(settings, adapter=_ADAPTER), owner)

        pull = RestPull(sources, open_source, owner).start()
        try:
            yield pull
        finally:
            pull.stop()
            pull.wait()
    finally:
        for simulator in simulators:
            simulator.stop()


def _simulated_allowed(category: str) -> tuple[str, ...]:
    """A simulated agency speaks for its category; a group of malformed sources for any (validation rejects them)."""
    return (category,) if category in CATEGORIES else CATEGORIES


def simulated_records(*, seed: int, persons: int, days: int, sources: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The JSON-object records of a generated history ending about now, of the matching sources."""
    from adapters.agency_sim import source_matches
    from jiandu.simulate import generate_history

    start = datetime.now(UTC) - timedelta(days=days + 20)
    history = generate_history(seed=seed, persons=persons, start=start, days=days)
    return [r for r in history.records if isinstance(r, dict) and source_matches(r.get("source"), sources)]


def agency_sim_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``jiandu agency-sim``: serve one simulated agency on 127.0.0.1 until SIGINT/SIGTERM."""
    from adapters.agency_sim import AgencyFeed, AgencySimulator, FaultPlan, load_records, parse_fault_options

    try:
        plan = FaultPlan(**parse_fault_options(args.fault or []))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    sources = args.source or []
    skipped = 0
    if args.records is None:
        try:
            records = simulated_records(seed=args.seed, persons=args.persons, days=args.days, sources=sources)
        except ValueError as exc:  # the generator's argument checks: --persons, --days
            raise ConfigurationError(
                f"cannot generate the simulated history: {exc}; change --persons or --days"
            ) from None
    else:
        try:
            records, skipped = load_records(args.records, sources)
        except OSError as exc:
            raise InputError(f"cannot read {args.records}: {exc.strerror or exc}") from exc
    feed = AgencyFeed(records, initial=args.initial, per_second=args.per_second)
    simulator = AgencySimulator(feed, port=args.port, faults=plan, latency=args.latency, token=args.token)
    try:
        simulator.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(f"port {args.port} on 127.0.0.1 is taken; choose another --port") from exc
        raise
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    more = f", {args.per_second:g} more each second" if args.per_second else ""
    print(
        f"agency simulator on {simulator.url}/api/v1/records: {feed.visible()} of {feed.total} records visible{more}"
        f" ({skipped} input lines skipped); faults {plan.as_dict()}; Ctrl-C stops it",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0
