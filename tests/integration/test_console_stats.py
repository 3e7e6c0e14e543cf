"""统计通报 in a real headless Chromium: ECharts charts drawn from the console's own copy (no CDN),
totals that add up, and the monthly report printed to PDF by Chromium with the same figures.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.archive import Action
from consumers.archive.store import SqliteArchive
from consumers.console import ConsoleServer, hash_password
from consumers.console.charts import AGE_BUCKETS, age_bucket, confirmation_chart, open_age_chart, totals
from consumers.console.pdf import chromium
from jiandu.cli.console import open_console
from jiandu.core.timeutil import format_cst, local_midnight_ms, parse_datetime, to_ms
from tests.browser import browser_or_skip, open_browser
from tests.lead_versions import lead_version
from tests.pipeline import settings_for

pytestmark = [pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
DAY = 86_400_000


def _at(text: str) -> int:
    return to_ms(parse_datetime(text))


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[ConsoleServer, SqliteArchive, str]]:
    users = tmp_path / "users.yaml"
    users.write_text(
        f"""users:
  - username: zhao
    name: 赵主任
    password_hash: "{hash_password(PASSWORD)}"
    role: supervisor
    jurisdiction: "2101"
""",
        encoding="utf-8",
    )
    settings = settings_for(
        "127.0.0.1:1", "unused", data_dir=tmp_path, console_users=str(users), console_secret="x" * 32
    )
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    leads = []
    # three months of M02 and M05 leads in two places; March: 3 M02 (210102) + 2 M05 (210103)
    for n, (model, place, when) in enumerate(
        [
            ("M02", "210102", "2026-01-10T10:00:00+08:00"),
            ("M02", "210102", "2026-02-10T10:00:00+08:00"),
            ("M02", "210102", "2026-03-03T10:00:00+08:00"),
            ("M02", "210102", "2026-03-04T10:00:00+08:00"),
            ("M02", "210102", "2026-03-05T10:00:00+08:00"),
            ("M05", "210103", "2026-03-06T10:00:00+08:00"),
            ("M05", "210103", "2026-03-07T10:00:00+08:00"),
        ]
    ):
        raised = _at(when)
        lead = lead_version(n + 1, 1, model_id=model, jurisdiction=place, department="刑事执行检察")
        leads.append(dataclasses.replace(lead, raised_at=raised, detected_at=raised, due_at=raised + 5 * DAY))
    archive.store_versions([(lead, "leads", 0, i) for i, lead in enumerate(leads)])
    for n, outcome in ((3, "检察建议"), (4, "核实不属实"), (6, "立案监督")):
        archive.record_action(
            Action(leads[n - 1].lead_id, "zhao", "outcome", _at("2026-03-20T10:00:00+08:00"), None, outcome, "")
        )
    server = open_console(settings, 0, archive, lambda action: None, poll_seconds=30)
    try:
        yield server, archive, "2026-03"
    finally:
        server.stop()
        archive.close()


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    shot = Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    return shot


def test_statistics_charts_totals_and_the_monthly_report_as_pdf(
    console: tuple[ConsoleServer, SqliteArchive, str], tmp_path: Path
) -> None:
    from pypdf import PdfReader

    server, _, month = console
    url = server.url
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        context = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.set_viewport_size({"width": 1400, "height": 1000})
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
            errors: list[str] = []  # e.g. a Content-Security-Policy refusal of what ECharts does
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(f"{url}/login")
            page.fill("#username", "zhao")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{url}/leads")
            page.goto(f"{url}/stats")
            page.wait_for_function("document.body.dataset.chartsDrawn === '4'")
            for name in ("trend", "confirmation", "open-age", "freshness"):
                assert page.locator(f"#chart-{name} svg").count() >= 1, name
            assert outside == [], "the charts library is served by the console itself"
            assert errors == []
            assert page.inner_text("#sum-raised strong") == "7" and page.inner_text("#sum-worked strong") == "3"
            assert page.inner_text("#sum-rate strong") == "67%"
            total = page.locator("#stats-grand-total")
            assert (total.locator(".raised").inner_text(), total.locator(".confirmed").inner_text()) == ("7", "2")
            trend = page.inner_text("#chart-trend")
            assert "2026-01" in trend and "M05" in trend
            _shot(page, tmp_path, "console-stats-charts.png")
            # the printable monthly report
            page.goto(f"{url}/stats/report?month={month}")
            page.wait_for_function("document.body.dataset.chartsDrawn === '4'")
            assert month in page.inner_text("#report-meta")
            assert page.inner_text("#sum-raised strong") == "5", "March only"
            _shot(page, tmp_path, "console-monthly-report.png")
            if chromium() is None:
                pytest.skip("no chromium to print with")
            response = page.request.get(f"{url}/stats/report.pdf?month={month}")
            assert response.status == 200 and response.headers["content-type"] == "application/pdf"
            pdf = response.body()
        finally:
            context.close()
    (Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / "monthly-report.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    # fonts map some characters to their Kangxi radical forms (⽉ for 月): compare compatibility-normalised text
    text = unicodedata.normalize("NFKC", "".join(p.extract_text() for p in reader.pages))
    assert "法律监督线索每月通报" in text and month in text and "合计" in text
    assert "各模型每月发现线索数" in text, "the charts are printed (SVG text), not blank"
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_age_buckets_count_cpl_days_past_the_deadline() -> None:
    due = local_midnight_ms(parse_datetime("2026-03-10T00:00:00+08:00").date())
    assert age_bucket(due - 1, due - 2) == AGE_BUCKETS[0]
    assert age_bucket(due, due) == AGE_BUCKETS[1], "the deadline is exclusive: at it, one day late"
    assert age_bucket(due, due + 7 * DAY - 1) == AGE_BUCKETS[1]
    assert age_bucket(due, due + 7 * DAY) == AGE_BUCKETS[2]
    assert age_bucket(due, due + 30 * DAY) == AGE_BUCKETS[3]
    assert age_bucket(None, due) == AGE_BUCKETS[4]
    option, counts = open_age_chart([{"jurisdiction": "210102", "due_at": due}] * 2, due + DAY)
    assert counts == {"210102": {**dict.fromkeys(AGE_BUCKETS, 0), AGE_BUCKETS[1]: 2}}
    assert option["xAxis"]["data"] == ["210102"]
    assert format_cst(due)[:10] == "2026-03-10"


def test_the_confirmation_chart_labels_rates_with_their_counts() -> None:
    from consumers.archive.model import StatisticsRow

    rows = [StatisticsRow("M02", "210102", "2026-03", 3, 2, 1), StatisticsRow("M05", "210103", "2026-03", 2, 0, 0)]
    option = confirmation_chart(rows)
    labels = [d["label"]["formatter"] for d in option["series"][0]["data"]]
    assert labels == ["50%（1/2）", "未办理"] and totals(rows).rate == "50%"
