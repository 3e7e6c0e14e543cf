"""A real PostgreSQL server for the tests (archive, console replicas): system binaries, stopped by pid.

``initdb`` into a fresh directory under /tmp, ``postgres`` on a free loopback port with its socket in
that directory. As root the server runs as the ``postgres`` user (or ``nobody``): PostgreSQL refuses
to run as root. Absent binaries skip the PostgreSQL half of the tests, except in CI (``CI`` set),
where ``scripts/install-system-packages.sh`` must have installed them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from jiandu.broker import find_free_port

__all__ = ["PostgresServer", "postgres_server"]


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


class PostgresServer:
    """One throwaway PostgreSQL cluster on 127.0.0.1; ``database()`` makes a fresh database per test."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = find_free_port()
        self.root = Path(tempfile.mkdtemp(prefix="jiandu-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = _unprivileged_user()
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def start(self, timeout: float = 30.0) -> None:
        """initdb, start the server, wait until it accepts connections."""
        data, log = self.root / "data", self.root / "postgres.log"
        args = ["-D", str(data), "-U", "jiandu", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"]
        subprocess.run([self.bin_dir / "initdb", *args], check=True, capture_output=True, timeout=60, **self._as)
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"]
        cmd = [self.bin_dir / "postgres", "-D", str(data), "-k", str(self.root), "-p", str(self.port), *options]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **self._as)
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"PostgreSQL did not start: {log.read_text(errors='replace')[-2000:]}") from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        """A connection URL to ``database``."""
        return f"postgresql://jiandu@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """Create a fresh database; its URL."""
        name = f"t{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the server this object started, by its pid; SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run PostgreSQL as")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (per test module that imports this fixture)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL server binaries not found: run scripts/install-system-packages.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
