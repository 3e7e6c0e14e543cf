"""Entry point of one streams worker process (``jiandu worker``)."""

from __future__ import annotations

import faust

from jiandu.broker import install_faust_shims
from jiandu.models.configuration import build_engine
from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue
from streams.app import create_app

__all__ = ["run_worker"]


def run_worker(settings: Settings, *, mode: str, web_port: int | None) -> None:
    """Run the streams worker until SIGTERM/SIGINT (blocks)."""
    if settings.embedded:
        install_faust_shims(fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms)
    catalogue = TopicCatalogue(settings.topic_prefix, settings.partitions)
    app = create_app(settings, catalogue, build_engine(settings), mode=mode, web_port=web_port)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
