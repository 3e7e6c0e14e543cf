"""The console's counters, over the real console served on 127.0.0.1 (no browser): sign-ins by result,
refusals by reason (scope, role, csrf) and responses by status class."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from consumers.console.sessions import CSRF_FIELD
from tests.unit.consumers.test_console_csrf import LEAD, PASSWORD, Console, _token

FAMILIES = {
    "jiandu_console_signins_total": ("result", ("ok", "failed")),
    "jiandu_console_denied_total": ("reason", ("scope", "role", "csrf")),
    "jiandu_console_requests_total": ("status_class", ("2xx", "3xx", "4xx", "5xx", "error")),
}


def counts() -> dict[tuple[str, str], float]:
    return {
        (name, value): REGISTRY.get_sample_value(name, {label: value}) or 0.0
        for name, (label, values) in FAMILIES.items()
        for value in values
    }


def delta(before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {k: v - before[k] for k, v in counts().items() if v != before[k]}


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    c = Console(tmp_path)
    try:
        yield c
    finally:
        c.close()


def test_sign_ins_count_by_result_and_a_forged_sign_in_as_a_csrf_refusal(console: Console) -> None:
    before = counts()
    client = console.client()
    token = _token(client.get("/login").text)  # 200
    assert client.post("/login", data={"username": "wang", "password": "wrong", CSRF_FIELD: token}).status_code == 401
    assert (
        client.post("/login", data={"username": "nobody", "password": PASSWORD, CSRF_FIELD: token}).status_code == 401
    )
    assert client.post("/login", data={"username": "wang", "password": PASSWORD}).status_code == 403  # no token
    token = _token(client.get("/login").text)  # 200
    assert client.post("/login", data={"username": "wang", "password": PASSWORD, CSRF_FIELD: token}).status_code == 303
    assert delta(before) == {
        ("jiandu_console_signins_total", "ok"): 1,
        ("jiandu_console_signins_total", "failed"): 2,
        ("jiandu_console_denied_total", "csrf"): 1,
        ("jiandu_console_requests_total", "2xx"): 2,
        ("jiandu_console_requests_total", "3xx"): 1,
        ("jiandu_console_requests_total", "4xx"): 3,
    }


def test_refusals_count_by_reason(console: Console) -> None:
    wang, wang_token = console.signed_in("wang")  # officer, 2101, 刑事执行检察
    li, li_token = console.signed_in("li")  # officer, 2202
    zhao, zhao_token = console.signed_in("zhao")  # supervisor, 2101
    before = counts()
    assert li.get(f"/leads/{LEAD}").status_code == 404  # scope: a 2101 lead
    act = {"action": "acknowledge", CSRF_FIELD: li_token}
    assert li.post(f"/leads/{LEAD}/actions", data=act).status_code == 404  # scope
    assign = {"action": "assign", "assignee": "wang"}
    assert wang.post(f"/leads/{LEAD}/actions", data={**assign, CSRF_FIELD: wang_token}).status_code == 403  # role
    assert wang.get("/audit").status_code == 403  # role: officers do not read the audit log
    outsider = {"action": "assign", "assignee": "li", CSRF_FIELD: zhao_token}
    assert zhao.post(f"/leads/{LEAD}/actions", data=outsider).status_code == 403  # scope: li is not a 2101 officer
    assert wang.post(f"/leads/{LEAD}/actions", data={"action": "close"}).status_code == 403  # csrf
    assert zhao.post(f"/leads/{LEAD}/actions", data={**assign, CSRF_FIELD: zhao_token}).status_code == 303  # allowed
    assert delta(before) == {
        ("jiandu_console_denied_total", "scope"): 3,
        ("jiandu_console_denied_total", "role"): 2,
        ("jiandu_console_denied_total", "csrf"): 1,
        ("jiandu_console_requests_total", "3xx"): 1,
        ("jiandu_console_requests_total", "4xx"): 6,
    }
    assert [a.assignee for a in console.published] == ["wang"]
