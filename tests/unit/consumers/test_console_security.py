"""The console against misuse: sessions that end, sign-in throttling, 400 for bad parameters, 404 without an
existence oracle, security headers on every response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consumers.archive.store import SqliteArchive
from consumers.console import ConsoleConfig, ConsoleServer, SessionSigner, create_app, hash_password, load_users
from consumers.console.sessions import COOKIE, CSRF_FIELD
from tests.unit.consumers.test_console_csrf import LEAD, PASSWORD, Console, _token

USERS = """users:
  - {{username: wang, name: 王, password_hash: "{h}", role: officer, jurisdiction: "2101"}}
  - {{username: li, name: 李, password_hash: "{h}", role: officer, jurisdiction: "2202"}}
  - {{username: root, name: 管理员, password_hash: "{h}", role: admin}}
"""


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = Console(tmp_path)
    try:
        yield c
    finally:
        c.close()


def test_signing_out_ends_the_session_on_the_server(console: Console) -> None:
    client, token = console.signed_in("wang")
    saved = client.cookies[COOKIE]
    assert client.post("/logout", data={CSRF_FIELD: token}).status_code == 303
    thief = console.client()
    thief.cookies.set(COOKIE, saved)
    assert thief.get("/leads").status_code == 303, "a saved cookie opens nothing after sign-out"
    assert thief.get("/api/leads").status_code == 401


def test_signing_out_everywhere_ends_every_session_of_the_user(console: Console) -> None:
    laptop, token = console.signed_in("wang")
    phone, _ = console.signed_in("wang")
    other, _ = console.signed_in("root")
    assert laptop.post("/logout", data={CSRF_FIELD: token, "everywhere": "1"}).status_code == 303
    assert phone.get("/leads").status_code == 303
    assert other.get("/leads").status_code == 200
    assert ("wang", "sign-out-everywhere", None, True) in console.audit()


def test_removing_a_user_from_the_users_file_ends_their_sessions(tmp_path: Path) -> None:
    users_file = tmp_path / "users.yaml"
    users_file.write_text(USERS.format(h=hash_password(PASSWORD)), encoding="utf-8")
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    config = ConsoleConfig(load_users(users_file), SessionSigner(b"k" * 32), lambda action: None)
    server = ConsoleServer(create_app(archive, config), 0).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as li:
            token = _token(li.get("/login").text)
            li.post("/login", data={"username": "li", "password": PASSWORD, CSRF_FIELD: token})
            assert li.get("/leads", follow_redirects=False).status_code == 200
            text = users_file.read_text(encoding="utf-8")
            time.sleep(0.01)
            users_file.write_text("\n".join(line for line in text.splitlines() if "li," not in line) + "\n")
            assert li.get("/leads", follow_redirects=False).status_code == 303
            assert archive.session_count() == 0, "the session row is gone, not only refused"
            users_file.write_text(text, encoding="utf-8")  # added back: the old session does not revive
            assert li.get("/leads", follow_redirects=False).status_code == 303
    finally:
        server.stop()
        archive.close()


def test_wrong_passwords_back_off_then_lock_out_even_the_right_one(console: Console) -> None:
    client = console.client()
    statuses = []
    for _ in range(60):
        token = _token(client.get("/login").text)
        answer = client.post("/login", data={"username": "wang", "password": "guess", CSRF_FIELD: token})
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5 and statuses.count(429) >= 50
    assert int(answer.headers["Retry-After"]) >= 1
    token = _token(client.get("/login").text)
    right = client.post("/login", data={"username": "wang", "password": PASSWORD, CSRF_FIELD: token})
    assert right.status_code == 429 and COOKIE not in right.cookies
    audit = console.audit()
    assert [a for a in audit if a[1] == "sign-in-throttled"] == [("wang", "sign-in-throttled", None, False)], (
        "refused attempts are audited at most once a minute per name: a flood does not flood the audit log"
    )
    assert sum(1 for who, what, _, ok in audit if what == "sign-in" and not ok) < 10, "passwords checked at most"


@pytest.mark.parametrize(
    "path",
    [
        "/leads?page=99999999999999999999999",
        "/leads?page=-1",
        "/api/leads?page=abc",
        "/leads?due_to=9999-12-31",
        "/leads?due_from=0001-01-01",
        "/leads?jurisdiction=<script>",
        "/stats?jurisdiction=21%0a01",
        "/audit?to=9999-12-31",
        "/audit?page=99999999999999999999999",
    ],
)
def test_out_of_range_parameters_are_400_not_500(console: Console, path: str) -> None:
    client, _ = console.signed_in("root")
    assert client.get(path).status_code == 400


def test_an_out_of_scope_lead_answers_as_a_missing_one_and_is_audited(console: Console) -> None:
    li, token = console.signed_in("li")
    forbidden, missing = li.get(f"/leads/{LEAD}"), li.get("/leads/no-such-lead")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.text.replace(LEAD, "X") == missing.text.replace("no-such-lead", "X")
    acted = li.post(f"/leads/{LEAD}/actions", data={"action": "acknowledge", CSRF_FIELD: token})
    assert acted.status_code == 404
    assert ("li", "view", LEAD, False) in console.audit()
    assert ("li", "action:acknowledge", LEAD, False) in console.audit()


def test_every_response_carries_the_security_headers(console: Console) -> None:
    client, _ = console.signed_in("root")
    static = sorted(p.name for p in (Path(__file__).parents[3] / "consumers" / "console" / "static").iterdir())
    for path in [f"/static/{static[0]}", "/static/missing.css", "/nowhere", "/leads?page=x", "/login", "/"]:
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"], path
        assert response.headers["Referrer-Policy"] == "same-origin", path


def test_a_user_name_typed_as_an_id_number_is_audited_masked(console: Console) -> None:
    client = console.client()
    token = _token(client.get("/login").text)
    client.post("/login", data={"username": "210102198503172415", "password": "x", CSRF_FIELD: token})
    assert [who for who, what, _, _ in console.audit() if what == "sign-in"] == ["<ID number>"]
