"""Three `jiandu console` replicas, as on three hosts behind a load balancer, sharing one PostgreSQL archive.

Each replica is a process of its own with its own data directory and its own copy of the users
file; they share only the archive database, the broker and the cookie-signing key. A session made
on one replica is good on the others (and its CSRF token), a sign-out on one holds on all, a
replica killed with SIGKILL takes no session with it, and a replica started afterwards knows
every session still open (a restart signs nobody out).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consumers.archive import PostgresArchive
from consumers.console import hash_password
from consumers.console.sessions import COOKIE, CSRF_FIELD
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.hub import create_topics
from jiandu.settings import Settings
from tests.integration.test_consumer_replicas import Replica, until
from tests.lead_versions import lead_version
from tests.pipeline import settings_for
from tests.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
SECRET = "console-replicas-secret-0123456789abcdef"
TOKEN = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')
LEAD = lead_version(1, 1, jurisdiction="210102")


class Console:
    """One console replica: its process (metrics port, data directory, users file) and its officers' port."""

    def __init__(self, settings: Settings, root: Path, name: str) -> None:
        users = root / f"{name}-users.yaml"  # each host its own copy of the users file
        hashed = hash_password(PASSWORD)
        users.write_text(
            "users:\n"
            f'  - {{username: wang, name: 王检察官, password_hash: "{hashed}", role: officer, jurisdiction: "2101"}}\n',
            encoding="utf-8",
        )
        self.port = find_free_port()
        self.replica = Replica(
            settings.replace(console_users=str(users)), ["console", "--port", str(self.port)], root / name
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, cookie: str) -> httpx.Response:
        """A request carrying only ``cookie`` (as a browser sends it, whichever replica the balancer picks)."""
        return httpx.get(self.url + path, cookies={COOKIE: cookie}, follow_redirects=False, timeout=10)

    def post(self, path: str, cookie: str, data: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + path, cookies={COOKIE: cookie}, data=data, follow_redirects=False, timeout=10)

    def sign_in(self) -> str:
        """Sign wang in here; the session cookie."""
        with httpx.Client(base_url=self.url, follow_redirects=False, timeout=10) as client:
            token = TOKEN.findall(client.get("/login").text)[0]
            answer = client.post("/login", data={"username": "wang", "password": PASSWORD, CSRF_FIELD: token})
            assert answer.status_code == 303, answer.text
            return answer.cookies[COOKIE]

    def serves(self, cookie: str) -> bool:
        """True when the cookie's session opens the lead list and a lead here; False when sent to sign in."""
        listing, api, lead = (
            self.get("/leads", cookie),
            self.get("/api/leads", cookie),
            self.get(f"/leads/{LEAD.lead_id}", cookie),
        )
        if listing.status_code == 303:
            assert listing.headers["location"] == "/login" and api.status_code == 401 and lead.status_code == 303
            return False
        assert listing.status_code == api.status_code == lead.status_code == 200, (listing, api, lead)
        return True


@pytest.fixture
def consoles() -> Iterator[list[Console]]:
    started: list[Console] = []
    try:
        yield started
    finally:
        for console in started:
            console.replica.kill()


def test_three_console_replicas_share_their_sessions(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer, consoles: list[Console]
) -> None:
    url = postgres_server.database()
    settings = settings_for(broker.bootstrap, topic_prefix, archive_url=url, console_secret=SECRET)
    create_topics(settings)
    consoles.extend(Console(settings, tmp_path, name) for name in ("host-a", "host-b", "host-c"))  # a new database
    until(lambda: all(c.replica.ready() for c in consoles), "every replica serves", timeout=60)
    a, b, c = consoles
    archive = PostgresArchive(url)
    try:
        archive.store_version(LEAD, "leads", 0, 0)

        laptop = a.sign_in()
        assert a.serves(laptop) and b.serves(laptop) and c.serves(laptop), "signed in on A: good on B and C"
        token = TOKEN.findall(b.get(f"/leads/{LEAD.lead_id}", laptop).text)[0]
        acted = c.post(f"/leads/{LEAD.lead_id}/actions", laptop, {CSRF_FIELD: token, "action": "acknowledge"})
        assert acted.status_code == 303, "the form of B's page is accepted by C (the CSRF token needs no replica)"
        history = archive.lead(LEAD.lead_id)
        assert history is not None and [x.action for x in history.actions] == ["acknowledge"]

        phone = c.sign_in()
        assert b.post("/logout", laptop, {CSRF_FIELD: token}).status_code == 303
        assert not a.serves(laptop) and not c.serves(laptop) and not b.serves(laptop), "signed out on B: everywhere"
        assert a.serves(phone), "only that session ended"

        a.replica.kill()  # SIGKILL: nothing of a session was A's alone
        assert b.serves(phone) and c.serves(phone)
        desk = b.sign_in()
        assert c.serves(desk)

        consoles.append(Console(settings, tmp_path, "host-d"))  # A's replacement, on a host of its own
        d = consoles[-1]
        until(d.replica.ready, "the new replica serves", timeout=60)
        assert d.serves(phone) and d.serves(desk), "a replica that starts knows every open session"
        token = TOKEN.findall(d.get("/leads", desk).text)[0]
        assert d.post("/logout", desk, {CSRF_FIELD: token, "everywhere": "1"}).status_code == 303
        assert not b.serves(phone) and not c.serves(desk), "signed out everywhere, on every replica"
        assert archive.session_count() == 0
        audit = archive.audit_entries(page_size=100).rows
        assert sorted(e.what for e in audit if e.what.startswith("sign")) == [
            "sign-in", "sign-in", "sign-in", "sign-out", "sign-out-everywhere"
        ]  # fmt: skip
    finally:
        archive.close()
