"""Entry point of one streams worker process (``jiandu worker``)."""

from __future__ import annotations

import asyncio
import logging
import shutil

import faust

from jiandu.broker import high_watermarks, install_faust_shims
from jiandu.models.configuration import build_engine
from jiandu.observability import serve_process_metrics
from jiandu.observability.logs import logging_config
from jiandu.settings import Settings, kafka_client_config
from jiandu.topics import TopicCatalogue
from streams.app import create_app
from streams.memory import release_free_heap
from streams.state_store import state_dir

__all__ = ["discard_stale_stores", "run_worker"]

log = logging.getLogger("jiandu.streams")

#: How often freed heap memory is handed back to the system (``streams.memory``).
_RELEASE_HEAP_SECONDS = 15.0


def run_worker(settings: Settings, *, mode: str, web_port: int | None, route: bool = True) -> None:
    """Run the streams worker until SIGTERM/SIGINT (blocks).

    ``web_port``: where /metrics, /healthz and /readyz are served (None: nowhere, as backtests run it);
    ``route=False``: evaluate only (a backtest's other workers: one router keeps the input order).
    """
    if settings.embedded:
        install_faust_shims(fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms)
    catalogue = TopicCatalogue(settings.topic_prefix, settings.partitions)
    discard_stale_stores(settings, catalogue)
    app = create_app(settings, catalogue, build_engine(settings), mode=mode, route=route)
    app.timer(_RELEASE_HEAP_SECONDS)(_release_free_heap)
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


async def _release_free_heap() -> None:
    # in a thread: it takes ≈ 0.1 s per 50 MB freed, which the event loop need not wait for
    await asyncio.to_thread(release_free_heap)


def discard_stale_stores(settings: Settings, catalogue: TopicCatalogue) -> bool:
    """Delete this host's state stores when the broker's changelog of them is empty; True if it did.

    A store is written only after its changelog records are confirmed, so a store with an empty
    changelog belongs to another broker: the embedded one restarted (and its journal replayed into
    it), or a cluster whose topics were recreated. Its offsets mean nothing there; the worker
    rebuilds its state from the events instead of failing on them.
    """
    directory = state_dir(settings, catalogue)
    if not directory.is_dir() or not any(directory.iterdir()):
        return False
    config = kafka_client_config(settings, with_bootstrap=False)
    try:
        ends = high_watermarks(settings.bootstrap, [catalogue.state_changelog], config)
    except Exception as exc:  # cannot tell: keep the stores (a restart against the same broker needs them)
        log.warning("could not read the state changelog's end (%r): keeping the local stores", exc)
        return False
    if sum(ends.values()):
        return False
    log.warning("the state changelog is empty but %s holds stores: a fresh broker; rebuilding the state", directory)
    shutil.rmtree(directory, ignore_errors=True)
    return True
