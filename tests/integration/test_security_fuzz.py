"""A short, seeded fuzz run through every way in (the long one: ``python -m benchmarks fuzz``).

Hostile records of every type (``benchmarks/hostile.py``: ID numbers in text fields, odd
values, deep nesting, huge lists, broken bytes) go through the intake, the push API
over HTTP, and the file drop, all on the real broker. Asserted: no 5xx, no exception
escaping, no raw ID number on any topic or in any file the hub writes, bounded memory.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.files import SHIPPED_MAPPINGS, FileDrop, FileSeal, load_mappings
from adapters.files.reading import RowLimits, read_rows
from adapters.gateway import BATCH_PATH
from benchmarks.hostile import Hostile, valid_records
from jiandu.broker import EmbeddedBroker
from jiandu.cli.gateway import open_gateway
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.core.jsoninput import JsonInputError, parse_json
from jiandu.core.records import RECORD_TYPES
from jiandu.topics import TopicCatalogue
from producers import RecordIntake
from tests.integration.test_gateway import write_agencies
from tests.pipeline import all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

BASE = valid_records()
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "exports"
FUZZ = settings(
    derandomize=True,  # seeded: the same examples on every run
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def forms(numbers: set[str]) -> list[bytes]:
    """Every written form of these ID numbers a leak could take: 18 and 15 characters, full-width."""
    out: set[bytes] = set()
    for number in numbers:
        for text in (number, number[:6] + number[8:17] if number[6:8] == "19" else number):
            out |= {text.encode(), text.lower().encode(), text.translate(_FULL_WIDTH).encode()}
    return sorted(out)


_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def leaks(data: bytes, hostile: Hostile) -> list[bytes]:
    return [f for f in forms({*hostile.planted, *hostile.base_ids}) if f in data]


class MemoryPublisher:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._pending: list[Callable[[], None]] = []

    def send(self, topic: str, key: str, value: bytes, on_success: Callable[[], None] | None = None) -> None:
        self.sent.append(key.encode() + b"\0" + value)
        self._pending.append(on_success or (lambda: None))

    def confirm(self) -> None:
        pending, self._pending = self._pending, []
        for callback in pending:
            callback()


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), record_type=st.sampled_from(sorted(RECORD_TYPES)))
def test_intake_of_every_record_type_never_crashes_and_never_leaks(seed: int, record_type: str) -> None:
    hostile = Hostile(seed, BASE)
    publisher = MemoryPublisher()
    intake = RecordIntake(publisher, TopicCatalogue("fuzz", 1), b"k", adapter="fuzz")  # type: ignore[arg-type]
    record = hostile.record(record_type)
    raw = json.dumps(record, ensure_ascii=False).encode()
    submitted = [intake.submit(record, raw, f"fuzz#{seed}"), intake.submit_bytes(hostile.body([record]), "body")]
    intake.confirm()
    assert len(publisher.sent) == 2 and all(s.origin for s in submitted)
    for message in publisher.sent:
        assert leaks(message, hostile) == []
    for submission in submitted:
        assert not leaks(repr(submission).encode(), hostile)


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode)))
def test_parsing_json_fails_only_with_a_clear_error(data: bytes) -> None:
    try:
        parse_json(data)
    except JsonInputError as exc:
        assert str(exc).startswith("not valid JSON")


@FUZZ
@given(content=st.binary(max_size=4000), file_format=st.sampled_from(["csv", "jsonl"]))
def test_reading_any_bytes_as_an_export_yields_rows_or_problems(content: bytes, file_format: str) -> None:
    with tempfile.NamedTemporaryFile(suffix=f".{file_format}") as handle:
        handle.write(content)
        handle.flush()
        for encoding in ("utf-8", "gb18030"):
            rows = list(read_rows(Path(handle.name), encoding, file_format=file_format, limits=RowLimits(512, 64)))
            assert all(len(row.raw) <= 512 for row in rows)


@pytest.fixture(scope="module")
def gateway(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, object]]:
    work = tmp_path_factory.mktemp("fuzz-gateway")
    tokens = write_agencies(work / "agencies.yaml")
    settings_ = settings_for(
        broker.bootstrap,
        f"f{uuid4().hex[:10]}",
        data_dir=work / "data",
        gateway_agencies=str(work / "agencies.yaml"),
        gateway_rate_requests_per_second=0.0,
        gateway_rate_records_per_second=0.0,
    )
    server, publisher, receipts = open_gateway(settings_, 0)
    try:
        yield server.url, tokens["shenyang-court"], settings_
    finally:
        server.stop()
        publisher.close()
        receipts.close()


def test_push_api_fuzz_no_5xx_no_leak_bounded_memory(gateway: tuple[str, str, object]) -> None:
    url, token, settings_ = gateway
    hostile = Hostile(20261207, BASE)
    court_types = sorted(t for t in RECORD_TYPES if t.startswith("court."))
    statuses: list[int] = []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(FUZZ, max_examples=80)
    @given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 5))
    def push(seed: int, count: int) -> None:
        local = Hostile(seed, BASE)
        local.planted = hostile.planted  # one pool, so that one grep covers every example
        records = [local.record(local.pick(court_types)) for _ in range(count)]
        body = local.body(records)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response = httpx.post(f"{url}{BATCH_PATH}", content=body, headers=headers, timeout=30)
        statuses.append(response.status_code)
        assert response.status_code in (200, 400, 413), response.text
        assert "error" in response.json() or "results" in response.json()
        assert leaks(response.content, hostile) == []

    push()
    assert statuses.count(200) > 10
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200, "the gateway is alive after the fuzz"
    catalogue = catalogue_of(settings_)  # type: ignore[arg-type]
    topics = [catalogue.dead_letters, *(catalogue.event_topic(t) for t in court_types)]
    messages = all_messages(settings_.bootstrap, topics)  # type: ignore[attr-defined]
    assert messages and [m for m in messages if leaks(m, hostile)] == []
    for file in Path(settings_.data_dir).rglob("*"):  # type: ignore[attr-defined]
        if file.is_file():
            assert leaks(file.read_bytes(), hostile) == [], file
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown < 400, f"the test process grew by {grown:.0f} MiB"


def test_file_drop_fuzz_every_mapping_no_crash_no_leak(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    shutil.copytree(SAMPLES, drop, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    hostile = Hostile(7, BASE)
    rng = hostile.random
    for export in sorted(p for p in drop.rglob("*") if p.is_file()):
        lines = export.read_bytes().split(b"\n")
        for _ in range(40):
            at = rng.randrange(1, max(2, len(lines)))
            line = bytearray(lines[rng.randrange(len(lines))])
            choice = rng.random()
            if choice < 0.4:
                cells = line.split(b",")
                cells[rng.randrange(len(cells))] = f"X{hostile.id_number()}号".encode()
                line = bytearray(b",".join(cells))
            elif choice < 0.6 and line:
                line[rng.randrange(len(line))] = rng.randrange(256)
            elif choice < 0.7:
                line = bytearray(b"x" * 300_000)
            elif choice < 0.8:
                line = bytearray(b"[" * 50_000)
            lines.insert(at, bytes(line))
        export.write_bytes(b"\n".join(lines))
    settings_ = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data")
    create_topics(settings_)
    publisher, intake = new_intake(settings_, adapter="filedrop")
    with publisher:
        receipts = list(
            FileDrop(
                drop,
                intake,
                load_mappings(SHIPPED_MAPPINGS),
                settle_seconds=0.1,
                seal=FileSeal(settings_.pseudonym_key_bytes),
            ).run(once=True)
        )
    assert len(receipts) == 10 and all("rows" in r.document for r in receipts)
    catalogue = catalogue_of(settings_)
    messages = all_messages(broker.bootstrap, [catalogue.dead_letters, *catalogue.event_topics()])
    assert [m for m in messages if leaks(m, hostile)] == []
    for file in (tmp_path / "data").rglob("*"):
        if file.is_file():
            assert leaks(file.read_bytes(), hostile) == [], file
    for receipt in receipts:
        assert leaks(receipt.path.read_bytes(), hostile) == []
