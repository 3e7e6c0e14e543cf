"""The REST client's retries against a real simulated agency: 5xx, timeouts, 429, garbled bodies, refusals."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.agency_sim import AgencyFeed, AgencySimulator
from adapters.rest import AgencyClient, PollStopped, SourceConfig, SourceUnavailable
from adapters.rest.client import backoff_delay, retry_after_seconds

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def sim() -> Iterator[AgencySimulator]:
    records = [{"source": "police:210102", "source_record_id": str(i)} for i in range(7)]
    with AgencySimulator(AgencyFeed(records)) as simulator:
        yield simulator


def _client(sim: AgencySimulator, **changes: object) -> AgencyClient:
    values: dict[str, object] = {
        "source": "police:210102",
        "base_url": sim.url,
        "page_size": 5,
        "timeout_seconds": 0.3,
        "backoff_seconds": 0.01,
        "max_attempts": 4,
    }
    values.update(changes)
    return AgencyClient(SourceConfig(**values), rng=random.Random(1))  # type: ignore[arg-type]


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(n, 0.5, 3.0, rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, 1):
        ceiling = min(3.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] >= 1.5


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Fri, 01 Mar 2024 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Fri, 01 Mar 2024 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_5xx_timeouts_and_garbled_bodies_are_retried(sim: AgencySimulator, caplog: pytest.LogCaptureFixture) -> None:
    sim.set_faults({"http_500": 1, "timeout": 1, "timeout_seconds": 1.0, "malformed": 1})
    client = _client(sim)
    with caplog.at_level(logging.WARNING, logger="adapters.rest.client"):
        page = client.fetch(since=None, page_token=None)
    assert (len(page.records), page.next_page_token, page.cursor, page.attempts) == (5, "t5", "c5", 4)
    # only the client's own records: a kafka-python client left by an earlier test logs from its thread
    messages = [r.getMessage() for r in caplog.records if r.name == "adapters.rest.client"]
    assert "HTTP 500 Internal Server Error (attempt 1 of 4); retrying in" in messages[0]
    assert "timed out after 0.3 s (attempt 2 of 4)" in messages[1]
    assert "body is not JSON" in messages[2] and "police:210102" in messages[2]
    client.close()


def test_429_waits_at_least_what_retry_after_asks(sim: AgencySimulator) -> None:
    sim.set_faults({"rate_limit": 1, "retry_after": 1})
    client = _client(sim)
    page = client.fetch(since="c5", page_token=None)
    assert [r["source_record_id"] for r in page.records] == ["5", "6"]
    limited, retried = sim.served()[-2:]
    assert limited.status == 429 and retried.is_page
    assert retried.at - limited.at >= 1.0
    client.close()


def test_attempts_are_bounded(sim: AgencySimulator) -> None:
    sim.set_faults({"http_500": 10})
    client = _client(sim, max_attempts=3)
    with pytest.raises(SourceUnavailable, match=r"after 3 attempts \(last: HTTP 500") as caught:
        client.fetch(since="c5", page_token=None)
    assert "checkpoint stays where it was" in str(caught.value)
    assert len(sim.served()) == 3
    client.close()


def test_a_refusal_is_not_retried(sim: AgencySimulator) -> None:
    client = _client(sim, path="/api/v2/records")
    with pytest.raises(SourceUnavailable, match="HTTP 404 Not Found; not retried"):
        client.fetch(since=None, page_token=None)
    assert len(sim.served()) == 1
    client.close()


def test_stop_cuts_a_backoff_short(sim: AgencySimulator) -> None:
    sim.set_faults({"http_500": 1})
    stop = threading.Event()
    config = SourceConfig(source="police:210102", base_url=sim.url, backoff_seconds=30, backoff_max_seconds=30)
    client = AgencyClient(config, stop=stop)
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(PollStopped):
        client.fetch(since=None, page_token=None)
    client.close()


def test_the_token_goes_in_the_configured_header() -> None:
    seen: list[httpx.Request] = []

    def agency(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"records": [], "next_page_token": None, "cursor": "c0"})

    config = SourceConfig(
        source="police:210102", base_url="http://agency.test", auth_header="X-Api-Key", auth_token="k3y"
    )
    client = AgencyClient(config, transport=httpx.MockTransport(agency))
    client.fetch(since="2024-01-01T00:00:00+08:00", page_token=None)
    assert seen[0].headers["X-Api-Key"] == "k3y"
    assert seen[0].url.params["since"] == "2024-01-01T00:00:00+08:00" and seen[0].url.params["limit"] == "100"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"items": []}, "no `records` list"),
        ({"records": [], "next_page_token": 5, "cursor": "c0"}, "not a string"),
        ({"records": [], "next_page_token": None}, "last page without a `cursor`"),
    ],
)
def test_pages_of_the_wrong_shape_are_retried_then_given_up(body: object, reason: str) -> None:
    config = SourceConfig(source="police:210102", base_url="http://agency.test", max_attempts=2, backoff_seconds=0.01)
    client = AgencyClient(config, transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body)))
    with pytest.raises(SourceUnavailable, match=reason):
        client.fetch(since=None, page_token=None)
