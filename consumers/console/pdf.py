"""Printing a page of the console to PDF with a headless Chromium (the monthly reports).

The page is written to a private temporary folder with its scripts and styles referenced by
``file://`` path, so Chromium needs no session, no network and no console URL; it runs the charts'
script (virtual time lets it finish) and prints A4. The process gets its own profile folder and
its own process group, which is ended as a whole if it does not finish in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from jiandu.errors import ReportError as PdfError

__all__ = ["STATIC", "PdfError", "chromium", "print_to_pdf"]

STATIC = Path(__file__).with_name("static")
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str | None:
    """The headless browser to print with, or None when none is installed."""
    return next((path for name in _CANDIDATES if (path := shutil.which(name))), None)


def print_to_pdf(html: str, *, timeout: float = 60.0) -> bytes:
    """``html`` (a page whose assets are ``file://`` URLs) printed to PDF bytes."""
    browser = chromium()
    if browser is None:
        raise PdfError("no Chromium installed (scripts/install-system-packages.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="jiandu-report-") as work:
        page, out = Path(work) / "report.html", Path(work) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        args = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(work) / 'profile'}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=10000",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=work
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise PdfError(f"Chromium did not print the report within {timeout:.0f} s") from None
        if not out.is_file() or out.stat().st_size == 0:
            raise PdfError(f"Chromium printed nothing (exit status {process.returncode})")
        return out.read_bytes()
