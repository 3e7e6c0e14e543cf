"""The console served on 127.0.0.1 over a SQLite archive, driven by a real headless Chromium (Playwright).

Sign in, filter, watch a new lead arrive, open a lead and its evidence timeline, record an outcome
(on the outcome topic of the session's embedded broker and in the archive), see the statistics
change; a forged form without the CSRF token gets 403 and changes nothing; an officer of another
jurisdiction gets 404, as for a missing lead, and the audit log a denied row; the supervisor's audit-log page shows who
viewed and worked the lead, and when.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from consumers.archive import Action, publish_action
from consumers.archive.store import SqliteArchive
from consumers.console import ConsoleServer, hash_password
from jiandu.broker import EmbeddedBroker, high_watermarks
from jiandu.cli.console import open_console
from jiandu.cli.hub import catalogue_of, create_topics
from jiandu.core.timeutil import format_cst
from jiandu.serde import AvroCodec
from tests.browser import browser_or_skip, open_browser
from tests.lead_versions import lead_version
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

PASSWORD = "correct horse battery"


def _users_file(path: Path) -> Path:
    hashed = hash_password(PASSWORD)
    path.write_text(
        f"""users:
  - username: wang
    name: 王检察官
    password_hash: "{hashed}"
    role: officer
    jurisdiction: "2101"
    departments: [刑事执行检察]
  - username: li
    name: 李检察官
    password_hash: "{hashed}"
    role: officer
    jurisdiction: "2102"
    departments: [刑事执行检察]
  - username: zhao
    name: 赵主任
    password_hash: "{hashed}"
    role: supervisor
    jurisdiction: "2101"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def console(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Iterator[tuple[ConsoleServer, SqliteArchive]]:
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        partitions=1,
        data_dir=tmp_path,
        console_users=str(_users_file(tmp_path / "users.yaml")),
        console_secret="console-test-secret-0123456789",
    )
    create_topics(settings)
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    leads = [
        lead_version(1, 1, jurisdiction="210102"),
        lead_version(2, 1, severity="LOW", jurisdiction="210103"),
        lead_version(3, 1, department="侦查监督", model_id="M05", jurisdiction="210102"),  # not wang's department
        lead_version(4, 1, jurisdiction="210202"),  # li's jurisdiction
    ]
    archive.store_versions([(lead, "leads", 0, i) for i, lead in enumerate(leads)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    codec, topic = AvroCodec(), catalogue_of(settings).outcomes

    def publish(action: Action) -> None:
        publish_action(producer, codec, topic, action)

    server = open_console(settings, 0, archive, publish, poll_seconds=1)
    try:
        yield server, archive
    finally:
        server.stop()
        producer.close()
        archive.close()
    ends = high_watermarks(broker.bootstrap, [topic], {})
    assert sum(ends.values()) == 1, "the recorded outcome is on the outcome topic"


def _audit(archive_path: Path) -> list[tuple[str, str, str | None, int]]:
    with sqlite3.connect(archive_path) as conn:
        return conn.execute("SELECT who, what, lead_id, allowed FROM audit_log ORDER BY at").fetchall()


def _audited_at(archive_path: Path, who: str, what: str) -> str:
    """When the audit log last has ``who`` doing ``what``, as the audit page shows it (China time, to the second)."""
    query = "SELECT MAX(at) FROM audit_log WHERE who = ? AND what = ?"
    with sqlite3.connect(archive_path) as conn:
        (at,) = conn.execute(query, (who, what)).fetchone()
    return format_cst(at)[:19].replace("T", " ")


def _sign_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{url}/leads")


def _forge_action(page: Any, lead_id: str) -> Any:
    """Submit, from the signed-in page, a form that closes the lead without the CSRF token (the cookie goes along)."""
    script = """lead => {
        const form = document.createElement("form");
        form.method = "post";
        form.action = `/leads/${lead}/actions`;
        const field = document.createElement("input");
        Object.assign(field, {type: "hidden", name: "action", value: "close"});
        form.appendChild(field);
        document.body.appendChild(form);
        form.submit();
    }"""
    with page.expect_navigation() as navigation:
        page.evaluate(script, lead_id)
    return navigation.value


def test_an_officer_works_a_lead_in_the_browser(console: tuple[ConsoleServer, SqliteArchive], tmp_path: Path) -> None:
    server, archive = console
    sync_playwright = browser_or_skip()
    lead_id = lead_version(1, 1).lead_id
    with sync_playwright() as pw:
        context = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            # signing in
            page.goto(f"{server.url}/leads")
            assert page.url.endswith("/login")
            assert page.locator("input[name=csrf_token]").count() == 1
            page.fill("#username", "wang")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{server.url}/leads")
            cookie = next(c for c in context.cookies() if c["name"] == "jiandu_console")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            # wang sees lead 1 and 2 (2101…, 刑事执行检察), not 3 (other department) nor 4 (2102…)
            assert page.inner_text("#total") == "2"
            page.select_option("select[name=severity]", "HIGH")
            page.click("#apply-filters")
            page.wait_for_url("**severity=HIGH**")
            assert page.locator("#lead-rows tr").count() == 1
            # a lead arriving in the archive shows up without reloading
            archive.store_version(lead_version(5, 1, jurisdiction="210104"), "leads", 0, 10)
            page.locator(f"tr[data-lead='{lead_version(5, 1).lead_id}']").wait_for()
            assert page.inner_text("#total") == "2"
            # the lead and its evidence timeline
            page.click(f"a[href='/leads/{lead_id}']")
            page.wait_for_url(f"**/leads/{lead_id}")
            timeline = page.inner_text("#timeline")
            assert "人民法院 210100" in timeline and "判决生效" in timeline and "e1" in timeline
            assert "社区矫正法" in page.inner_text("#legal-basis")
            # recording an outcome
            page.select_option("#outcome", "检察建议")
            page.fill("#outcome-note", "已向社区矫正机构发出检察建议")
            page.click("#record-outcome")
            page.wait_for_url(f"**/leads/{lead_id}")
            assert "检察建议" in page.inner_text("#actions")
            # the statistics count it
            page.goto(f"{server.url}/stats")
            row = page.locator("#stats-totals tr[data-model='M02'][data-jurisdiction='210102']")
            assert (row.locator(".worked").inner_text(), row.locator(".confirmed").inner_text()) == ("1", "1")
            assert row.locator(".rate").inner_text() == "100%"
            shot = Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / "console-stats.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"console screenshot: {shot}")
            # a forged form without the CSRF token: 403, nothing recorded (the fixture counts the outcome topic)
            page.goto(f"{server.url}/leads/{lead_id}")
            forged = _forge_action(page, lead_id)
            assert forged.status == 403 and "安全令牌（CSRF）" in page.inner_text("#error-message")
            page.goto(f"{server.url}/leads/{lead_id}")
            assert "办结" not in page.inner_text("#actions")
            # an officer has no audit-log page
            assert page.locator("#audit-link").count() == 0
            response = page.goto(f"{server.url}/audit")
            assert response is not None and response.status == 403
            page.click("#sign-out")  # the sign-out form carries the token
            page.wait_for_url(f"{server.url}/login")
            # another jurisdiction's officer is refused, and the refusal is audited
            _sign_in(page, server.url, "li")
            response = page.goto(f"{server.url}/leads/{lead_id}")
            assert response is not None and response.status == 404  # as a missing lead: no existence oracle
            context.clear_cookies()
            # the supervisor of 2101 reads who viewed and worked the lead, and when
            _sign_in(page, server.url, "zhao")
            page.click("#audit-link")
            page.wait_for_url(f"{server.url}/audit")
            view = page.locator(f"#audit-rows tr[data-who='wang'][data-what='view'][data-lead='{lead_id}']").first
            assert "王检察官" in view.locator(".who").inner_text()
            assert view.locator(".at").inner_text() == _audited_at(tmp_path / "archive.sqlite3", "wang", "view")
            assert page.locator(f"#audit-rows tr[data-who='li'][data-lead='{lead_id}'][data-allowed='0']").count() == 1
            page.fill("input[name=who]", "wang")
            page.select_option("select[name=what]", "action:outcome")
            page.click("#apply-audit-filters")
            page.wait_for_url("**what=action%3Aoutcome**")
            rows = page.locator("#audit-rows tr")
            assert rows.count() == 1 and page.inner_text("#audit-total") == "1"
            assert "办理：办理结果" in rows.first.inner_text() and "允许" in rows.first.inner_text()
            outcome_at = _audited_at(tmp_path / "archive.sqlite3", "wang", "action:outcome")
            assert rows.first.locator(".at").inner_text() == outcome_at
            shot = Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / "console-audit.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"console audit screenshot: {shot}")
        finally:
            context.close()
    audit = _audit(tmp_path / "archive.sqlite3")
    assert ("wang", "view", lead_id, 1) in audit
    assert ("wang", "action:outcome", lead_id, 1) in audit
    assert ("wang", "csrf-rejected", lead_id, 0) in audit
    assert ("wang", "view-audit", None, 0) in audit and ("wang", "sign-out", None, 1) in audit
    assert ("li", "view", lead_id, 0) in audit
    assert ("zhao", "view-audit", None, 1) in audit
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)
