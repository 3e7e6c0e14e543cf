"""`jiandu run`: a newcomer sees leads printed and in the console within a minute, every process
answers /metrics, /healthz and /readyz, and everything stops cleanly. The terminal shows the
addresses, the lead lines and short summaries; the log lines go to files."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jiandu.broker import find_free_port
from tests.browser import browser_or_skip, open_browser

pytestmark = [pytest.mark.timeout(200)]

DURATION = 75
_CONSOLE = re.compile(r"console: (http://127\.0\.0\.1:\d+)/ \(sign in as admin, password (\S+);")


class _Output(threading.Thread):
    """Collects a process's stdout lines as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.lines: list[str] = []

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := pattern.search(line):
                    return found
            assert self.process.poll() is None, "\n".join(self.lines[-40:])
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern.pattern}:\n" + "\n".join(self.lines[-40:]))


def test_run_shows_leads_in_the_console_within_a_minute_and_stops_what_it_started(tmp_path: Path) -> None:
    ports = {name: find_free_port() for name in ("broker", "worker", "gateway", "console")}
    metrics = {name: find_free_port() for name in ("run", "alerts", "archive", "console")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(
        JIANDU_BROKER_PORT=str(ports["broker"]),
        JIANDU_WORKER_WEB_PORT=str(ports["worker"]),
        JIANDU_GATEWAY_PORT=str(ports["gateway"]),
        JIANDU_CONSOLE_PORT=str(ports["console"]),
        JIANDU_METRICS_PORTS=",".join(f"{name}={port}" for name, port in metrics.items()),
        JIANDU_DATA_DIR=str(tmp_path / "data"),
        JIANDU_LIVE_TICK_SECONDS="1",
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "jiandu.cli", "run", "--duration", str(DURATION)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # what a terminal shows: both
        text=True,
    )
    output = _Output(process)
    output.start()
    try:
        console = output.wait_for(_CONSOLE, timeout=30)
        leads_seen = _leads_in_console(console[1], console[2], tmp_path)
        assert leads_seen - started < 60, f"leads reached the console {leads_seen - started:.0f} s after the start"
        for port in [ports["worker"], *metrics.values()]:
            _assert_healthy(port)
        # the worker alone measures the dead-letter topic; the adapters' process must not export a false 0
        assert "jiandu_dead_letter_messages " in httpx.get(f"http://127.0.0.1:{ports['worker']}/metrics").text
        assert "jiandu_dead_letter_messages" not in httpx.get(f"http://127.0.0.1:{metrics['run']}/metrics").text
        process.wait(timeout=DURATION + 60)
    finally:
        _stop(process)
    output.join(timeout=10)
    assert process.returncode == 0, "\n".join(output.lines[-40:])
    _assert_leads_printed("\n".join(output.lines))
    _assert_quiet_terminal(output.lines, tmp_path / "data")
    for port in [*ports.values(), *metrics.values()]:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after jiandu run ended"


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM first: `jiandu run` then stops the processes it started (a SIGKILL would orphan them)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _leads_in_console(url: str, password: str, tmp_path: Path) -> float:
    """Sign in as the development administrator; when the lead list first shows leads, open one."""
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        context = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{url}/login")
            page.fill("#username", "admin")
            page.fill("#password", password)
            page.click("#sign-in")
            page.wait_for_url(f"{url}/leads")
            page.locator("#lead-rows tr[data-lead]").first.wait_for(timeout=60_000)  # the list refreshes itself
            seen = time.monotonic()
            assert int(page.inner_text("#total")) > 0
            page.locator("#lead-rows tr[data-lead] a").first.click()
            page.locator("#timeline li").first.wait_for()
            page.screenshot(path=str(tmp_path / "run-console-lead.png"), full_page=True)
            _reveal_a_person(page, url)
        finally:
            context.close()
    return seen


def _reveal_a_person(page: Any, url: str) -> None:
    """The development administrator may reveal: the adapters sealed the numbers with the run's key pair."""
    page.goto(f"{url}/leads")
    links = [a.get_attribute("href") for a in page.locator("#lead-rows tr[data-lead] a").all()[:20]]
    for href in links:
        page.goto(f"{url}{href}")
        if page.locator("#reveal-form").count():
            page.fill("#reveal-purpose", "开发环境核对身份")
            page.click("#reveal")
            page.locator("#revealed-id").wait_for()
            assert re.fullmatch(r"\d{17}[\dX]", page.inner_text("#revealed-id"))
            return
    raise AssertionError("no lead about a person among the first 20")


def _assert_healthy(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    deadline = time.monotonic() + 20
    while (ready := httpx.get(f"{base}/readyz", timeout=10)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ready.status_code == 200, (port, ready.text)
    assert "jiandu_build_info" in httpx.get(f"{base}/metrics", timeout=10).text


def _assert_leads_printed(stdout: str) -> None:
    lead_line = re.compile(r"^\[M\d\d (HIGH|MEDIUM|LOW) (OPEN|RESOLVED)\]", re.MULTILINE)
    leads = [m.group(0) for m in lead_line.finditer(stdout)]
    assert any("OPEN" in line for line in leads), stdout[-2000:]
    assert len({line[1:4] for line in leads}) >= 8, "leads of many models"
    assert "社区矫正" in stdout and "刑事拘留" in stdout
    # data arrived the three ways: REST pull, the push API and the file drop
    # the sample puts rejected records on every way in, whatever the date (tests/unit/test_simulate.py)
    pushed = r"push API: [1-9]\d* accepted, \d+ duplicates? \(already sent\), [1-9]\d* rejected"
    assert re.search(pushed, stdout), stdout[-2000:]
    assert re.search(r"file drop: 10 files, [1-9]\d* accepted, 13 dead-lettered", stdout), stdout[-2000:]
    assert re.search(r"REST pull: [1-9]\d* records", stdout)


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) |^(INFO|WARNING):|^\{\"ts\"")
_SUMMARY = re.compile(
    r"^\[\d+:\d\d\] records: [1-9]\d* accepted, [1-9]\d* dead-lettered, \d+ duplicates ignored · "
    r"leads: [1-9]\d* versions \(\d+ OPEN"
)


def _assert_quiet_terminal(lines: list[str], data_dir: Path) -> None:
    """Addresses, lead lines, summaries; no log line (they are in the data dir's files)."""
    logged = [line for line in lines if _LOG_LINE.search(line) or "kafka." in line or "Traceback" in line]
    assert logged == [], "log lines on the terminal:\n" + "\n".join(logged[:20])
    assert not any("blocking the event loop" in line for line in lines)
    summaries = [line for line in lines if _SUMMARY.search(line)]
    assert len(summaries) >= 2, "a summary every 30 s and one at the end:\n" + "\n".join(lines[-20:])
    other = [line for line in lines if not line.startswith("[M") and line not in summaries]
    assert len(other) <= 12, "the terminal is for addresses, leads and summaries:\n" + "\n".join(other)
    assert " INFO " in (data_dir / "run.log").read_text(encoding="utf-8"), "the log lines went to run.log"
