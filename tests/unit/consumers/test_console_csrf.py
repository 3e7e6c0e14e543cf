"""The console served on 127.0.0.1 (no browser): CSRF tokens on every POST, the audit-log page and its roles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consumers.archive import Action
from consumers.archive.store import SqliteArchive
from consumers.console import (
    ConsoleConfig,
    ConsoleServer,
    SessionSigner,
    User,
    UserDirectory,
    create_app,
    hash_password,
)
from consumers.console.sessions import CSRF_FIELD, LOGIN_COOKIE, Session
from tests.lead_versions import lead_version

PASSWORD = "correct horse battery"
LEAD = lead_version(1, 1, jurisdiction="210102").lead_id
OTHER_LEAD = lead_version(4, 1, jurisdiction="220202").lead_id
_TOKEN = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


class Console:
    """The console over a SQLite archive on a free port, with what it published."""

    def __init__(self, tmp_path: Path) -> None:
        hashed = hash_password(PASSWORD)
        users = [
            User("wang", "王检察官", "officer", "2101", ("刑事执行检察",), hashed),
            User("zhao", "赵主任", "supervisor", "2101", (), hashed),
            User("li", "李检察官", "officer", "2202", (), hashed),
            User("root", "管理员", "admin", "", (), hashed),
        ]
        self.archive = SqliteArchive(tmp_path / "archive.sqlite3")
        leads = [lead_version(1, 1, jurisdiction="210102"), lead_version(4, 1, jurisdiction="220202")]
        self.archive.store_versions([(lead, "leads", 0, i) for i, lead in enumerate(leads)])
        self.published: list[Action] = []
        config = ConsoleConfig(UserDirectory(users), SessionSigner(b"k" * 32), self.published.append, page_size=3)
        self.server = ConsoleServer(create_app(self.archive, config), 0).start()
        self.clients: list[httpx.Client] = []

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.server.url, follow_redirects=False, timeout=10)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()
        self.archive.close()

    def signed_in(self, username: str) -> tuple[httpx.Client, str]:
        """A client signed in as ``username`` and the CSRF token of its session (from a page's forms)."""
        client = self.client()
        token = _token(client.get("/login").text)
        response = client.post("/login", data={"username": username, "password": PASSWORD, CSRF_FIELD: token})
        assert response.status_code == 303, response.text
        return client, _token(client.get("/leads").text)

    def audit(self) -> list[tuple[str, str, str | None, bool]]:
        return [(e.who, e.what, e.lead_id, e.allowed) for e in self.archive.audit_entries(page_size=1000).rows]


def _token(html: str) -> str:
    tokens = set(_TOKEN.findall(html))
    assert len(tokens) == 1, f"every form of a page carries the same token: {tokens}"
    return tokens.pop()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = Console(tmp_path)
    try:
        yield c
    finally:
        c.close()


def test_csrf_tokens_belong_to_one_session_and_the_secret() -> None:
    signer = SessionSigner(b"k" * 32)
    first, second = (signer.session(signer.issue("wang", 1000), 1001) for _ in range(2))
    assert first is not None and second is not None and first.session_id != second.session_id
    assert signer.csrf_ok(first, signer.csrf_token(first))
    assert not signer.csrf_ok(first, signer.csrf_token(second))
    assert not signer.csrf_ok(first, "")
    assert not SessionSigner(b"x" * 32).csrf_ok(first, signer.csrf_token(first))
    assert signer.csrf_token(Session("li", first.session_id, 0)) == signer.csrf_token(first)  # bound to the sign-in
    nonce = signer.login_nonce()
    assert signer.login_nonce(nonce) == nonce and signer.login_nonce("planted") != "planted"
    assert signer.login_ok(nonce, signer.login_token(nonce)) and not signer.login_ok(nonce, nonce)
    assert not signer.login_ok("", signer.login_token(""))


def test_a_sign_in_without_the_form_token_is_refused_and_audited(console: Console) -> None:
    client = console.client()
    forged = client.post("/login", data={"username": "wang", "password": PASSWORD})
    assert forged.status_code == 403 and "未通过安全校验" in forged.text
    assert "jiandu_console" not in forged.cookies
    # a token from another browser's sign-in page does not match this browser's cookie
    other = _token(console.client().get("/login").text)
    client.get("/login")
    assert client.cookies.get(LOGIN_COOKIE)
    assert client.post("/login", data={"username": "wang", "password": PASSWORD, CSRF_FIELD: other}).status_code == 403
    assert console.audit() == [("wang", "csrf-rejected", None, False)] * 2


def test_a_forged_action_is_refused_with_403_audited_and_not_published(console: Console) -> None:
    client, token = console.signed_in("wang")
    _, other_token = console.signed_in("wang")  # the same officer's other session
    form = {"action": "outcome", "outcome": "检察建议", "note": "伪造"}
    for fields in (form, {**form, CSRF_FIELD: other_token}, {**form, CSRF_FIELD: ""}):
        refused = client.post(f"/leads/{LEAD}/actions", data=fields)
        assert refused.status_code == 403
        assert "安全令牌（CSRF）" in refused.text and "操作未执行" in refused.text
    assert console.published == [] and console.archive.lead(LEAD).actions == []  # type: ignore[union-attr]
    assert console.audit().count(("wang", "csrf-rejected", LEAD, False)) == 3

    done = client.post(f"/leads/{LEAD}/actions", data={**form, CSRF_FIELD: token})
    assert done.status_code == 303 and [a.outcome for a in console.published] == ["检察建议"]


def test_signing_out_needs_the_token_and_is_audited(console: Console) -> None:
    client, token = console.signed_in("wang")
    assert client.post("/logout").status_code == 403
    assert client.get("/leads").status_code == 200, "still signed in"
    out = client.post("/logout", data={CSRF_FIELD: token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert ("wang", "sign-out", None, True) in console.audit()


def test_the_audit_page_is_for_supervisors_and_admins(console: Console) -> None:
    wang, _ = console.signed_in("wang")
    assert 'href="/audit"' not in wang.get("/leads").text
    refused = wang.get("/audit")
    assert refused.status_code == 403 and "仅供部门负责人和管理员" in refused.text
    assert ("wang", "view-audit", None, False) in console.audit()
    li, _ = console.signed_in("li")
    assert li.get(f"/leads/{LEAD}").status_code == 404  # li (2202) tries a 2101 lead
    li.get(f"/leads/{OTHER_LEAD}")

    zhao, _ = console.signed_in("zhao")
    page = zhao.get("/audit")
    assert page.status_code == 200 and 'href="/audit"' in page.text
    rows = re.findall(r'<tr data-who="([^"]*)" data-what="([^"]*)" data-lead="([^"]*)"', page.text)
    # newest first, 3 a page; li (2202) signing in and viewing a 2202 lead is not the 2101 supervisor's business
    assert rows == [("zhao", "sign-in", ""), ("li", "view", LEAD), ("wang", "view-audit", "")]
    # the 2101 supervisor sees li's attempt on a 2101 lead, not li's own-jurisdiction work
    filtered = zhao.get("/audit", params={"who": "li"}).text
    assert re.findall(r'data-who="li" data-what="view" data-lead="([^"]*)"', filtered) == [LEAD]
    assert "李检察官" in filtered and "拒绝" in filtered

    root, _ = console.signed_in("root")
    everything = root.get("/audit", params={"who": "li", "what": "view"}).text
    assert sorted(re.findall(r'data-who="li" data-what="view" data-lead="([^"]*)"', everything)) == sorted(
        [LEAD, OTHER_LEAD]
    )
    assert "第 1 / 1 页" in everything
    assert root.get("/audit", params={"from": "2024-13-01"}).status_code == 400
    assert root.get("/audit", params={"from": "2000-01-01", "to": "2000-01-02"}).text.count("<tr data-who") == 0
    assert ("zhao", "view-audit", None, True) in console.audit()
