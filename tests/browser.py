"""The headless browser the page tests drive: Playwright over Debian's chromium (no browser download)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "browser_or_skip", "open_browser"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_or_skip() -> Any:
    """Playwright's sync API; skips (fails under CI) when it or Debian's chromium is missing."""
    reason = ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if not reason and not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (scripts/install-system-packages.sh installs chromium)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


def open_browser(playwright: Any, profile: Path) -> Any:
    """A zh-CN browser context with its own profile directory (the caller closes it)."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, locale="zh-CN"
    )
