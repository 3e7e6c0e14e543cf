"""The push API against the real broker: a real HTTP server on 127.0.0.1, an httpx client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from adapters.gateway import BATCH_PATH, hash_token, new_token
from jiandu.broker import EmbeddedBroker
from jiandu.cli.gateway import open_gateway
from jiandu.cli.hub import catalogue_of
from jiandu.core.identity import make_id_number
from jiandu.core.sealing import PayloadSeal
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from tests.pipeline import all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

PERSON = make_id_number("210102", date(1985, 3, 17), 241)
BAD_CHECK = PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")


class Gateway:
    """A running gateway, its settings and tokens."""

    def __init__(self, settings: Settings, url: str, tokens: dict[str, str]) -> None:
        self.settings, self.url, self.tokens = settings, url, tokens

    def push(self, records: list[Any], agency: str = "shenyang-court", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[agency]}"}
        return httpx.post(f"{self.url}{BATCH_PATH}", json={"records": records}, headers=headers, timeout=30, **kw)

    def events(self, record_type: str) -> list[dict[str, Any]]:
        topic = catalogue_of(self.settings).event_topic(record_type)
        codec = AvroCodec()
        return [codec.decode(m.split(b"\0", 1)[1])[1] for m in all_messages(self.settings.bootstrap, [topic])]

    def dead_letters(self) -> list[dict[str, Any]]:
        topic = catalogue_of(self.settings).dead_letters
        codec = AvroCodec()
        return [codec.decode(m.split(b"\0", 1)[1])[1] for m in all_messages(self.settings.bootstrap, [topic])]


def write_agencies(path: Path) -> dict[str, str]:
    """A credentials file with a court and a police agency; returns their tokens."""
    tokens = {agency: new_token(agency) for agency in ("shenyang-court", "shenyang-police")}
    path.write_text(
        f"""agencies:
  - id: shenyang-court
    category: court
    sources: ["court:210100"]
    token_hash: "{hash_token(tokens["shenyang-court"])}"
  - id: shenyang-police
    category: police
    sources: ["police:2101"]
    token_hash: "{hash_token(tokens["shenyang-police"])}"
""",
        encoding="utf-8",
    )
    return tokens


@pytest.fixture(scope="module")
def gateway(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the module (its own topic prefix and data dir); tests use distinct record ids."""
    work = tmp_path_factory.mktemp("gateway")
    tokens = write_agencies(work / "agencies.yaml")
    settings = settings_for(
        broker.bootstrap,
        f"g{uuid4().hex[:10]}",
        data_dir=work / "data",
        gateway_agencies=str(work / "agencies.yaml"),
        gateway_max_request_bytes=64 * 1024,
        gateway_max_records=50,
    )
    server, publisher, receipts = open_gateway(settings, 0)
    try:
        yield Gateway(settings, server.url, tokens)
    finally:
        server.stop()
        publisher.close()
        receipts.close()


def execution(number: str, **changes: Any) -> dict[str, Any]:
    """A valid court.execution_filed record of court:210100."""
    record: dict[str, Any] = {
        "type": "court.execution_filed",
        "source": "court:210100",
        "source_record_id": f"E-{number}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "jurisdiction": "210100",
        "execution_no": f"E-{number}",
        "case_no": f"(2024)辽01刑初{number}号",
        "id_number": PERSON,
    }
    record.update(changes)
    return record


def test_valid_records_are_accepted_and_arrive_as_events(gateway: Gateway) -> None:
    run = uuid4().hex[:6]
    response = gateway.push([execution(f"{run}-1"), execution(f"{run}-2", source="court:210100:criminal-2")])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted"]
    assert response.headers["X-Request-Id"] == body["request_id"]
    events = {e["event_id"]: e for e in gateway.events("court.execution_filed")}
    ids = [r["event_id"] for r in body["results"]]
    assert set(ids) <= events.keys(), "accepted means on Kafka, confirmed"
    assert events[ids[0]]["person_key"] != PERSON and len(events[ids[0]]["person_key"]) == 64


def test_a_wrong_or_missing_credential_is_401(gateway: Gateway) -> None:
    url = f"{gateway.url}{BATCH_PATH}"
    body = {"records": [execution("never")]}
    stolen_secret = "shenyang-police." + gateway.tokens["shenyang-court"].split(".", 1)[1]
    for headers in ({}, {"Authorization": "Bearer shenyang-court.wrong"}, {"Authorization": f"Bearer {stolen_secret}"}):
        response = httpx.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized" and "Bearer" in response.json()["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_foreign_source_or_a_type_the_agency_does_not_own_is_rejected_and_dead_lettered(gateway: Gateway) -> None:
    run = uuid4().hex[:6]
    foreign = execution(f"{run}-f", source="court:210200")
    police_type = {**execution(f"{run}-t"), "type": "police.arrest_requested"}
    body = gateway.push([execution(f"{run}-ok"), foreign, police_type]).json()
    assert [(r["status"], r.get("field"), r.get("rule")) for r in body["results"]] == [
        ("accepted", None, None),
        ("rejected", "source", "source_not_allowed"),
        ("rejected", "type", "type_not_allowed"),
    ]
    assert (
        "court:210200" in body["results"][1]["message"] and "police.arrest_requested" in body["results"][2]["message"]
    )
    letters = {letter["source_record_id"]: letter for letter in gateway.dead_letters()}
    letter = letters[f"E-{run}-f"]
    assert letter["adapter"] == "gateway" and letter["origin"] == f"shenyang-court/{body['request_id']}#1"
    assert letter["source"] == "court:210200" and "not allowed for agency shenyang-court" in letter["reason"]
    assert json.loads(PayloadSeal(gateway.settings.pseudonym_key_bytes).open(letter["payload_sealed"])) == foreign
    assert PERSON.encode() not in letter["payload_sealed"], "sealed, not in clear"


def test_an_invalid_id_number_is_answered_with_field_and_rule(gateway: Gateway) -> None:
    response = gateway.push([execution(uuid4().hex[:6], id_number=BAD_CHECK)])
    (result,) = response.json()["results"]
    assert (result["status"], result["field"], result["rule"]) == ("rejected", "id_number", "check_character")
    assert result["message"] == "id_number: wrong check character"
    assert BAD_CHECK not in response.text


def test_a_re_sent_event_id_is_a_duplicate_and_not_published_again(gateway: Gateway) -> None:
    record = execution(uuid4().hex[:6])
    first = gateway.push([record]).json()["results"][0]
    assert first["status"] == "accepted"
    again = gateway.push([record]).json()
    assert again["results"][0]["status"] == "duplicate" and again["duplicate"] == 1 and again["accepted"] == 0
    published = [e for e in gateway.events("court.execution_filed") if e["event_id"] == first["event_id"]]
    assert len(published) == 1


def test_concurrent_requests_are_each_answered_for_their_own_records(gateway: Gateway) -> None:
    from concurrent.futures import ThreadPoolExecutor

    run = uuid4().hex[:6]
    batches = [[execution(f"{run}-{b}-{i}") for i in range(10)] for b in range(4)]
    with ThreadPoolExecutor(4) as pool:
        bodies = [r.json() for r in pool.map(gateway.push, batches)]
    for batch, body in zip(batches, bodies, strict=True):
        assert body["accepted"] == 10
        assert [r["event_id"].rsplit("/", 1)[1] for r in body["results"]] == [r["source_record_id"] for r in batch]
    published = {e["source_record_id"] for e in gateway.events("court.execution_filed")}
    assert {r["source_record_id"] for batch in batches for r in batch} <= published


def test_oversized_requests_are_413_with_a_clear_message(gateway: Gateway) -> None:
    too_many = gateway.push([execution(f"many-{i}") for i in range(51)])
    assert too_many.status_code == 413
    assert too_many.json()["error"] == "too_many_records" and "at most 50" in too_many.json()["message"]
    padding = "x" * (70 * 1024)
    too_big = gateway.push([execution("big", case_no=padding)])
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "request_too_large" and "65536 bytes" in too_big.json()["message"]
    streamed = httpx.post(
        f"{gateway.url}{BATCH_PATH}",
        content=iter([b'{"records": ["', padding.encode(), b'"]}']),  # no Content-Length: read up to the limit
        headers={"Authorization": f"Bearer {gateway.tokens['shenyang-court']}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert streamed.status_code == 413


def test_malformed_bodies_are_400_and_415(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.tokens['shenyang-police']}"}
    url = f"{gateway.url}{BATCH_PATH}"
    not_json = httpx.post(url, content=b"{records", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_json"
    wrong_shape = httpx.post(url, json=[{"type": "police.case_filed"}], headers=headers)
    assert wrong_shape.status_code == 400 and "records" in wrong_shape.json()["message"]
    form = httpx.post(url, content=b"a=b", headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415


def test_openapi_and_health(gateway: Gateway) -> None:
    document = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0" and BATCH_PATH in document["paths"]
    assert document["components"]["schemas"]["BatchRequest"]["properties"]["records"]["maxItems"] == 50
    assert httpx.get(f"{gateway.url}/healthz", timeout=10).json() == {"status": "ok", "agencies": 2}


def test_the_gateway_command_serves_until_sigterm(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> None:
    tokens = write_agencies(tmp_path / "agencies.yaml")
    settings = settings_for(
        broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", gateway_agencies=str(tmp_path / "agencies.yaml")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")}
    env.update(settings.to_env())
    process = subprocess.Popen(
        [sys.executable, "-m", "jiandu.cli", "gateway", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("gateway: http://127.0.0.1:"), line + (process.stderr.read() if process.stderr else "")
        base = line.split()[1].removesuffix(BATCH_PATH)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        response = httpx.post(
            f"{base}{BATCH_PATH}",
            json={"records": [execution("cli")]},
            headers={"Authorization": f"Bearer {tokens['shenyang-court']}"},
            timeout=30,
        )
        assert response.json()["accepted"] == 1
    finally:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_hash_token_issues_a_token_and_its_hash() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jiandu.cli", "gateway", "hash-token", "--agency", "dalian-prison"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    token = done.stderr.strip().rsplit(" ", 1)[1]
    stored = done.stdout.strip().removeprefix('token_hash: "').removesuffix('"')
    from adapters.gateway import verify_token

    assert token.startswith("dalian-prison.") and verify_token(token, stored)
