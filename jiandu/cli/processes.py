"""Child processes the hub starts (streams workers), tracked and stopped by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jiandu.errors import JianduError
from jiandu.settings import Settings

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """A ``jiandu worker`` subprocess with its own log file."""

    def __init__(self, settings: Settings, *, mode: str, log_path: Path, web_port: int | None = None) -> None:
        self.settings = settings
        self.mode = mode
        self.log_path = log_path
        self.web_port = web_port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._process.pid if self._process else None

    def start(self) -> WorkerProcess:
        """Start the worker (it joins the group and starts consuming on its own)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
        env.update(self.settings.to_env())
        args = [sys.executable, "-m", "jiandu.cli", "worker", "--mode", self.mode]
        args += ["--web-port", str(-1 if self.web_port is None else self.web_port)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    def check_alive(self) -> None:
        """Raise with the log tail if the worker died."""
        if self._process is not None and self._process.poll() is not None:
            raise JianduError(
                f"streams worker (pid {self._process.pid}) exited with code {self._process.returncode}; "
                f"first errors:\n{self.log_errors()}\nlast log lines:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        """The end of the worker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_errors(self, count: int = 5) -> str:
        """The first error lines of the worker's log: usually the cause of a crash."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
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
