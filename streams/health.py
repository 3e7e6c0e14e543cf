"""The worker's gauges and readiness, refreshed on its event loop by a timer.

The exporter thread only reads what :meth:`WorkerHealth.refresh` last set (the
prometheus gauges and two attributes), so nothing the loop is changing is read
from another thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from jiandu.broker import high_watermarks
from jiandu.core.timeutil import utc_now_ms
from jiandu.settings import Settings, kafka_client_config
from jiandu.topics import TopicCatalogue
from streams.routing import LIVE, StreamsWorker
from streams.state_store import store_size

__all__ = ["WorkerHealth"]

#: A pending deadline counts as overdue once the live clock should have passed it by this much.
_OVERDUE_MARGIN_MS = 60_000
log = logging.getLogger("jiandu.streams")


class WorkerHealth:
    """Refreshes the worker's gauges; answers the ``assigned`` readiness check."""

    def __init__(self, settings: Settings, catalogue: TopicCatalogue, mode: str) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.mode = mode
        self.not_assigned: str | None = "starting: no partitions assigned yet"

    def assigned(self) -> str | None:
        """Readiness: None once the worker routes and evaluates partitions, else why not."""
        return self.not_assigned

    async def refresh(self, app: Any, worker: StreamsWorker, table: Any) -> None:
        """Lag, clocks, deadlines, state size and dead letters into the gauges; the readiness."""
        router = app.jiandu_router
        lags = await router.lags() if router is not None else {}
        lags.update(self._evaluator_lags(app, worker))
        worker.metrics.refresh(
            worker.clocks,
            lags,
            self._overdue_before(),
            _state_size(table),
            await self._dead_letters(),
        )
        self.not_assigned = self._not_assigned(app, router)

    async def _dead_letters(self) -> int | None:
        """Messages on the dead-letter topic: the sum of its high watermarks (read from Fetch responses:
        ListOffsets is wrong on the embedded broker), from a thread; None when the broker does not answer."""
        config = kafka_client_config(self.settings, with_bootstrap=False)
        topics = [self.catalogue.dead_letters]
        try:
            ends = await asyncio.to_thread(high_watermarks, self.settings.bootstrap, topics, config)
        except Exception as exc:  # the gauge keeps its last value
            log.debug("dead-letter size: %r", exc)
            return None
        return sum(ends.values())

    def _evaluator_lags(self, app: Any, worker: StreamsWorker) -> dict[tuple[str, str, int], int]:
        lags: dict[tuple[str, str, int], int] = {}
        for tp in app.consumer.assignment():
            if tp.topic != self.catalogue.facts or not worker.clocks.ready(tp.partition):
                continue
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                lags[("evaluator", tp.topic, tp.partition)] = max(0, highwater - worker.applied.get(tp.partition, 0))
        return lags

    def _overdue_before(self) -> int:
        """Live: wall clock minus grace, ticks and a margin; backtest: none is overdue (0)."""
        if self.mode != LIVE:
            return 0
        tick_ms = int(self.settings.live_tick_seconds * 1000)
        return utc_now_ms() - self.settings.clock_grace_seconds * 1000 - 3 * tick_ms - _OVERDUE_MARGIN_MS

    def _not_assigned(self, app: Any, router: Any) -> str | None:
        if app.rebalancing:
            return "rebalancing"
        facts = [tp for tp in app.consumer.assignment() if tp.topic == self.catalogue.facts]
        if not facts:
            return "no facts partition assigned (more workers than partitions, or still joining)"
        if router is not None and not router.assigned():
            return "no event partition assigned to the router"
        return None


def _state_size(table: Any) -> tuple[int, int]:
    """(keys, bytes) of the on-disk state store, as RocksDB estimates them."""
    return store_size(table.data)
