"""Hostile values the fuzz runs found or the report named: each a clear rejection, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiandu.core.identity import Pseudonymiser
from jiandu.core.jsoninput import MAX_DEPTH, JsonInputError, nests_deeper_than, parse_json
from jiandu.core.validation import to_event
from jiandu.errors import RecordError
from tests.unit.security.test_security_id_in_text import VALID


@pytest.mark.parametrize("value", [1e308, "1e308", "9" * 5000, 10**40])
def test_a_huge_decimal_is_beyond_range_not_a_crash(value: object) -> None:
    record = {**VALID["admin.penalty_decided"], "amount_cny": value}
    with pytest.raises(RecordError, match="amount_cny: beyond decimal"):
        to_event(record, Pseudonymiser(b"k"), 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 100_000, "depth limit exceeded"),
        (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", f"nested deeper than {MAX_DEPTH} levels"),
        (b'{"a": 1e400}', "infinity"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b"\xff", "not valid JSON"),
    ],
)
def test_hostile_json_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(JsonInputError, match=message):
        parse_json(data)


_JSON = st.recursive(
    st.none() | st.integers(-5, 5) | st.text(alphabet="[]{}ab", max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="[{a", max_size=3), inner, max_size=3),
    max_leaves=60,
)


@settings(max_examples=300, derandomize=True)
@given(document=_JSON, limit=st.integers(min_value=1, max_value=8))
def test_parse_json_refuses_exactly_the_documents_nested_deeper_than_the_limit(document: object, limit: int) -> None:
    """Brackets are counted before the document is walked; brackets inside strings must not change the verdict."""
    data = json.dumps(document).encode()
    if nests_deeper_than(document, limit):
        with pytest.raises(JsonInputError, match=f"nested deeper than {limit} levels"):
            parse_json(data, max_depth=limit)
    else:
        assert parse_json(data, max_depth=limit) == document


def test_nesting_is_measured_without_recursion() -> None:
    value: object = 1
    for _ in range(100_000):
        value = [value]
    assert nests_deeper_than(value, MAX_DEPTH) and not nests_deeper_than({"a": [{"b": 1}]}, 3)


def test_a_record_nested_too_deeply_is_dead_lettered_and_the_feed_goes_on(tmp_path: object) -> None:
    """Once, one such record made every page unusable: the feed stalled behind it forever."""

    from adapters.leasing import SoleOwner
    from adapters.rest import CheckpointStore, SourceConfig, SourcePoller
    from benchmarks.fuzz import _Feed  # the long fuzz run's minimal agency API, serving anything
    from jiandu.core.records import CATEGORIES
    from jiandu.topics import TopicCatalogue
    from producers import RecordIntake
    from tests.unit.adapters.test_rest_poller import MemoryPublisher

    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    good = dict(VALID["police.case_filed"])
    records = [{**good, "source_record_id": "D1", "case_no": deep}, {**good, "source_record_id": "G1"}]
    publisher = MemoryPublisher()
    intake = RecordIntake(publisher, TopicCatalogue("unit", 1), b"k", adapter="rest-pull")  # type: ignore[arg-type]
    with _Feed([json.dumps(r) for r in records]) as url:
        config = SourceConfig(source="police:210100", base_url=url, allowed_sources=CATEGORIES, max_attempts=2)
        poller = SourcePoller(config, intake, CheckpointStore(SoleOwner()))
        assert poller.poll().records == 2
        poller.close()
    letters = publisher.dead_letters()
    assert len(letters) == 1 and "nested deeper than" in letters[0]["reason"]
    assert len(publisher.event_ids()) == 1


def test_json_lines_are_streamed_and_a_huge_line_arrives_cut(tmp_path: object) -> None:
    """`jiandu ingest` once read a whole file into memory (twice: the bytes and their lines)."""
    import tracemalloc
    from pathlib import Path

    from adapters.jsonl import read_lines

    path = Path(str(tmp_path)) / "huge.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b'{"x": "' + b"y" * (20 << 20) + b'"}\n' + b'{"b": 2}\n')
    tracemalloc.start()
    try:
        lines = [(n, len(line)) for n, line in read_lines(path, max_bytes=1 << 16)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == [(1, 8), (2, 1 << 16), (3, 8)]
    assert peak < 4 << 20


def test_an_oversized_rest_page_is_refused_without_being_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile agency API answering one page of gigabytes must not make the poller hold it."""
    import httpx

    import adapters.rest.client as client_module
    from adapters.rest import AgencyClient, SourceConfig, SourceUnavailable

    monkeypatch.setattr(client_module, "MAX_PAGE_BYTES", 1 << 20)
    served: list[int] = []

    def agency(request: httpx.Request) -> httpx.Response:
        served.append(1)
        chunks = (b"x" * (1 << 16) for _ in range(1000))  # 64 MiB, streamed, no length declared
        return httpx.Response(200, content=chunks)

    config = SourceConfig(source="police:210100", base_url="http://agency.test", max_attempts=2, backoff_seconds=0.01)
    client = AgencyClient(config, transport=httpx.MockTransport(agency))
    with pytest.raises(SourceUnavailable, match="page larger than 1048576 bytes; lower page_size"):
        client.fetch(since=None, page_token=None)
    assert len(served) == 2


def test_refused_exports_are_sealed_and_expire_like_processed_ones(tmp_path: object) -> None:
    """A file the hub would not read still holds raw ID numbers: sealed at rest, deleted after the retention."""
    import os
    from pathlib import Path

    from adapters.files import DoneFolders, FileSeal
    from adapters.files.filing import REFUSED, set_aside
    from jiandu.core.timeutil import format_cst, utc_now_ms

    drop = Path(str(tmp_path)) / "drop"
    folder = drop / "court_210102"
    folder.mkdir(parents=True)
    export = folder / "big.csv"
    export.write_bytes(b"id\n210102198503172415\n")
    (folder / "linked.csv").symlink_to(export)
    set_aside(export, {"folder": "court_210102", "file": "big.csv", "problem": "too large",
                       "finished_at": format_cst(utc_now_ms())}, REFUSED)  # fmt: skip
    set_aside(folder / "linked.csv", {"problem": "a link", "finished_at": format_cst(utc_now_ms())}, REFUSED)
    seal = FileSeal(b"k" * 16)
    done = DoneFolders(drop, seal, retention_days=1).sweep()
    refused = folder / REFUSED
    assert done.sealed == [refused / "big.csv.sealed"] and not (refused / "big.csv").exists()
    assert (refused / "linked.csv").is_symlink(), "a link is never read through"
    assert all(b"210102198503172415" not in p.read_bytes() for p in refused.iterdir() if not p.is_symlink())
    later = DoneFolders(drop, seal, retention_days=1).sweep(now_ms=utc_now_ms() + 2 * 86_400_000)
    assert refused / "big.csv.sealed" in later.deleted and not os.path.lexists(refused / "linked.csv")
