"""The lead list and lead page as officers read them at 1400 × 1000, in a real headless Chromium:
short columns on one line, dates typed as 年-月-日 (not the system's mm/dd/yyyy), the filtered list
exported as a CSV that Excel opens (BOM, formulas neutralised), status and version reasons in
Chinese, no 签收 once signed for, and what 成立时间 and 发现时间 mean.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.archive.store import SqliteArchive
from consumers.console import ConsoleServer, hash_password
from consumers.console.export import neutralised
from jiandu.cli.console import open_console
from tests.browser import browser_or_skip, open_browser
from tests.lead_versions import T0, lead_version
from tests.pipeline import settings_for

pytestmark = [pytest.mark.timeout(90)]

PASSWORD = "correct horse battery"
INJECTION = '=HYPERLINK("http://evil.example","点此")'
LATE = "closing evidence arrived late"
DISPROVED = "premise disproved by correction.terminated of 2024-06-01: not in the state at the trigger"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[ConsoleServer, SqliteArchive]]:
    users = tmp_path / "users.yaml"
    users.write_text(
        f"""users:
  - username: wang
    name: 王检察官
    password_hash: "{hash_password(PASSWORD)}"
    role: officer
    jurisdiction: "2101"
    departments: [刑事执行检察]
""",
        encoding="utf-8",
    )
    settings = settings_for(
        "127.0.0.1:1", "unused", data_dir=tmp_path, console_users=str(users), console_secret="x" * 32
    )
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    first = dataclasses.replace(lead_version(1, 1), detected_at=T0 + 3_600_000, summary_zh=INJECTION)
    resolved = dataclasses.replace(lead_version(2, 2, status="RESOLVED"), status_reason=LATE)
    withdrawn = dataclasses.replace(lead_version(3, 2, status="WITHDRAWN", model_id="M09"), status_reason=DISPROVED)
    long_text = "社区矫正对象应在期限内到执行地社区矫正机构报到，期限届满未见报到（接收）记录，可能脱管漏管。" * 2
    many = [dataclasses.replace(lead_version(10 + i, 1, jurisdiction="210103"), summary_zh=long_text) for i in range(5)]
    versions = [lead_version(2, 1), lead_version(3, 1, model_id="M09"), first, resolved, withdrawn, *many]
    archive.store_versions([(v, "leads", 0, i) for i, v in enumerate(versions)])
    server = open_console(settings, 0, archive, lambda action: None, poll_seconds=30)
    try:
        yield server, archive
    finally:
        server.stop()
        archive.close()


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    shot = Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


_LINES = """cells => cells.map(cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
})"""


def test_the_lead_list_and_page_read_right_at_1400_px(
    console: tuple[ConsoleServer, SqliteArchive], tmp_path: Path
) -> None:
    server, _ = console
    url = server.url
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        context = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.goto(f"{url}/login")
            page.fill("#username", "wang")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{url}/leads")
            # every short column on one line (严重程度, 刑事执行检察 and 待处理 wrapped before)
            lines = page.locator("#lead-rows td.c-short, #lead-rows td.c-time, #lead-rows td.c-model").evaluate_all(
                _LINES
            )
            assert lines and set(lines) == {1}, lines
            _shot(page, tmp_path, "console-leads-1400.png")
            # dates as 年-月-日, whatever the operating system's locale
            due_from = page.locator("input[name=due_from]")
            assert due_from.get_attribute("type") == "text" and due_from.get_attribute("placeholder") == "年-月-日"
            due_from.fill("2024-04-26")
            page.click("#apply-filters")
            page.wait_for_url("**due_from=2024-04-26**")
            assert page.locator("input[name=due_from]").input_value() == "2024-04-26"
            total = int(page.inner_text("#total"))
            # the filtered list as CSV: UTF-8 with BOM, every visible lead, formulas neutralised
            with page.expect_download() as download:
                page.click("#export-csv")
            data = Path(download.value.path()).read_bytes()
            assert data.startswith(b"\xef\xbb\xbf")
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            assert rows[0][:3] == ["线索编号", "模型", "承办部门"] and len(rows) == total + 1
            by_id = {r[0]: r for r in rows[1:]}
            assert by_id[lead_version(1, 1).lead_id][-1] == "'" + INJECTION
            assert by_id[lead_version(2, 1).lead_id][6] == "应有的后续记录迟报到达，线索消除"
            # a resolved lead: the reason in Chinese, in the status and in the versions
            page.goto(f"{url}/leads/{lead_version(2, 1).lead_id}")
            assert "应有的后续记录迟报到达" in page.inner_text("#status")
            assert "arrived late" not in page.inner_text("#versions")
            page.goto(f"{url}/leads/{lead_version(3, 1, model_id='M09').lead_id}")
            assert "2024-06-01 的「解矫 / 撤销 / 收监」记录推翻了线索的前提" in page.inner_text("#status")
            assert "2024-06-01" in page.inner_text("#status") and "premise" not in page.inner_text("#versions")
            # 签收 once; then the page says who signed for it and when
            page.goto(f"{url}/leads/{lead_version(1, 1).lead_id}")
            assert "监督时钟" in page.inner_text("#raised") and "晚 1 小时 0 分" in page.inner_text("#detected")
            page.click("#acknowledge")
            page.wait_for_url(f"**/leads/{lead_version(1, 1).lead_id}")
            assert page.locator("#acknowledge").count() == 0
            assert "王检察官" in page.inner_text("#acknowledged") or "wang" in page.inner_text("#acknowledged")
            _shot(page, tmp_path, "console-lead-1400.png")
        finally:
            context.close()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("正常", "正常")],
)
def test_cells_a_spreadsheet_would_run_are_neutralised(cell: str, shown: str) -> None:
    assert neutralised(cell) == shown
