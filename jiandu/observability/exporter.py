"""``/metrics``, ``/healthz`` and ``/readyz`` of one process, served from a thread on 127.0.0.1.

``/healthz`` answers 200 while the process can answer at all (liveness: restart it
when it does not). ``/readyz`` runs the process's readiness checks (broker reachable,
topics present, partitions assigned, …) and answers 200 when all pass, else 503 with
the failing checks, so a load balancer or an orchestrator holds traffic back.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Info, generate_latest

from jiandu.errors import ConfigurationError

__all__ = ["BUILD", "MetricsServer", "Readiness", "start_metrics_server"]

log = logging.getLogger("jiandu.observability")

BUILD = Info("jiandu_build", "The hub's version and the process (command) exporting.")

#: A readiness check: ``None`` when ready, else why not (shown on /readyz).
Check = Callable[[], str | None]


class Readiness:
    """Named readiness checks of a process; each result is cached briefly (probes are frequent)."""

    def __init__(self, cache_seconds: float = 2.0) -> None:
        self._checks: dict[str, Check] = {}
        self._closers: list[Callable[[], None]] = []
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> Readiness:
        """Add a check (returns self, to chain)."""
        self._checks[name] = check
        return self

    def on_close(self, close: Callable[[], None]) -> Readiness:
        """Something to release when the endpoint stops (a probe's client)."""
        self._closers.append(close)
        return self

    def close(self) -> None:
        """Release what the checks hold."""
        for close in self._closers:
            close()

    def report(self) -> dict[str, str]:
        """Every check's result: ``ok`` or the reason it failed."""
        return {name: self._run(name, check) or "ok" for name, check in self._checks.items()}

    def _run(self, name: str, check: Check) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached and now - cached[0] < self._cache_seconds:
                return cached[1]
        try:
            result = check()
        except Exception as exc:  # a probe's failure is an answer, not a crash of the endpoint
            result = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._cache[name] = (now, result)
        return result


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        elif path == "/healthz":
            self._json(200, {"status": "live", "process": self.server.process})
        elif path == "/readyz":
            checks = self.server.readiness.report()
            ready = all(v == "ok" for v in checks.values())
            self._json(200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks})
        else:
            self._json(404, {"error": "not found: try /metrics, /healthz or /readyz"})

    def _json(self, status: int, body: object) -> None:
        self._send(status, "application/json", json.dumps(body, ensure_ascii=False).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: not worth a line
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, process: str, readiness: Readiness) -> None:
        self.process = process
        self.readiness = readiness
        super().__init__((host, port), _Handler)


class MetricsServer:
    """The running endpoint; :meth:`stop` shuts it down."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound port (useful when 0 asked for a free one)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9463``."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving, close the socket and the probes' clients."""
        self._server.shutdown()
        self._server.server_close()
        self._server.readiness.close()


def start_metrics_server(
    process: str, port: int, readiness: Readiness | None = None, *, host: str = "127.0.0.1"
) -> MetricsServer:
    """Serve the process's metrics and health on ``host:port`` (0: a free port) from a thread."""
    from jiandu import __version__

    BUILD.info({"version": __version__, "process": process})
    try:
        server = _Server(host, port, process, readiness or Readiness())
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"metrics port {port} of {process} on {host} is taken; set JIANDU_METRICS_PORTS={process}=PORT "
                f"(or {process}=0 for a free port)"
            ) from exc
        raise
    running = MetricsServer(server)
    log.info("%s: metrics on %s/metrics, health on /healthz and /readyz", process, running.url)
    return running
