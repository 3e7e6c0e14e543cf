"""Serving the console with uvicorn on 127.0.0.1, in a background thread that can be stopped.

The same pattern as the gateway's server (adapters/gateway/server.py), kept apart because the
consumers do not import the adapters: loopback only (a TLS-terminating proxy goes in front),
port 0 picks a free port (tests), the bound port is :attr:`ConsoleServer.port`.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from jiandu.errors import ConfigurationError

__all__ = ["HOST", "ConsoleServer"]

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0


class ConsoleServer:
    """uvicorn serving the console app on ``127.0.0.1:port`` from a daemon thread."""

    def __init__(self, app: Starlette, port: int, *, host: str = HOST, log_level: str = "warning") -> None:
        """``host``: the address to listen on (JIANDU_LISTEN_HOST; 127.0.0.1 unless in a container)."""
        self.host = host
        self._socket = _bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        # log_config=None: uvicorn's lines go through the process's logging (its file, masking), not to stderr
        config = uvicorn.Config(
            app, log_config=None, log_level=log_level, access_log=False, lifespan="off", server_header=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"console-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8490``."""
        return f"http://{HOST if self.host in ('0.0.0.0', '::') else self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server thread runs."""
        return self._thread.is_alive()

    def start(self) -> ConsoleServer:
        """Serve in the background; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"the console did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish in-flight requests and stop listening."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"the console cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "set JIANDU_CONSOLE_PORT to a free port (or stop what holds it)"
        ) from exc
    sock.set_inheritable(True)
    return sock
