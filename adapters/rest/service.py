"""The sources this replica holds, polled at once: one thread, one HTTP client and one intake per source.

Sources are independent: a slow or broken agency delays only its own thread, and
each intake's ``confirm()`` waits only for its own source's records, which is what
its checkpoint needs. Which sources this replica polls is the lease's
(``adapters.leasing``): when the group moves them, every thread finishes its page,
checkpoints it and stops before the sources go elsewhere; the new owner starts from
those checkpoints. This is what ``jiandu rest-pull`` runs, and what a hub that polls
its agencies starts in-process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adapters.leasing import Checkpoints, Lease
from adapters.rest.checkpoint import CheckpointStore, unit_of
from adapters.rest.client import PollStopped
from adapters.rest.config import SourceConfig
from adapters.rest.poller import Intake, PollSummary, SourcePoller

__all__ = ["Closeable", "RestPull", "SourceOpener", "SourceOutcome"]

log = logging.getLogger(__name__)


class Closeable(Protocol):
    """What owns an intake's connections (a :class:`producers.KafkaPublisher`)."""

    def close(self) -> None:
        """Confirm what is pending and release the connections."""


#: Opens what one source's thread works with: what to close after it, the intake, and the checkpoints it writes
#: (through the intake's own publisher: a checkpoint follows the confirmation of its page).
SourceOpener = Callable[[SourceConfig], tuple[Closeable, Intake, Checkpoints]]


@dataclass(slots=True)
class SourceOutcome:
    """How one source's polling went on this replica (every lease of it added up) and, if it failed, why."""

    source: str
    summary: PollSummary = field(default_factory=PollSummary)
    error: str | None = None


class RestPull:
    """Polls the sources the lease gives this replica; ``once``: each stops when its source has caught up."""

    def __init__(self, sources: Sequence[SourceConfig], open_source: SourceOpener, lease: Lease, *, once: bool = False):
        self.sources = list(sources)
        self._open_source = open_source
        self._lease = lease
        self._once = once
        self._ended = threading.Event()  # stopped, or (once) every source held has caught up
        self._work: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()  # the work: changed by the lease's thread, read by the metrics thread
        self.outcomes = {config.source: SourceOutcome(config.source) for config in self.sources}

    def start(self) -> RestPull:
        """Take a share of the sources; the lease starts and stops the pollers as sources come and go."""
        self._lease.start(self._take, self._release)
        return self

    def stop(self) -> None:
        """Stop every poller after its current page (waits in backoff and between polls end at once)."""
        with self._lock:
            for _, stop in self._work.values():
                stop.set()
        self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the pull to end; once it has, give the sources up (to the other replicas) and return True."""
        if not self._ended.wait(timeout):
            return False
        self._lease.close()
        return True

    def held(self) -> list[str]:
        """The sources this replica owns now."""
        return [c.source for c in self.sources if self._lease.holds(unit_of(c.source))]

    def not_polling(self) -> list[str]:
        """The sources held without a running poller thread (caught up with ``once``, or failed)."""
        with self._lock:
            return [s for s in self.held() if not (w := self._work.get(s)) or not w[0].is_alive()]

    @property
    def failed(self) -> list[SourceOutcome]:
        """The sources whose thread ended with an error."""
        return [outcome for outcome in self.outcomes.values() if outcome.error]

    def _take(self) -> None:
        with self._lock:
            for config in self.sources:
                if self._lease.holds(unit_of(config.source)) and not self._ended.is_set():
                    stop = threading.Event()
                    name = f"rest-pull {config.source}"
                    thread = threading.Thread(target=self._serve, args=(config, stop), name=name)
                    self._work[config.source] = (thread, stop)
                    thread.start()
            polling = sorted(self._work)
        log.info("rest-pull: polling %s", ", ".join(polling) or "no source (the other replicas hold them)")
        if self._once and not polling:
            self._ended.set()

    def _release(self) -> None:
        """Stop every poller and wait until each has confirmed and checkpointed its page."""
        with self._lock:
            work, self._work = dict(self._work), {}
        for _, stop in work.values():
            stop.set()
        for thread, _ in work.values():
            thread.join()

    def _caught_up(self) -> None:
        """With ``once``: the pull ends when the last poller has."""
        with self._lock:
            others = [t for t, _ in self._work.values() if t is not threading.current_thread() and t.is_alive()]
        if self._once and not others:
            self._ended.set()

    def _serve(self, config: SourceConfig, stop: threading.Event) -> None:
        try:
            self._poll_source(config, stop)
        finally:
            if not stop.is_set():  # not released to another replica: it ended (caught up, or failed)
                self._caught_up()

    def _poll_source(self, config: SourceConfig, stop: threading.Event) -> None:
        outcome = self.outcomes[config.source]
        try:
            closer, intake, checkpoints = self._open_source(config)
        except Exception as exc:
            outcome.error = f"cannot open the intake: {exc}"
            log.error("rest %s: %s", config.source, outcome.error)
            return
        poller = SourcePoller(config, intake, CheckpointStore(checkpoints), stop=stop, total=outcome.summary)
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
