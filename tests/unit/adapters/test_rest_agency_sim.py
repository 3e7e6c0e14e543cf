"""The simulated agency: paging by cursor, page token and instant; live uploads; faults over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.agency_sim import AgencyFeed, AgencySimulator, FaultPlan, load_records, parse_fault_options
from adapters.agency_sim.feed import FeedQueryError


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "police.lodging",
            "source": "police:210102" if i % 2 else "police:210102:hotel",
            "source_record_id": f"R{i:04d}",
            "occurred_at": f"2024-03-{1 + i // 10:02d}T10:00:00+08:00",
            "jurisdiction": "210102",
            "id_number": "11010519491231002X",
            "city_code": "210102",
            "hotel_id": "H1",
        }
        for i in range(count)
    ]


@pytest.fixture
def sim() -> Iterator[AgencySimulator]:
    with AgencySimulator(AgencyFeed(_records(25))) as simulator:
        yield simulator


def test_cursor_and_page_token_walk_the_feed_in_upload_order() -> None:
    feed = AgencyFeed(_records(25))
    first = feed.page(since=None, page_token=None, limit=10)
    assert [r["source_record_id"] for r in first.records] == [f"R{i:04d}" for i in range(10)]
    assert (first.next_page_token, first.cursor) == ("t10", "c10")
    second = feed.page(since=None, page_token=first.next_page_token, limit=10)
    by_cursor = feed.page(since=first.cursor, page_token=None, limit=10)
    assert second.records == by_cursor.records
    last = feed.page(since="c20", page_token=None, limit=10)
    assert (len(last.records), last.next_page_token, last.cursor) == (5, None, "c25")
    empty = feed.page(since="c25", page_token=None, limit=10)
    assert (empty.records, empty.next_page_token, empty.cursor) == ([], None, "c25")


def test_since_an_instant_means_uploaded_at_or_after() -> None:
    feed = AgencyFeed(_records(25))
    page = feed.page(since="2024-03-02T00:00:00+08:00", page_token=None, limit=100)
    assert page.records[0]["source_record_id"] == "R0010" and len(page.records) == 15
    with pytest.raises(FeedQueryError, match="neither a cursor nor an ISO 8601"):
        feed.page(since="yesterday", page_token=None, limit=10)
    with pytest.raises(FeedQueryError, match="limit 0"):
        feed.page(since=None, page_token=None, limit=0)


def test_records_appear_over_time_and_injected_ones_keep_cursors_valid() -> None:
    now = [0.0]
    feed = AgencyFeed(_records(25), initial=5, per_second=2.0, clock=lambda: now[0])
    assert feed.visible() == 5
    now[0] = 2.5
    assert feed.visible() == 10
    at = feed.insert({"source_record_id": "X"})
    assert at == 10 and feed.visible() == 11
    page = feed.page(since="c5", page_token=None, limit=100)
    assert [r["source_record_id"] for r in page.records][-1] == "X" and page.cursor == "c11"
    now[0] = 100
    assert feed.visible() == feed.total == 26


def test_load_records_keeps_json_objects_of_the_wanted_sources(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    lines = [json.dumps(r) for r in _records(4)] + ["{broken", "[1, 2]", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    records, skipped = load_records(path, ["police:210102:hotel"])
    assert [r["source_record_id"] for r in records] == ["R0000", "R0002"]
    assert skipped == 4  # two of another source, a broken line, an array
    assert len(load_records(path)[0]) == 4


def test_faults_over_http_then_the_page(sim: AgencySimulator) -> None:
    client = httpx.Client(base_url=sim.url, timeout=0.3)
    plan = client.post("/_faults", json={"http_500": 1, "rate_limit": 1, "retry_after": 3, "malformed": 1}).json()
    assert (plan["http_500"], plan["rate_limit"], plan["malformed"]) == (1, 1, 1)
    assert client.get("/api/v1/records").status_code == 500
    limited = client.get("/api/v1/records")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    broken = client.get("/api/v1/records")
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    client.post("/_faults", json={"timeout": 1, "timeout_seconds": 2})
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v1/records")
    body = client.get("/api/v1/records", params={"limit": 30}).json()
    assert len(body["records"]) == 25 and body["next_page_token"] is None and body["cursor"] == "c25"
    assert client.post("/_faults", json={"bogus": 1}).status_code == 400
    assert client.get("/api/v1/records", params={"page_token": "zzz"}).status_code == 400
    stats = client.get("/_stats").json()
    assert (stats["pages"], stats["records_served"], stats["total"]) == (1, 25, 25)
    client.close()


def test_bad_id_records_are_added_visible_and_fail_the_check_character(sim: AgencySimulator) -> None:
    sim.set_faults({"bad_id": 2})
    assert sim.feed.total == 27
    bad = [r for r in sim.feed.records() if r["source_record_id"].startswith("SIM-BAD-")]
    assert len(bad) == 2 and all(r["id_number"] != "11010519491231002X" for r in bad)
    assert all(r["id_number"][:17] == "11010519491231002" for r in bad)


def test_foreign_source_records_claim_another_agency_and_are_otherwise_valid(sim: AgencySimulator) -> None:
    sim.set_faults({"foreign_source": 2})
    assert sim.feed.total == 27 and sim.faults.snapshot().foreign_source == 0
    foreign = [r for r in sim.feed.records() if r["source_record_id"].startswith("SIM-FOREIGN-")]
    assert [r["source_record_id"] for r in foreign] == ["SIM-FOREIGN-0001", "SIM-FOREIGN-0002"]
    assert {r["source"].split(":", 1)[0] for r in foreign} == {"court"}, "a police feed's record in a court's name"
    assert all(r["id_number"] == "11010519491231002X" and r["type"] == "police.lodging" for r in foreign)


def test_a_token_guards_the_records_api() -> None:
    with AgencySimulator(AgencyFeed(_records(3)), token="t0k") as simulator:
        assert httpx.get(f"{simulator.url}/api/v1/records").status_code == 401
        ok = httpx.get(f"{simulator.url}/api/v1/records", headers={"Authorization": "Bearer t0k"})
        assert len(ok.json()["records"]) == 3


def test_fault_options_are_checked() -> None:
    assert parse_fault_options(["http_500=3", "timeout_seconds=1.5"]) == {"http_500": 3, "timeout_seconds": 1.5}
    with pytest.raises(ValueError, match="unknown fault 'http_503'"):
        parse_fault_options(["http_503=1"])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_fault_options(["http_500"])
    with pytest.raises(ValueError, match="non-negative"):
        FaultPlan(**parse_fault_options(["retry_after=-1"]))  # type: ignore[arg-type]
