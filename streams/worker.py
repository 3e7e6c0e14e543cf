"""Entry point of one streams worker process (``jiandu worker``)."""

from __future__ import annotations

import faust

from jiandu.broker import install_faust_shims
from jiandu.models.configuration import build_engine
from jiandu.observability import serve_process_metrics
from jiandu.observability.logs import logging_config
from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue
from streams.app import create_app

__all__ = ["run_worker"]


def run_worker(settings: Settings, *, mode: str, web_port: int | None, route: bool = True) -> None:
    """Run the streams worker until SIGTERM/SIGINT (blocks).

    ``web_port``: where /metrics, /healthz and /readyz are served (None: nowhere, as backtests run it);
    ``route=False``: evaluate only (a backtest's other workers: one router keeps the input order).
    """
    if settings.embedded:
        install_faust_shims(fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms)
    catalogue = TopicCatalogue(settings.topic_prefix, settings.partitions)
    app = create_app(settings, catalogue, build_engine(settings), mode=mode, route=route)
    metrics = None
    if web_port is not None:
        metrics = serve_process_metrics(
            settings,
            "worker",
            topics=[*catalogue.event_topics(), catalogue.facts, catalogue.leads],
            checks=[("assigned", app.jiandu_health.assigned)],  # type: ignore[attr-defined]
            port=web_port,
        )
    worker = faust.Worker(
        app,
        loglevel=settings.log_level.upper(),
        quiet=True,
        redirect_stdouts=False,
        logging_config=logging_config(settings.log_level, settings.log_format, "worker"),
    )
    try:
        worker.execute_from_commandline()
    finally:
        if metrics is not None:
            metrics.stop()
