"""The poller on a real simulated agency and the real intake (publisher in memory): pages, checkpoints, failures."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.agency_sim import AgencyFeed, AgencySimulator
from adapters.leasing import SoleOwner
from adapters.rest import (
    AgencyClient,
    Checkpoint,
    CheckpointStore,
    RestPull,
    SourceConfig,
    SourcePoller,
    SourceUnavailable,
)
from jiandu.core.records import CATEGORIES, RECORD_TYPES
from jiandu.errors import DeliveryError
from jiandu.serde import AvroCodec
from jiandu.simulate import generate_history
from jiandu.topics import TopicCatalogue
from producers import RecordIntake

pytestmark = pytest.mark.timeout(30)

SOURCE = "agency:sim"
_CODEC = AvroCodec()


class MemoryPublisher:
    """Stands in for KafkaPublisher: keeps what it confirmed; ``before_confirm`` may inspect or fail a confirm."""

    def __init__(self) -> None:
        self.confirmed: list[tuple[str, bytes]] = []
        self.before_confirm: Callable[[], None] | None = None
        self._pending: list[tuple[str, bytes, Callable[[], None] | None]] = []

    def send(self, topic: str, key: str, value: bytes, on_success: Callable[[], None] | None = None, **_: Any) -> None:
        self._pending.append((topic, value, on_success))

    def confirm(self, timeout: float = 120.0) -> None:
        pending, self._pending = self._pending, []
        if self.before_confirm is not None:
            self.before_confirm()  # raising here drops the batch, as a failed flush does
        for topic, value, on_success in pending:
            self.confirmed.append((topic, value))
            if on_success:
                on_success()

    def event_ids(self) -> set[str]:
        return {_CODEC.decode(v)[1]["event_id"] for t, v in self.confirmed if ".events." in t}

    def dead_letters(self) -> list[dict[str, Any]]:
        return [_CODEC.decode(v)[1] for t, v in self.confirmed if t.endswith(".deadletter")]


@pytest.fixture(scope="module")
def history_records() -> tuple[list[dict[str, Any]], set[str], set[str | None]]:
    """(records, event ids of the valid ones, source record ids of the invalid ones) of a small generated history."""
    history = generate_history(seed=5, persons=12, start=datetime(2024, 1, 1, tzinfo=UTC), days=35)
    invalid_lines = set(history.invalid_lines)
    records: list[dict[str, Any]] = []
    valid: set[str] = set()
    invalid: set[str | None] = set()
    for line, record in enumerate(history.records, 1):
        if not isinstance(record, dict):
            continue
        records.append(record)
        if line in invalid_lines:
            invalid.add(record.get("source_record_id"))
        else:
            valid.add(f"{record['source']}/{record['type']}/{record['source_record_id']}")
    assert len(records) > 40 and invalid
    return records, valid, invalid


@pytest.fixture
def sim(history_records: tuple[list[dict[str, Any]], set[str], set[str]]) -> Iterator[AgencySimulator]:
    with AgencySimulator(AgencyFeed(history_records[0])) as simulator:
        yield simulator


def _poller(
    sim_url: str,
    tmp_path: Path,
    publisher: MemoryPublisher,
    *,
    transport: httpx.BaseTransport | None = None,
    stop: threading.Event | None = None,
    **changes: Any,
) -> SourcePoller:
    values = {"source": SOURCE, "base_url": sim_url, "allowed_sources": CATEGORIES, "page_size": 9, **changes}
    config = SourceConfig(**{"backoff_seconds": 0.01, **values})
    intake = RecordIntake(publisher, TopicCatalogue("t", 1), b"k", adapter="rest-pull")  # type: ignore[arg-type]
    client = AgencyClient(config, transport=transport, stop=stop)
    return SourcePoller(config, intake, CheckpointStore(_owner(tmp_path)), client=client, stop=stop)


class _CountingOwner(SoleOwner):
    """Every checkpoint in memory, and how many were written."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def save(self, unit: str, document: dict[str, Any]) -> None:
        self.saves += 1
        super().save(unit, document)


_OWNERS: dict[Path, _CountingOwner] = {}


def _owner(tmp_path: Path) -> _CountingOwner:
    """The checkpoints of one test (its tmp_path names it)."""
    return _OWNERS.setdefault(tmp_path, _CountingOwner())


def _records(tmp_path: Path) -> int:
    return CheckpointStore(_owner(tmp_path)).load(SOURCE).records


def _answering(body: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda _: httpx.Response(200, json=body))


@pytest.mark.parametrize("cursor", ["since", "page_token"])
def test_a_poll_reads_every_page_and_checkpoints_each(
    sim: AgencySimulator, tmp_path: Path, history_records: tuple[Any, set[str], set[str]], cursor: str
) -> None:
    records, valid, invalid = history_records
    publisher = MemoryPublisher()
    poller = _poller(sim.url, tmp_path, publisher, cursor=cursor)
    summary = poller.poll()
    pages = -(-len(records) // 9)
    assert (summary.pages, summary.records) == (pages, len(records))
    assert summary.accepted + summary.rejected == len(records)
    assert publisher.event_ids() == valid
    letters = publisher.dead_letters()
    assert {letter["source_record_id"] for letter in letters} == invalid
    assert all(letter["origin"].startswith(f"rest:{SOURCE}:") for letter in letters)
    assert {letter["adapter"] for letter in letters} == {"rest-pull"}
    page, index = map(int, letters[0]["origin"].rsplit(":", 2)[1:])
    assert records[(page - 1) * 9 + index]["source_record_id"] == letters[0]["source_record_id"]
    checkpoint = CheckpointStore(_owner(tmp_path)).load(SOURCE)
    assert (checkpoint.cursor, checkpoint.page_token, checkpoint.pages) == (f"c{len(records)}", None, pages)

    saves, requests = _owner(tmp_path).saves, len(sim.served())
    assert poller.poll().pages == 0, "nothing new"
    assert _owner(tmp_path).saves == saves, "an empty poll does not rewrite the checkpoint"
    assert len(sim.served()) == requests + 1
    poller.close()


def test_the_checkpoint_never_moves_past_unconfirmed_records(
    sim: AgencySimulator, tmp_path: Path, history_records: tuple[Any, set[str], set[str]]
) -> None:
    valid = history_records[1]
    publisher = MemoryPublisher()
    poller = _poller(sim.url, tmp_path, publisher)
    store = CheckpointStore(_owner(tmp_path))
    confirms: list[int] = []

    def check_then_fail_the_third() -> None:
        confirms.append(store.load(SOURCE).records)
        confirmed_records = len(confirms) - 1 if len(confirms) <= 3 else len(confirms) - 2
        assert store.load(SOURCE).records == 9 * confirmed_records, "only confirmed pages are in the checkpoint"
        if len(confirms) == 3:
            raise DeliveryError("broker did not acknowledge")

    publisher.before_confirm = check_then_fail_the_third
    with pytest.raises(DeliveryError):
        poller.poll()
    assert store.load(SOURCE).records == 18 and store.load(SOURCE).cursor == "c18"
    assert len(publisher.event_ids()) <= 18

    summary = poller.poll()
    assert summary.records == sim.feed.total - 18
    starts = [r.start for r in sim.served() if r.is_page]
    assert starts.count(18) == 2, "the unconfirmed page is fetched again"
    assert publisher.event_ids() == valid
    assert store.load(SOURCE).records == sim.feed.total
    poller.close()


def test_a_live_feed_is_followed_poll_after_poll(tmp_path: Path) -> None:
    records = [
        {"type": "x", "source": "police:210102", "source_record_id": str(i), "occurred_at": "2024-01-01T00:00:00"}
        for i in range(30)
    ]
    now = [0.0]
    with AgencySimulator(AgencyFeed(records, initial=10, per_second=1.0, clock=lambda: now[0])) as simulator:
        publisher = MemoryPublisher()
        poller = _poller(simulator.url, tmp_path, publisher, cursor="page_token")
        assert poller.poll().records == 10
        now[0] = 15
        assert poller.poll().records == 15
        assert poller.poll().records == 0
        now[0] = 60
        assert poller.poll().records == 5
        assert len(publisher.dead_letters()) == 30  # type "x" is not a record type: dead-lettered, not dropped
        poller.close()


def test_entries_that_are_not_objects_are_dead_lettered(tmp_path: Path) -> None:
    body = {"records": [7, "text", None], "next_page_token": None, "cursor": "c3"}
    publisher = MemoryPublisher()
    poller = _poller("http://agency.test", tmp_path, publisher, transport=_answering(body))
    assert poller.poll().rejected == 3
    assert {letter["reason"] for letter in publisher.dead_letters()} == {"a record must be a JSON object"}


def test_an_agency_that_does_not_move_its_cursor_cannot_loop_the_poller(tmp_path: Path) -> None:
    body = {"records": [{"a": 1}], "next_page_token": "t1", "cursor": "c0"}
    poller = _poller("http://agency.test", tmp_path, MemoryPublisher(), transport=_answering(body))
    store = CheckpointStore(_owner(tmp_path))
    with pytest.raises(SourceUnavailable, match="without moving its cursor"):
        poller.poll()  # the first page moves from nothing to c0; the second stays at c0
    assert store.load(SOURCE).pages == 1


def test_rest_pull_runs_each_source_in_its_own_thread_and_reports_failures(tmp_path: Path) -> None:
    records = [{"type": "x", "source": "a:1", "source_record_id": str(i)} for i in range(12)]
    with AgencySimulator(AgencyFeed(records)) as good:
        sources = [
            SourceConfig(source="a:1", base_url=good.url, allowed_sources=("police",), page_size=5),
            SourceConfig(source="b:1", base_url=good.url, allowed_sources=("police",), path="/nope", page_size=5),
        ]
        publishers: dict[str, MemoryPublisher] = {}

        owner = _owner(tmp_path)

        def open_source(config: SourceConfig) -> tuple[Any, Any, Any]:
            publisher = publishers.setdefault(config.source, MemoryPublisher())
            publisher.close = lambda: None  # type: ignore[attr-defined]
            intake = RecordIntake(publisher, TopicCatalogue("t", 1), b"k", adapter="rest-pull")  # type: ignore[arg-type]
            return publisher, intake, owner

        pull = RestPull(sources, open_source, owner, once=True).start()
        assert pull.wait(timeout=20)
    assert pull.outcomes["a:1"].summary.records == 12 and pull.outcomes["a:1"].error is None
    assert [o.source for o in pull.failed] == ["b:1"] and "HTTP 404" in str(pull.outcomes["b:1"].error)
    assert len(publishers["a:1"].dead_letters()) == 12


def test_run_keeps_polling_until_stopped(sim: AgencySimulator, tmp_path: Path) -> None:
    sim.set_faults({"http_500": 3})
    stop = threading.Event()
    poller = _poller(sim.url, tmp_path, MemoryPublisher(), stop=stop, max_attempts=2, poll_interval_seconds=0.05)
    thread = threading.Thread(target=poller.run)
    thread.start()
    deadline = threading.Event()
    while not deadline.wait(0.05):
        if CheckpointStore(_owner(tmp_path)).load(SOURCE).records == sim.feed.total:
            break
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert CheckpointStore(_owner(tmp_path)).load(SOURCE).records == sim.feed.total, (
        "the failed poll was followed by another"
    )
    poller.close()


def test_a_refused_page_token_falls_back_to_the_cursor_kept_beside_it(sim: AgencySimulator, tmp_path: Path) -> None:
    store = CheckpointStore(_owner(tmp_path))
    store.save(Checkpoint(SOURCE, cursor="c9", page_token="expired-token", pages=1, records=9))
    poller = _poller(sim.url, tmp_path, MemoryPublisher(), cursor="page_token")
    summary = poller.poll()
    assert summary.records == sim.feed.total - 9
    assert [r.status for r in sim.served()][:2] == [400, 200]
    assert store.load(SOURCE).records == sim.feed.total
    poller.close()


def test_records_outside_the_feeds_allowed_sources_and_types_are_dead_lettered(
    sim: AgencySimulator, tmp_path: Path, history_records: tuple[list[dict[str, Any]], set[str], set[str]]
) -> None:
    records, valid, _ = history_records
    sim.set_faults({"foreign_source": 2})  # copies of a valid record, in another agency's name
    publisher = MemoryPublisher()
    poller = _poller(sim.url, tmp_path, publisher, allowed_sources=("police",), allowed_types=("police.lodging",))
    summary = poller.poll()
    poller.close()
    assert summary.records == len(records) + 2 and summary.accepted + summary.rejected == summary.records
    assert publisher.event_ids() == {i for i in valid if i.startswith("police:") and "/police.lodging/" in i}
    refused = {
        str(letter["source_record_id"]): letter["reason"].split(":", 1)[0]
        for letter in publisher.dead_letters()
        if "not allowed for agency feed agency:sim" in letter["reason"]
    }
    expected = {
        str(r["source_record_id"]): "source" if not str(r["source"]).startswith("police:") else "type"
        for r in sim.feed.records()
        if re.fullmatch(r"[a-z]+:\d{6}(:.+)?", str(r.get("source"))) and r.get("type") in RECORD_TYPES
        if not str(r["source"]).startswith("police:") or r["type"] != "police.lodging"
    }
    assert refused == expected and {"SIM-FOREIGN-0001", "SIM-FOREIGN-0002"} <= refused.keys()
    assert {"source", "type"} == set(refused.values())
    assert CheckpointStore(_owner(tmp_path)).load(SOURCE).records == summary.records, (
        "refused records do not stall the feed"
    )
