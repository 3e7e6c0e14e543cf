"""The ports ``jiandu run`` listens on, checked before it starts anything.

A taken port found only when the process that needs it starts leaves half a hub
behind: the console's address and password printed, then a child's crash report.
Every port is checked up front instead, and the first taken one is named in one line
with the variable that moves it.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from jiandu.errors import ConfigurationError
from jiandu.settings import Settings

__all__ = ["Listener", "hub_listeners", "require_free"]

_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Listener:
    """A port the hub will bind on 127.0.0.1, what binds it and the setting that moves it."""

    port: int
    what: str
    setting: str


def hub_listeners(settings: Settings) -> list[Listener]:
    """Every fixed port ``jiandu run`` binds with these settings (0: a free port, not listed)."""
    wanted = [
        Listener(settings.worker_web_port, "streams worker metrics", "JIANDU_WORKER_WEB_PORT"),
        Listener(settings.gateway_port, "push API", "JIANDU_GATEWAY_PORT"),
        Listener(settings.console_port, "console", "JIANDU_CONSOLE_PORT"),
    ]
    if settings.embedded:
        wanted.insert(0, Listener(settings.broker_port, "embedded broker", "JIANDU_BROKER_PORT"))
    processes = ["run", "alerts", "archive", "console"] + (["webhooks"] if settings.webhook_subscriptions else [])
    for process in processes:
        port = settings.metrics_port(process)
        if port is not None:
            wanted.append(Listener(port, f"{process} metrics", f"JIANDU_METRICS_PORTS={process}=PORT"))
    return [listener for listener in wanted if listener.port > 0]


def require_free(listeners: list[Listener]) -> None:
    """Raise :class:`ConfigurationError` naming the first port that is taken or wanted twice."""
    seen: dict[int, Listener] = {}
    for listener in listeners:
        if listener.port in seen:
            first = seen[listener.port]
            raise ConfigurationError(
                f"port {listener.port} is set for both the {first.what} ({first.setting}) and the "
                f"{listener.what} ({listener.setting}); give one of them another port"
            )
        seen[listener.port] = listener
        if not _free(listener.port):
            raise ConfigurationError(
                f"port {listener.port} on {_HOST} ({listener.what}) is taken by another process; "
                f"stop it or set {listener.setting} to a free port"
            )


def _free(port: int) -> bool:
    """True when nothing listens on the port (SO_REUSEADDR: a closed socket lingering in TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise ConfigurationError(f"cannot bind {_HOST}:{port} to check it is free: {exc}") from exc
    return True
