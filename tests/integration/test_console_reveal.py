"""Identity revealed under control, end to end: an agency record through the real intake (the number
sealed for the console on the identities topic), the archiver storing the seal, and officers in a
real headless Chromium revealing — or being refused — whom a lead is about, with every attempt and
its purpose on the supervisor's audit page.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.archive import rebuild
from consumers.archive.store import SqliteArchive
from consumers.console import ConsoleServer, hash_password
from jiandu.broker import EmbeddedBroker
from jiandu.cli.console import open_console
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.identity import person_key
from jiandu.core.identity_seal import generate_key_pair
from jiandu.settings import kafka_client_config
from tests.browser import browser_or_skip, open_browser
from tests.lead_versions import lead_version
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
NUMBER = "210102198503172415"
RECORD = {
    "type": "court.judgment_effective",
    "source": "court:210100",
    "source_record_id": "PJ-REVEAL-1",
    "occurred_at": "2024-03-01T10:00:00+08:00",
    "jurisdiction": "210102",
    "case_no": "(2024)辽01刑初1号",
    "id_number": NUMBER,
    "charge_code": "133",
    "sentence_type": "PROBATION",
    "prison_months": 0,
    "probation_months": 12,
    "fine_cny": "0.00",
}


def _users(path: Path) -> Path:
    hashed = hash_password(PASSWORD)
    entries = [
        ("wang", "王检察官", "officer", "2101", "reveal: true"),
        ("chen", "陈检察官", "officer", "2101", ""),  # same scope, no reveal right
        ("li", "李检察官", "officer", "2102", "reveal: true"),  # the right, another jurisdiction
        ("zhao", "赵主任", "supervisor", "2101", ""),
    ]
    text = "users:\n" + "".join(
        f'  - {{username: {u}, name: {n}, password_hash: "{hashed}", role: {r}, jurisdiction: "{j}"}}\n'
        + (f"    {extra}\n" if extra else "")
        for u, n, r, j, extra in entries
    )
    # flow-style entries cannot take an extra key on the next line: write them block-style
    text = text.replace("  - {", "  - ").replace('"}\n', '"\n').replace(", name:", "\n    name:")
    for key in ("password_hash", "role", "jurisdiction"):
        text = text.replace(f", {key}:", f"\n    {key}:")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def console(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Iterator[tuple[ConsoleServer, str, str]]:
    private, public, _ = generate_key_pair(tmp_path / "keys")
    settings = settings_for(
        broker.bootstrap,
        topic_prefix,
        partitions=1,
        data_dir=tmp_path,
        console_users=str(_users(tmp_path / "users.yaml")),
        console_secret="console-test-secret-0123456789",
        reveal_public_key=str(public),
        reveal_key_files=str(private),
        console_reveals_per_hour=2,
    )
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="test")
    with publisher:
        intake.submit(RECORD, json.dumps(RECORD).encode(), "test:1")
        assert intake.confirm().accepted == 1
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    progress = rebuild(archive, kafka_client_config(settings), [catalogue_of(settings).identities], timeout=60)
    assert progress.identities == 1
    pk = person_key(NUMBER, settings.pseudonym_key_bytes)
    lead = dataclasses.replace(lead_version(1, 1, jurisdiction="210102"), subject_key=pk)
    archive.store_versions([(lead, "leads", 0, 0)])
    server = open_console(settings, 0, archive, lambda action: None, poll_seconds=1)
    try:
        yield server, lead.lead_id, str(tmp_path / "archive.sqlite3")
    finally:
        server.stop()
        archive.close()


def _sign_in(page: Any, url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{url}/leads")


def _post_reveal(page: Any, url: str, lead_id: str, purpose: str) -> int:
    """POST the reveal form from the signed-in page (its session's CSRF token), as a hand-made request would."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(f"{url}/leads/{lead_id}/reveal", form={"csrf_token": token, "purpose": purpose})
    return int(response.status)


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    shot = Path(os.environ.get("JIANDU_TEST_ARTIFACTS", tmp_path)) / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_an_officer_reveals_whom_a_lead_is_about_with_a_purpose_audited_and_limited(
    console: tuple[ConsoleServer, str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, lead_id, archive_path = console
    url = server.url
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        context = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.set_viewport_size({"width": 1400, "height": 1000})
            _sign_in(page, url, "wang")
            page.goto(f"{url}/leads/{lead_id}")
            assert NUMBER not in page.content(), "the lead page shows a pseudonym, not the number"
            assert "假名编号" in page.inner_text("#subject")
            _shot(page, tmp_path, "console-reveal-form.png")
            page.fill("#reveal-purpose", "沈检刑执〔2024〕12号 核查报到情况")
            page.click("#reveal")
            page.wait_for_url(f"**/leads/{lead_id}/reveal")
            assert page.inner_text("#revealed-id") == NUMBER
            assert "1985-03-17" in page.content() and "核查报到情况" in page.inner_text("#reveal-purpose-shown")
            _shot(page, tmp_path, "console-reveal-shown.png")
            page.goto(f"{url}/leads/{lead_id}")
            assert _post_reveal(page, url, lead_id, "  ") == 400, "no purpose, no reveal"
            assert _post_reveal(page, url, lead_id, "再次核实身份") == 200
            assert _post_reveal(page, url, lead_id, "第三次查看身份") == 429, "two an hour in this test"
            # an officer of the same scope without the right: no form, and a hand-made POST is refused
            _sign_in(page, url, "chen")
            page.goto(f"{url}/leads/{lead_id}")
            assert page.locator("#reveal-form").count() == 0 and "无查看身份权限" in page.inner_text("#summary-list")
            assert _post_reveal(page, url, lead_id, "想看看") == 403
            # the right, but another jurisdiction
            _sign_in(page, url, "li")
            assert _post_reveal(page, url, lead_id, "跨区核查") == 403
            # the supervisor reads every attempt and its purpose
            _sign_in(page, url, "zhao")
            page.goto(f"{url}/audit?what=reveal")
            rows = page.locator("#audit-rows tr")
            assert rows.count() == 5
            allowed = page.locator("#audit-rows tr[data-who='wang'][data-allowed='1']")
            assert allowed.count() == 2
            assert "核查报到情况" in page.inner_text("#audit-rows")
            assert "超出频次：第三次查看身份" in page.inner_text("#audit-rows")
            assert NUMBER not in page.content()
            _shot(page, tmp_path, "console-reveal-audit.png")
        finally:
            context.close()
    with sqlite3.connect(archive_path) as conn:
        audit = conn.execute("SELECT who, allowed, detail FROM audit_log WHERE what = 'reveal' ORDER BY at").fetchall()
        dump = "\n".join(str(r) for t in ("sealed_identities", "audit_log") for r in conn.execute(f"SELECT * FROM {t}"))
    assert [(who, allowed) for who, allowed, _ in audit] == [
        ("wang", 1),
        ("wang", 1),
        ("wang", 0),
        ("chen", 0),
        ("li", 0),
    ]
    assert NUMBER not in dump, "the archive holds the number sealed only"
    assert NUMBER not in caplog.text
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_rotation_reseals_what_the_old_key_sealed_so_the_old_key_can_be_retired(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from jiandu.cli.console import command
    from jiandu.core.identity_seal import IdentityOpener

    old_private, old_public, old_id = generate_key_pair(tmp_path / "old")
    new_private, new_public, new_id = generate_key_pair(tmp_path / "new")
    settings = settings_for(
        broker.bootstrap, topic_prefix, partitions=1, data_dir=tmp_path, reveal_public_key=str(old_public)
    )
    create_topics(settings)
    publisher, intake = new_intake(settings, adapter="test")
    with publisher:
        intake.submit(RECORD, json.dumps(RECORD).encode(), "test:1")
        assert intake.confirm().accepted == 1
    identities = [catalogue_of(settings).identities]
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    rebuild(archive, kafka_client_config(settings), identities, timeout=60)
    pk = person_key(NUMBER, settings.pseudonym_key_bytes)
    assert archive.sealed_identity(pk).key_id == old_id  # type: ignore[union-attr]
    # the rotation: the adapters seal with the new key, the console holds both, reseal moves the rest
    rotated = settings.replace(reveal_public_key=str(new_public), reveal_key_files=f"{new_private},{old_private}")
    assert command(rotated, argparse.Namespace(console_command="reseal")) == 0
    assert "1 sealed again, 0 already current" in capsys.readouterr().out
    rebuild(archive, kafka_client_config(settings), identities, timeout=60)
    sealed = archive.sealed_identity(pk)
    assert sealed is not None and sealed.key_id == new_id
    assert IdentityOpener.from_files([new_private]).open(sealed.sealed, pk) == NUMBER, "the old key is not needed"
    assert command(rotated, argparse.Namespace(console_command="reseal")) == 0
    assert "0 sealed again, 1 already current" in capsys.readouterr().out
    archive.close()
