"""数据质量通报 end to end: agency records through the real intake (one late, one sent twice, one
rejected), the archiver counting them from the topics of the session's broker, the scorecard in a
real headless Chromium and as a PDF, and the Prometheus series the archiver exports.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from consumers.archive import rebuild
from consumers.archive.store import SqliteArchive
from consumers.console import ConsoleServer, hash_password
from consumers.console.pdf import chromium
from jiandu.broker import EmbeddedBroker
from jiandu.cli.console import open_console
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.leads import Evidence
from jiandu.core.timeutil import format_cst
from jiandu.settings import kafka_client_config
from tests.browser import browser_or_skip, open_browser
from tests.lead_versions import lead_version, publish_leads
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
NOW = int(time.time() * 1000)
DAY = 86_400_000


def _iso(ms: int) -> str:
    return format_cst(ms)


def _judgment(n: int, source: str, occurred: int, recorded: int, number: str = "210102198503172415") -> dict[str, Any]:
    return {
        "type": "court.judgment_effective",
        "source": source,
        "source_record_id": f"PJ-Q-{n}",
        "occurred_at": _iso(occurred),
        "recorded_at": _iso(recorded),
        "jurisdiction": source.split(":")[1],
        "case_no": f"(2026)辽01刑初{n}号",
        "id_number": number,
        "charge_code": "133",
        "sentence_type": "PROBATION",
        "prison_months": 0,
        "probation_months": 12,
        "fine_cny": "0.00",
    }


@pytest.fixture
def console(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Iterator[tuple[ConsoleServer, str]]:
    users = tmp_path / "users.yaml"
    users.write_text(
        f'users:\n  - username: zhao\n    name: 赵主任\n    password_hash: "{hash_password(PASSWORD)}"\n'
        '    role: supervisor\n    jurisdiction: "2101"\n',
        encoding="utf-8",
    )
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        partitions=1,
        data_dir=tmp_path,
        console_users=str(users),
        console_secret="x" * 32,
    )
    create_topics(settings)
    late = _judgment(1, "court:210100", NOW - 12 * DAY, NOW - 2 * DAY)  # entered 10 days late, sent 2 days later
    prompt = _judgment(2, "correction:210102", NOW - 2 * 3_600_000, NOW - 3_600_000)
    rejected = _judgment(3, "court:210100", NOW - DAY, NOW - DAY, number="210102198503172410")  # bad check digit
    publisher, intake = new_intake(settings, adapter="test")
    with publisher:
        for i, record in enumerate([late, late, prompt, rejected]):  # the late record sent twice
            intake.submit(record, json.dumps(record).encode(), f"test:{i}")
        intake.confirm()
    # a lead the late court record withdrew this month (it is the lead's last evidence)
    withdrawn = dataclasses.replace(
        lead_version(1, 2, status="WITHDRAWN"),
        evidence=(Evidence("e0", "correction.enrolled", "correction:210102", NOW - 20 * DAY),
                  Evidence("e1", "court.judgment_effective", "court:210100", NOW - 12 * DAY)),
        updated_at=NOW,
    )  # fmt: skip
    catalogue = catalogue_of(settings)
    publish_leads(broker.bootstrap, catalogue.leads, [lead_version(1, 1), withdrawn])
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    topics = [catalogue.leads, *catalogue.event_topics(), catalogue.dead_letters]
    progress = rebuild(archive, kafka_client_config(settings), topics)
    assert (progress.arrivals, progress.versions) == (4, 2)
    server = open_console(settings, 0, archive, lambda action: None, poll_seconds=30)
    try:
        yield server, format_cst(NOW)[:7]
    finally:
        server.stop()
        archive.close()


def test_the_scorecard_in_the_console_as_pdf_and_as_prometheus_series(
    console: tuple[ConsoleServer, str], tmp_path: Path
) -> None:
    from pypdf import PdfReader

    server, month = console
    url = server.url
    assert (
        REGISTRY.get_sample_value(
            "jiandu_agency_records_total",
            {"source": "court:210100", "type": "court.judgment_effective", "result": "accepted"},
        )
        >= 1
    )
    duplicate = {"source": "court:210100", "type": "court.judgment_effective", "result": "duplicate"}
    assert REGISTRY.get_sample_value("jiandu_agency_records_total", duplicate) >= 1
    reversed_ = {"source": "court:210100", "status": "WITHDRAWN"}
    assert REGISTRY.get_sample_value("jiandu_agency_leads_reversed_total", reversed_) >= 1
    bucket = {"source": "court:210100", "stage": "recording", "le": str(float(7 * DAY // 1000))}
    assert REGISTRY.get_sample_value("jiandu_agency_delay_seconds_bucket", bucket) is not None
    assert REGISTRY.get_sample_value("jiandu_agency_last_arrival_timestamp_seconds", {"source": "court:210100"})
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        context = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.goto(f"{url}/login")
            page.fill("#username", "zhao")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{url}/leads")
            page.goto(f"{url}/quality")
            page.wait_for_function("document.body.dataset.chartsDrawn === '2'")
            first = page.locator("#quality-table tbody tr").first
            assert first.get_attribute("data-source") == "court:210100", "the source whose delay cost a lead first"
            court = {
                c: first.locator(f".{c}").inner_text() for c in ("accepted", "duplicates", "rejected", "withdrawn")
            }
            assert court == {"accepted": "1", "duplicates": "1", "rejected": "1", "withdrawn": "1"}
            assert first.locator(".rate").inner_text() == "33.3%"
            assert first.locator(".recording").inner_text() == "30 日内"
            assert first.locator(".reasons").inner_text() == "身份证号 校验位错误 1"
            correction = page.locator("#quality-table tr[data-source='correction:210102']")
            assert correction.locator(".upload").inner_text() == "1 日内"
            _shot(page, tmp_path, "console-quality.png")
            page.goto(f"{url}/stats")
            page.wait_for_function("document.body.dataset.chartsDrawn === '4'")
            assert "court:210100" in page.inner_text("#chart-freshness"), "freshness from the scorecard"
            if chromium() is None:
                pytest.skip("no chromium to print with")
            response = page.request.get(f"{url}/quality/report.pdf?month={month}")
            assert response.status == 200
            pdf = response.body()
        finally:
            context.close()
    (Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / "data-quality.pdf").write_bytes(pdf)
    text = unicodedata.normalize("NFKC", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert "数据质量通报" in text and month in text and "court:210100" in text
    assert "210102198503172415" not in text
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    shot = Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
