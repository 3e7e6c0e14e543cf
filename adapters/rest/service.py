"""Every configured source polled at once: one thread, one HTTP client and one intake per source.

Sources are independent: a slow or broken agency delays only its own thread, and
each intake's ``confirm()`` waits only for its own source's records, which is what
its checkpoint needs. This is what ``jiandu rest-pull`` runs, and what a hub that
polls its agencies starts in-process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adapters.rest.checkpoint import CheckpointStore
from adapters.rest.client import PollStopped
from adapters.rest.config import SourceConfig
from adapters.rest.poller import Intake, PollSummary, SourcePoller

__all__ = ["Closeable", "IntakeFactory", "RestPull", "SourceOutcome"]

log = logging.getLogger(__name__)


class Closeable(Protocol):
    """What owns an intake's connections (a :class:`producers.KafkaPublisher`)."""

    def close(self) -> None:
        """Confirm what is pending and release the connections."""


#: Opens the intake one source submits to, and what must be closed after it.
IntakeFactory = Callable[[SourceConfig], tuple[Closeable, Intake]]


@dataclass(slots=True)
class SourceOutcome:
    """How one source's thread ended (or stands): its counts and, if it failed, why."""

    source: str
    summary: PollSummary = field(default_factory=PollSummary)
    error: str | None = None


class RestPull:
    """Starts a polling thread per source; ``once``: each thread stops when its source has caught up."""

    def __init__(
        self,
        sources: Sequence[SourceConfig],
        store: CheckpointStore,
        open_intake: IntakeFactory,
        *,
        once: bool = False,
    ) -> None:
        self.sources = list(sources)
        self._store = store
        self._open_intake = open_intake
        self._once = once
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.outcomes = {config.source: SourceOutcome(config.source) for config in self.sources}

    def start(self) -> RestPull:
        """Start the threads (non-daemon: a stop lets each finish and checkpoint its current page)."""
        for config in self.sources:
            thread = threading.Thread(target=self._serve, args=(config,), name=f"rest-pull {config.source}")
            thread.start()
            self._threads[config.source] = thread
        return self

    def stop(self) -> None:
        """Ask every thread to stop after its current page (waits in backoff and between polls end at once)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the threads; True when all have ended."""
        for thread in self._threads.values():
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads.values())

    def not_polling(self) -> list[str]:
        """The sources without a running poller thread (not started yet, caught up with ``once``, or failed)."""
        return [c.source for c in self.sources if not (t := self._threads.get(c.source)) or not t.is_alive()]

    @property
    def failed(self) -> list[SourceOutcome]:
        """The sources whose thread ended with an error."""
        return [outcome for outcome in self.outcomes.values() if outcome.error]

    def _serve(self, config: SourceConfig) -> None:
        outcome = self.outcomes[config.source]
        try:
            closer, intake = self._open_intake(config)
        except Exception as exc:
            outcome.error = f"cannot open the intake: {exc}"
            log.error("rest %s: %s", config.source, outcome.error)
            return
        poller = SourcePoller(config, intake, self._store, stop=self._stop)
        outcome.summary = poller.total
        try:
            poller.poll() if self._once else poller.run()
        except PollStopped:
            pass
        except Exception as exc:  # one source's failure must not take the others down; it is reported
            outcome.error = str(exc)
            log.error("rest %s: stopped: %s", config.source, exc)
        finally:
            poller.close()
            closer.close()
