"""Readiness probes every process shares: the broker answers, and the topics it needs exist."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

from jiandu.broker import unreachable
from jiandu.observability.exporter import MetricsServer, Readiness, start_metrics_server
from jiandu.settings import Settings, kafka_client_config

__all__ = ["BrokerProbe", "broker_readiness", "serve_process_metrics"]


class BrokerProbe:
    """One metadata request per check, over a kafka-python client kept between checks."""

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self._config = kafka_client_config(settings)
        self._topics = sorted(set(topics))
        self._client: Any = None
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def broker(self) -> str | None:
        """None when the broker answered a metadata request; else why not.

        A broker that refuses connections is reported at once: a client kept between checks can
        answer from metadata it cached before the broker went away.
        """
        refused = unreachable(",".join(self._config["bootstrap_servers"]))  # type: ignore[arg-type]
        if refused is not None:
            with self._lock:
                self._close()
            return refused
        with self._lock:
            try:
                from jiandu.broker import KafkaConsumer

                if self._client is None:
                    self._client = KafkaConsumer(request_timeout_ms=5000, bootstrap_timeout_ms=3000, **self._config)
                self._known = set(self._client.topics())
            except Exception as exc:
                self._close()
                return f"broker {','.join(self._config['bootstrap_servers'])} unreachable: {type(exc).__name__}"  # type: ignore[arg-type]
        return None

    def topics(self) -> str | None:
        """None when every topic the process needs exists (after :meth:`broker` succeeded)."""
        missing = [t for t in self._topics if t not in self._known]
        if not missing:
            return None
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        return f"missing topics: {shown} (run `jiandu topics`)"

    def close(self) -> None:
        """Close the client (the endpoint is stopping)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # already broken
                client.close()


def broker_readiness(readiness: Readiness, settings: Settings, topics: Iterable[str]) -> Readiness:
    """Add the ``broker`` and ``topics`` checks (topics on a fresh answer of the broker)."""
    probe = BrokerProbe(settings, topics)
    readiness.add("broker", probe.broker).add("topics", lambda: probe.broker() or probe.topics())
    return readiness.on_close(probe.close)


def serve_process_metrics(
    settings: Settings,
    process: str,
    topics: Iterable[str],
    checks: Iterable[tuple[str, Callable[[], str | None]]] = (),
    *,
    port: int | None = None,
) -> MetricsServer | None:
    """Start ``process``'s /metrics, /healthz and /readyz on ``port`` or its port from ``JIANDU_METRICS_PORTS``.

    Ready means: the broker answers, ``topics`` exist, and every one of ``checks`` passes.
    None when the process's port is -1 (no endpoint).
    """
    port = settings.metrics_port(process) if port is None else port
    if port is None or port < 0:
        return None
    readiness = broker_readiness(Readiness(), settings, topics)
    for name, check in checks:
        readiness.add(name, check)
    return start_metrics_server(process, port, readiness, host=settings.listen_host)
