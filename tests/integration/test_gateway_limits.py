"""The push API's rate limits and receipt retention, on the real broker over real HTTP (127.0.0.1)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from adapters.gateway import BATCH_PATH, hash_token, new_token
from adapters.gateway.receipts import DAY_MS
from jiandu.broker import EmbeddedBroker
from jiandu.cli.gateway import open_gateway, receipts_path
from jiandu.core.timeutil import utc_now_ms
from jiandu.errors import ConfigurationError
from jiandu.settings import Settings
from tests.integration.test_gateway import Gateway, execution
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

AGENCIES = {"shenyang-court": ("court", "court:210100"), "shenyang-police": ("police", "police:2101")}
AGENCIES["dalian-court"] = ("court", "court:210200")


def write_agencies(path: Path) -> dict[str, str]:
    """Three agencies; returns their tokens."""
    tokens = {agency: new_token(agency) for agency in AGENCIES}
    lines = ["agencies:"]
    for agency, (category, source) in AGENCIES.items():
        lines += [f"  - id: {agency}", f"    category: {category}", f'    sources: ["{source}"]']
        lines.append(f'    token_hash: "{hash_token(tokens[agency])}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tokens


@pytest.fixture
def work(tmp_path: Path, broker: EmbeddedBroker) -> tuple[Settings, dict[str, str]]:
    """Settings of a gateway on its own topics, no rate limits yet, and the agencies' tokens."""
    tokens = write_agencies(tmp_path / "agencies.yaml")
    settings = settings_for(
        broker.bootstrap,
        f"l{uuid4().hex[:10]}",
        data_dir=tmp_path / "data",
        gateway_agencies=str(tmp_path / "agencies.yaml"),
        gateway_max_records=20,
        gateway_rate_requests_per_second=0.0,
        gateway_rate_records_per_second=0.0,
    )
    return settings, tokens


@contextlib.contextmanager
def serving(settings: Settings, tokens: dict[str, str]) -> Iterator[Gateway]:
    """A gateway on these settings while the block runs."""
    server, publisher, receipts = open_gateway(settings, 0)
    try:
        yield Gateway(settings, server.url, tokens)
    finally:
        server.stop()
        publisher.close()
        receipts.close()


def court(number: str, source: str = "court:210100", **changes: Any) -> dict[str, Any]:
    return execution(number, source=source, jurisdiction=source.split(":")[1], **changes)


def police(number: str) -> dict[str, Any]:
    return {
        "type": "police.lodging",
        "source": "police:210102",
        "source_record_id": f"L-{number}",
        "occurred_at": "2024-05-01T22:00:00+08:00",
        "jurisdiction": "210102",
        "id_number": execution("x")["id_number"],
        "city_code": "210102",
        "hotel_id": "H21010200001",
    }


def counts() -> dict[str, float]:
    """The push API counters these tests move (the registry is the test process's, shared by every test)."""

    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    return {
        "court 4xx": value("jiandu_gateway_requests_total", {"agency": "shenyang-court", "status_class": "4xx"}),
        "police 4xx": value("jiandu_gateway_requests_total", {"agency": "shenyang-police", "status_class": "4xx"}),
        "court throttled": value("jiandu_gateway_throttled_total", {"agency": "shenyang-court", "limit": "requests"}),
    }


def test_an_agency_over_its_request_rate_gets_429_and_the_others_do_not(
    work: tuple[Settings, dict[str, str]],
) -> None:
    run, before = uuid4().hex[:6], counts()
    # burst 3, then one request every 2 s: the 4th request is refused unless the first 3 took 2 s
    with serving(work[0].replace(gateway_rate_requests_per_second=0.5, gateway_rate_requests_burst=3), work[1]) as gw:
        answers = [gw.push([court(f"{run}-{i}")]) for i in range(4)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        limited = answers[3]
        assert limited.status_code == 429, limited.text
        retry_after = int(limited.headers["Retry-After"])
        body = limited.json()
        assert (body["error"], body["limit"], body["retry_after_seconds"]) == ("rate_limited", "requests", retry_after)
        assert retry_after in (1, 2) and f"wait {retry_after} s (Retry-After) and send it again" in body["message"]
        assert "0.5 requests per second (burst 3)" in body["message"]

        with ThreadPoolExecutor(3) as pool:  # meanwhile, the police push as usual
            others = list(pool.map(lambda i: gw.push([police(f"{run}-{i}")], "shenyang-police"), range(3)))
        assert [o.status_code for o in others] == [200, 200, 200] and all(o.json()["accepted"] == 1 for o in others)

        time.sleep(retry_after)
        again = gw.push([court(f"{run}-3")])
        assert again.status_code == 200 and again.json()["accepted"] == 1, "the refused request, sent again, went in"
    after = counts()
    assert after["court 4xx"] == before["court 4xx"] + 1, "counted as a 4xx of that agency"
    assert after["court throttled"] == before["court throttled"] + 1
    assert after["police 4xx"] == before["police 4xx"]


def test_an_agency_over_its_record_rate_gets_429_until_the_bucket_refills(
    work: tuple[Settings, dict[str, str]],
) -> None:
    run = uuid4().hex[:6]
    # burst 20, then 5 records a second: 10 more records wait 2 s, less the time the first batch took
    with serving(work[0].replace(gateway_rate_records_per_second=5.0, gateway_rate_records_burst=20), work[1]) as gw:
        full = gw.push([court(f"{run}-{i}", "court:210200") for i in range(20)], "dalian-court")
        assert full.status_code == 200 and full.json()["accepted"] == 20
        batch = [court(f"{run}-more-{i}", "court:210200") for i in range(10)]
        limited = gw.push(batch, "dalian-court")
        assert limited.status_code == 429 and limited.json()["limit"] == "records"
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after in (1, 2) and "5 records per second (burst 20)" in limited.json()["message"]
        assert gw.push([court(f"{run}-other")], "shenyang-court").status_code == 200, "another court is unaffected"
        time.sleep(retry_after)
        again = gw.push(batch, "dalian-court")
        assert again.status_code == 200 and again.json()["accepted"] == 10
        published = {e["source_record_id"] for e in gw.events("court.execution_filed")}
    assert {r["source_record_id"] for r in batch} <= published


def test_the_openapi_document_describes_429_with_retry_after(work: tuple[Settings, dict[str, str]]) -> None:
    settings = work[0].replace(gateway_rate_requests_per_second=2.0, gateway_rate_records_per_second=10.0)
    with serving(settings, work[1]) as gw:
        document = httpx.get(f"{gw.url}/openapi.json", timeout=10).json()
    limited = document["paths"][BATCH_PATH]["post"]["responses"]["429"]
    assert "Retry-After" in limited["headers"]
    assert limited["content"]["application/json"]["schema"] == {
        "oneOf": [{"$ref": "#/components/schemas/RateLimited"}, {"$ref": "#/components/schemas/TooManyFailures"}]
    }
    assert "2 requests per second (burst 20) and 10 records per second (burst 5000)" in document["info"]["description"]


def test_an_id_older_than_the_retention_is_accepted_again_and_expired_ids_are_deleted(
    work: tuple[Settings, dict[str, str]],
) -> None:
    settings, tokens = work
    path = receipts_path(settings)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:  # a gateway's file from 31 days ago: 2 500 ids, one of them re-sent below
        db.execute("CREATE TABLE accepted (event_id TEXT PRIMARY KEY, agency TEXT NOT NULL, accepted_at INTEGER "
                   "NOT NULL) WITHOUT ROWID")  # fmt: skip
        old = utc_now_ms() - 31 * DAY_MS
        resent = court(uuid4().hex[:6])
        old_ids = [f"court:210100/court.execution_filed/OLD-{i}" for i in range(2_499)]
        old_ids.append(f"court:210100/court.execution_filed/{resent['source_record_id']}")
        db.executemany("INSERT INTO accepted VALUES (?, 'shenyang-court', ?)", ((i, old) for i in old_ids))
    server, publisher, receipts = open_gateway(settings, 0)
    try:
        gateway = Gateway(settings, server.url, tokens)
        deadline = time.monotonic() + 20
        while receipts.expiry_rounds < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receipts) == 0, "the expired ids were deleted at start, in batches"
        first = gateway.push([resent]).json()["results"][0]
        assert first["status"] == "accepted", "31 days later, the same event id is accepted again"
        assert gateway.push([resent]).json()["results"][0]["status"] == "duplicate", "and remembered anew"
    finally:
        server.stop()
        publisher.close()
        receipts.close()
    published = [e for e in gateway.events("court.execution_filed") if e["event_id"] == first["event_id"]]
    assert len(published) == 1, "on Kafka once more; the streams worker ignores an event id it already has"


def test_rates_that_cannot_work_stop_the_gateway_at_start(work: tuple[Settings, dict[str, str]]) -> None:
    settings = work[0].replace(gateway_rate_records_per_second=10.0, gateway_rate_records_burst=5)
    with pytest.raises(ConfigurationError, match="a full batch could never pass"):
        open_gateway(settings, 0)
    with pytest.raises(ConfigurationError, match="JIANDU_GATEWAY_RECEIPT_DAYS=-1"):
        open_gateway(work[0].replace(gateway_receipt_days=-1), 0)
