"""Entry point of one streams worker process (``jiandu worker``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
from pathlib import Path

import faust

from jiandu.broker import high_watermarks, install_faust_shims
from jiandu.models.configuration import build_engine
from jiandu.observability import serve_process_metrics
from jiandu.observability.logs import logging_config
from jiandu.settings import Settings, kafka_client_config
from jiandu.topics import TopicCatalogue
from streams.app import create_app
from streams.memory import release_free_heap
from streams.state_store import partition_stores, persisted_changelog_offset, state_dir

__all__ = ["discard_stale_stores", "run_worker", "tune_gc"]

log = logging.getLogger("jiandu.streams")
#: Allocations between young collections (CPython's default: 700). The worker allocates short-lived
#: objects by the million (decoded facts, outcomes, lead versions), freed by reference counting; at 700
#: the collector ran ≈ 500 young and ≈ 45 middle collections in a 30 k record run, and every tenth of
#: those considered a full one.
_GC_YOUNG = 50_000

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
    tune_gc()
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


def tune_gc() -> None:
    """Keep the garbage collector's pauses out of the lead latency.

    A full collection scans every tracked object: after start-up that is ≈ 1 M objects of
    Faust, aiokafka and the models (a full collection of an idle worker took ≈ 250 ms on
    the loaded development machine, 3 of them while it started), and later the cached
    entity states too. Freezing what start-up built moves it out of every later collection
    (it is never garbage: modules, classes, the compiled models); fewer young collections
    make the full ones, which follow every tenth middle one, as rare.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG, middle, old)


def discard_stale_stores(settings: Settings, catalogue: TopicCatalogue) -> list[Path]:
    """Delete this host's partition stores that claim changelog records the broker does not have;
    the stores deleted.

    A store applies changelog records only once the broker confirmed them, so a store whose last
    applied offset is at or past its changelog partition's end belongs to another broker: the
    embedded one restarted (and its journal replayed into it), or a cluster whose topics were
    recreated. Its offsets mean nothing there; that partition's state is rebuilt from the changelog
    and the events instead. Every other store stays: workers of one host share the directory, and
    a store another worker is filling is consistent with the broker (deleting it under that worker
    lost its data, and deadlines with it).
    """
    stores = partition_stores(state_dir(settings, catalogue))
    if not stores:
        return []
    config = kafka_client_config(settings, with_bootstrap=False)
    try:
        ends = high_watermarks(settings.bootstrap, [catalogue.state_changelog], config)
    except Exception as exc:  # cannot tell: keep the stores (a restart against the same broker needs them)
        log.warning("could not read the state changelog's end (%r): keeping the local stores", exc)
        return []
    stale = [
        store
        for partition, store in stores
        if _claims_more_than(store, ends.get((catalogue.state_changelog, partition), 0))
    ]
    for store in stale:
        log.warning("%s holds changelog records the broker does not have (a fresh broker): rebuilding its state", store)
        shutil.rmtree(store, ignore_errors=True)
    return stale


def _claims_more_than(store: Path, changelog_end: int) -> bool:
    try:
        applied = persisted_changelog_offset(store)
    except Exception as exc:  # unreadable (being created, or damaged): Faust opens or rebuilds it
        log.warning("could not read %s (%r): keeping it", store, exc)
        return False
    return applied is not None and applied >= changelog_end
