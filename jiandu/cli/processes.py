"""Child processes the hub starts (streams workers, consumers, the console), tracked and stopped by pid."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from jiandu.errors import JianduError
from jiandu.settings import Settings

__all__ = ["HubProcess", "WorkerProcess"]

_PR_SET_PDEATHSIG = 1


def _end_with_parent() -> None:
    """In the child: receive SIGTERM when the process that started it dies, even by SIGKILL, so that a
    killed ``jiandu run`` or test leaves no orphan behind (Linux ``prctl(PR_SET_PDEATHSIG)``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class HubProcess:
    """A ``jiandu <command>`` subprocess with its own log file and the hub's settings."""

    def __init__(
        self,
        settings: Settings,
        command: Sequence[str],
        *,
        name: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.command = list(command)
        self.name = name
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._process.pid if self._process else None

    def start(self) -> HubProcess:
        """Start it (in its own session, so that a Ctrl-C reaches it only through :meth:`stop`); again after it
        exited (supervision)."""
        if self._process is not None and self._process.poll() is None:
            raise JianduError(f"{self.name} (pid {self._process.pid}) is already running")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
        env.update(self.settings.to_env())
        env.update(self.extra_env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "jiandu.cli", *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_end_with_parent,
            )
        return self

    def exit_code(self) -> int | None:
        """The exit code once the process has ended by itself; None while it runs (or was never started)."""
        return self._process.poll() if self._process is not None else None

    def check_alive(self) -> None:
        """Raise with the log tail if the process died."""
        if self._process is not None and self._process.poll() is not None:
            errors = self.log_errors()
            raise JianduError(
                f"{self.name} (pid {self._process.pid}) exited with code {self._process.returncode}; "
                f"its log is {self.log_path}"
                + (f"\nfirst errors:\n{errors}" if errors else "")
                + f"\nlast log lines:\n{self.log_tail(10)}"
            )

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_errors(self, count: int = 5) -> str:
        """The first error lines of the log, usually the cause of a crash; empty when there are none."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join([line for line in lines if "ERROR" in line or "Error:" in line][:count])

    def kill(self) -> None:
        """SIGKILL, as a crash would (for recovery tests)."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class WorkerProcess(HubProcess):
    """A ``jiandu worker`` subprocess; ``web_port`` serves its /metrics and health (None: none)."""

    def __init__(
        self, settings: Settings, *, mode: str, log_path: Path, web_port: int | None = None, route: bool = True
    ) -> None:
        port = -1 if web_port is None else web_port
        args = ["worker", "--mode", mode, "--web-port", str(port), *([] if route else ["--no-router"])]
        super().__init__(settings, args, name="streams worker", log_path=log_path)
        self.mode = mode
        self.web_port = web_port

    def start(self) -> WorkerProcess:
        """Start the worker (it joins the group and starts consuming on its own)."""
        super().start()
        return self
