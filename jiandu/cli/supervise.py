"""Supervision of the hub's processes under ``jiandu run``: a crashed child is started again, with backoff.

One line per event (a crash, a restart), never a flood: a child that keeps crashing
waits 1, 2, 4 … up to 30 s between starts, and its backoff is forgiven once it has
run for a minute.

The embedded broker is special: a restarted Tansu is an empty cluster, so it is
started on the same port with the journal replayed into it before anything else
(``EmbeddedBroker.start``), then every child that talks to Kafka is restarted: the
streams worker's changelog and every consumer group's offsets went with the old
broker, so each must rebuild from the replayed events (consumers ignore the lead
versions that rebuilding re-emits, ``consumers.lead_versions``). Clients in the
``run`` process itself (the adapters' publishers) reconnect on their own.

:meth:`Supervisor.check` must be called from the thread that started the broker
(the main thread): Tansu is started with ``PR_SET_PDEATHSIG``, which ties it to
the thread that forked it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from jiandu.broker import EmbeddedBroker
from jiandu.cli.processes import HubProcess
from jiandu.errors import BrokerError

__all__ = ["Supervisor"]

_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 30.0
_STABLE_SECONDS = 60.0  # a child that ran this long starts again with the first backoff


@dataclass
class _Backoff:
    """When something may be started next, and how long the wait after its next crash is."""

    wait: float = _FIRST_BACKOFF
    started_at: float = field(default_factory=time.monotonic)
    restart_at: float | None = None

    def crashed(self, now: float) -> float:
        """Schedule the restart; returns the wait."""
        if now - self.started_at >= _STABLE_SECONDS:
            self.wait = _FIRST_BACKOFF
        wait, self.wait = self.wait, min(self.wait * 2, _MAX_BACKOFF)
        self.restart_at = now + wait
        return wait

    def due(self, now: float) -> bool:
        return self.restart_at is not None and now >= self.restart_at

    def restarted(self, now: float) -> None:
        self.restart_at, self.started_at = None, now


class Supervisor:
    """Watches the embedded broker (if any) and the child processes; :meth:`check` restarts what died."""

    def __init__(
        self,
        children: Sequence[HubProcess],
        broker: EmbeddedBroker | None = None,
        *,
        report: Callable[[str], None] = print,
        on_fresh_broker: Callable[[], None] | None = None,
    ) -> None:
        """``on_fresh_broker``: run between stopping the clients and starting them again after a broker
        restart (the streams workers' local stores hold offsets of the old broker's changelog: clear them)."""
        self.children = list(children)
        self.broker = broker
        self._on_fresh_broker = on_fresh_broker
        self.restarts = 0
        self._report = report
        self._backoff = {id(child): _Backoff() for child in self.children}
        self._broker_backoff = _Backoff()

    def check(self) -> None:
        """Look at every process once; restart those whose backoff has passed. Never blocks for long."""
        now = time.monotonic()
        if self.broker is not None and not self._check_broker(now):
            return  # clients wait for the broker
        for child in self.children:
            self._check_child(child, now)

    def _check_child(self, child: HubProcess, now: float) -> None:
        backoff = self._backoff[id(child)]
        if backoff.restart_at is None:
            code = child.exit_code()
            if code is None:
                return
            wait = backoff.crashed(now)
            self._report(f"supervisor: {child.name} (pid {child.pid}) exited with code {code}; restart in {wait:.0f} s")
        if backoff.due(now):
            child.start()
            backoff.restarted(now)
            self.restarts += 1
            self._report(f"supervisor: {child.name} restarted (pid {child.pid}), log {child.log_path}")

    def _check_broker(self, now: float) -> bool:
        """True while the broker runs; restarts it (and the clients) when its backoff has passed."""
        broker, backoff = self.broker, self._broker_backoff
        assert broker is not None
        if broker.running:
            return True
        if backoff.restart_at is None:
            code = broker.exit_code()
            wait = backoff.crashed(now)
            self._report(
                f"supervisor: the embedded broker (pid {broker.pid}) exited with code {code}; "
                f"restart on the same data dir in {wait:.0f} s"
            )
        if not backoff.due(now):
            return False
        broker.stop()  # reaps the old process
        try:
            broker.start(timeout=120)
        except BrokerError as exc:
            wait = backoff.crashed(time.monotonic())
            self._report(f"supervisor: the embedded broker did not start ({exc}); next try in {wait:.0f} s")
            return False
        backoff.restarted(time.monotonic())
        self.restarts += 1
        replayed = f"; journal: {broker.replayed}" if broker.replayed is not None else ""
        self._report(f"supervisor: embedded broker restarted (pid {broker.pid}){replayed}")
        self._restart_clients()
        return True

    def _restart_clients(self) -> None:
        for child in self.children:
            child.stop()
        if self._on_fresh_broker is not None:
            self._on_fresh_broker()
        for child in self.children:
            child.start()
            self._backoff[id(child)].restarted(time.monotonic())
        names = ", ".join(f"{c.name} (pid {c.pid})" for c in self.children)
        self._report(f"supervisor: restarted against the new broker: {names}")
