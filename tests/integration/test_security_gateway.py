"""The push API under hostile input, against the real broker: no ID number in clear, no 5xx, no partial effect."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from adapters.gateway import BATCH_PATH
from jiandu.broker import EmbeddedBroker, find_free_port
from jiandu.cli.gateway import open_gateway
from jiandu.core.sealing import PayloadSeal
from jiandu.errors import DeliveryError
from tests.integration.test_gateway import PERSON, Gateway, execution, write_agencies
from tests.pipeline import all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

LEGACY = PERSON[:6] + PERSON[8:17]


@pytest.fixture(scope="module")
def gateway(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("gateway-security")
    tokens = write_agencies(work / "agencies.yaml")
    settings = settings_for(
        broker.bootstrap,
        f"s{uuid4().hex[:10]}",
        data_dir=work / "data",
        gateway_agencies=str(work / "agencies.yaml"),
        gateway_rate_requests_per_second=0.0,
        gateway_rate_records_per_second=0.0,
    )
    server, publisher, receipts = open_gateway(settings, 0)
    try:
        yield Gateway(settings, server.url, tokens)
    finally:
        server.stop()
        publisher.close()
        receipts.close()


def _post_raw(gateway: Gateway, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {gateway.tokens['shenyang-court']}", "Content-Type": "application/json"}
    return httpx.post(f"{gateway.url}{BATCH_PATH}", content=body, headers=headers, timeout=30)


def _files_under(path: Path) -> Iterator[bytes]:
    for file in path.rglob("*"):
        if file.is_file():
            yield file.read_bytes()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source_record_id", PERSON),
        ("case_no", f"(2026)辽01刑初{PERSON}号"),
        ("execution_no", f"E{LEGACY}"),
        ("case_no", PERSON.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))),
    ],
)
def test_an_id_number_in_a_text_field_never_reaches_kafka_or_disk_in_clear(
    gateway: Gateway, field: str, value: str
) -> None:
    record = execution(uuid4().hex[:8], **{field: value})
    response = gateway.push([record])
    assert response.status_code == 200, response.text
    answer = response.json()["results"][0]
    assert (answer["status"], answer["field"], answer["rule"]) == ("rejected", field, "id_number_in_text")
    assert answer["message"] == f"{field}: contains an ID number"
    for text in (PERSON, LEGACY):
        assert text not in response.text
    messages = all_messages(gateway.settings.bootstrap, _all_topics(gateway))
    assert messages and not any(PERSON.encode() in m or LEGACY.encode() in m for m in messages)
    origin = f"shenyang-court/{response.json()['request_id']}#0"
    letter = next(d for d in gateway.dead_letters() if d["origin"] == origin)
    assert letter["reason"] == f"{field}: contains an ID number"
    opened = PayloadSeal(gateway.settings.pseudonym_key_bytes).open(letter["payload_sealed"])
    assert value.encode() in opened, "the original is kept, sealed"
    assert not any(
        PERSON.encode() in data or LEGACY.encode() in data for data in _files_under(gateway.settings.data_dir)
    )


def _all_topics(gateway: Gateway) -> list[str]:
    from jiandu.cli.hub import catalogue_of

    catalogue = catalogue_of(gateway.settings)
    return [catalogue.dead_letters, *(catalogue.event_topic(t) for t in ("court.execution_filed",))]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"records": [{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
        b'{"records": [{"a": ' + b"9" * 5000 + b"}]}",
        b'{"records": [{"a": "\\ud800"}]}',
        b'{"records": [{"a": 1e400}]}',
        b'{"records": [{"a": NaN}]}',
        b'{"records": [' + b"{}," * 10 + b"]}",
        b"\xff\xfe",
    ],
    ids=["100k-brackets", "deep-field", "5000-digits", "lone-surrogate", "1e400", "NaN", "trailing-comma", "not-utf8"],
)
def test_malformed_json_is_a_clear_400_and_a_dead_letter(gateway: Gateway, body: bytes) -> None:
    marked = body if body.startswith(b"[" * 1000) or body == b"\xff\xfe" else body + b" " * len(uuid4().hex)
    response = _post_raw(gateway, marked)
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_json", "invalid_request")
    assert response.json()["message"]
    seal = PayloadSeal(gateway.settings.pseudonym_key_bytes)
    kept = [seal.open(d["payload_sealed"]) for d in gateway.dead_letters() if d["reason"].startswith("the body")]
    assert marked in kept, "the malformed body is dead-lettered, sealed, with its reason"


def test_a_request_failing_part_way_has_no_effect(gateway: Gateway) -> None:
    assert gateway.push([execution(uuid4().hex[:8])]).json()["accepted"] == 1  # the topic is not empty
    number = uuid4().hex[:8]
    deep = b"[" * 5000 + b"]" * 5000
    first = execution(number)
    body = b'{"records": [' + json.dumps(first).encode() + b', {"deep": ' + deep + b"}]}"
    assert _post_raw(gateway, body).status_code == 400
    event_id = f"court:210100/court.execution_filed/E-{number}"
    assert not [e for e in gateway.events("court.execution_filed") if e["event_id"] == event_id]
    assert gateway.push([first]).json()["accepted"] == 1
    assert gateway.push([first]).json()["duplicate"] == 1
    assert len([e for e in gateway.events("court.execution_filed") if e["event_id"] == event_id]) == 1


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"jurisdiction": "210200"}, "jurisdiction", "jurisdiction_not_allowed"),
        ({"source": 'court:210100:"><marquee>x'}, "source", "source_format"),
    ],
)
def test_jurisdiction_and_source_unit_are_checked(
    gateway: Gateway, changes: dict[str, Any], field: str, rule: str
) -> None:
    answer = gateway.push([execution(uuid4().hex[:8], **changes)]).json()["results"][0]
    assert (answer["status"], answer["field"], answer["rule"]) == ("rejected", field, rule)


def test_broker_unavailable_is_a_prompt_503_with_retry_after(tmp_path: Path) -> None:
    own = EmbeddedBroker(find_free_port(), log_path=tmp_path / "tansu.log")
    own.start()
    tokens = write_agencies(tmp_path / "agencies.yaml")
    settings = settings_for(
        own.bootstrap,
        f"u{uuid4().hex[:10]}",
        data_dir=tmp_path / "data",
        gateway_agencies=str(tmp_path / "agencies.yaml"),
        gateway_confirm_seconds=3.0,
    )
    server, publisher, receipts = open_gateway(settings, 0)
    gateway = Gateway(settings, server.url, tokens)
    try:
        assert gateway.push([execution(uuid4().hex[:8])]).json()["accepted"] == 1
        own.stop()
        started = time.monotonic()
        first = gateway.push([execution(uuid4().hex[:8])])
        assert first.status_code == 503 and int(first.headers["Retry-After"]) >= 1, first.text
        assert time.monotonic() - started < 10
        started = time.monotonic()
        second = gateway.push([execution(uuid4().hex[:8])])
        assert second.status_code == 503 and "Retry-After" in second.headers
        assert time.monotonic() - started < 1, "during an outage the answer is immediate"
    finally:
        server.stop()
        receipts.close()
        own.stop()
        with contextlib.suppress(DeliveryError):  # the broker is gone: what is queued cannot be confirmed
            publisher.close()


def test_a_token_flood_is_throttled_and_does_not_slow_a_legitimate_push(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import statistics
    import threading

    tokens = write_agencies(tmp_path / "agencies.yaml")
    settings = settings_for(
        broker.bootstrap,
        f"v{uuid4().hex[:10]}",
        data_dir=tmp_path / "data",
        gateway_agencies=str(tmp_path / "agencies.yaml"),
        gateway_rate_requests_per_second=0.0,
    )
    server, publisher, receipts = open_gateway(settings, 0)
    gateway = Gateway(settings, server.url, tokens)
    wrong = f"shenyang-court.{'x' * 43}"
    flood_statuses: list[int] = []
    try:
        quiet = [_timed_push(gateway) for _ in range(10)]

        def flood() -> None:
            with httpx.Client(timeout=30) as client:
                for _ in range(50):
                    headers = {"Authorization": f"Bearer {wrong}"}
                    answer = client.post(f"{gateway.url}{BATCH_PATH}", json={"records": []}, headers=headers)
                    flood_statuses.append(answer.status_code)

        flooders = [threading.Thread(target=flood) for _ in range(8)]
        for thread in flooders:
            thread.start()
        loaded = [_timed_push(gateway) for _ in range(10)]
        for thread in flooders:
            thread.join()
    finally:
        server.stop()
        publisher.close()
        receipts.close()
    assert len(flood_statuses) == 400 and set(flood_statuses) <= {401, 429}
    assert flood_statuses.count(401) <= 50, "10 free failures, then backoff, then locked out: the rest never checked"
    assert flood_statuses.count(429) >= 350
    with capsys.disabled():
        print(
            f"\npush latency, quiet p50 {statistics.median(quiet) * 1000:.0f} ms; "
            f"under a flood of 400 wrong tokens p50 {statistics.median(loaded) * 1000:.0f} ms, "
            f"max {max(loaded) * 1000:.0f} ms"
        )
    assert statistics.median(loaded) < 0.5


def _timed_push(gateway: Gateway) -> float:
    started = time.perf_counter()
    response = gateway.push([execution(uuid4().hex[:8])])
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


def test_every_answer_carries_the_security_headers(gateway: Gateway) -> None:
    for response in (
        httpx.get(f"{gateway.url}/openapi.json"),
        httpx.get(f"{gateway.url}/nowhere"),
        httpx.post(f"{gateway.url}{BATCH_PATH}", content=b"{}"),
        _post_raw(gateway, b"[" * 1000),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
