"""The streams worker on the real broker: crash recovery and privacy of everything written."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from adapters.jsonl import ingest_jsonl
from consumers import read_leads
from jiandu.broker import EmbeddedBroker, high_watermarks
from jiandu.cli.backtest import advance_clock, wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.identity import normalise_id_number
from jiandu.core.identity_seal import IdentityOpener, generate_key_pair
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.errors import InvalidIdNumber
from jiandu.serde import AvroCodec
from jiandu.settings import Settings, kafka_client_config
from streams import BACKTEST
from tests.pipeline import CONFORMANCE, all_messages, expected_leads, open_leads, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

MODELS = {"M02", "M05"}
CLOCK_END = to_ms(parse_datetime("2025-03-01T00:00:00+08:00"))


def _as_embedded(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Settings:
    """Settings of workers on the session's broker as on the hub's own (with the Tansu shims: a restarted
    worker's recovery needs the end-offset one) that keep their state stores under ``tmp_path``."""
    return settings_for("", topic_prefix, broker_port=broker.port, data_dir=tmp_path / "data")


def _finish(settings: Settings, worker: WorkerProcess, clock: int = CLOCK_END) -> dict:
    wait_until_routed(settings, worker, timeout=120, show_progress=False)
    publisher, _ = new_intake(settings, adapter="test")
    with publisher:
        advance_clock(settings, publisher, clock)
    wait_for_clock(settings, clock, worker, timeout=120, show_progress=False)
    return read_leads(kafka_client_config(settings), catalogue_of(settings).leads)


def _wait_for_leads(settings: Settings, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    topic = catalogue_of(settings).leads
    while sum(high_watermarks(settings.bootstrap, [topic]).values()) < count:
        assert time.monotonic() < deadline, "no leads were raised"
        time.sleep(0.2)


def test_kill_9_mid_stream_loses_no_lead_and_creates_no_second_one(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = _as_embedded(broker, topic_prefix, tmp_path)
    create_topics(settings)
    first = WorkerProcess(settings, mode=BACKTEST, log_path=tmp_path / "worker-1.log").start()
    second = WorkerProcess(settings, mode=BACKTEST, log_path=tmp_path / "worker-2.log")
    try:
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:
            ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        _wait_for_leads(settings, 10)
        first.kill()  # SIGKILL mid-stream: some leads raised, state partly in the changelog
        second.start()
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:  # an agency re-sends everything: duplicates must not create second leads
            ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        leads = _finish(settings, second)
    finally:
        first.stop()
        second.stop()
    final = [lead.to_json() for lead in leads.values()]
    assert open_leads(final, MODELS) == open_leads(expected_leads(), MODELS)
    per_finding = {}
    for lead in final:
        per_finding.setdefault((lead["model_id"], lead["trigger_event_id"]), set()).add(lead["lead_id"])
    assert all(len(ids) == 1 for ids in per_finding.values()), "one lead per finding"


def test_a_worker_killed_after_its_work_restarts_from_its_store_and_publishes_nothing_again(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    settings = _as_embedded(broker, topic_prefix, tmp_path)
    create_topics(settings)
    first = WorkerProcess(settings, mode=BACKTEST, log_path=tmp_path / "worker-1.log").start()
    second = WorkerProcess(settings, mode=BACKTEST, log_path=tmp_path / "worker-2.log")
    try:
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:
            ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        _finish(settings, first)  # every state in the changelog and in the store before the clock report
        first.kill()
        published = _lead_versions(settings)
        second.start()
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:  # everything again: the recovered states know every fact and every lead
            ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        leads = _finish(settings, second, clock=CLOCK_END + 1)
    finally:
        first.stop()
        second.stop()
    assert _lead_versions(settings) == published, "the restarted worker published lead versions again"
    final = [lead.to_json() for lead in leads.values()]
    assert open_leads(final, MODELS) == open_leads(expected_leads(), MODELS)
    starts = _changelog_read_from((tmp_path / "worker-2.log").read_text())
    assert starts and all(offset > 0 for offset in starts.values()), f"read the changelog from {starts}"


def _lead_versions(settings: Settings) -> int:
    return sum(high_watermarks(settings.bootstrap, [catalogue_of(settings).leads]).values())


def _changelog_read_from(log: str) -> dict[int, int]:
    """Per changelog partition, the offset Faust's recovery started reading at (its "Reading Starts At"
    table in the worker log): the offset its on-disk store held, -1 for none."""
    table = log.split("Reading Starts At - Active", 1)[-1].splitlines()[1:]
    starts: dict[int, int] = {}
    for line in table:
        if not line.startswith(("|", "+")):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[1].isdigit():
            starts[int(cells[1])] = int(cells[2])
    return starts


def test_no_raw_id_number_in_any_message_or_log(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> None:
    """Every topic (events, facts, state, leads, dead letters and the sealed identities) and the worker log."""
    private, public, _ = generate_key_pair(tmp_path / "reveal")
    settings = settings_for(
        broker.bootstrap, topic_prefix, reveal_public_key=str(public), data_dir=tmp_path / "data"
    )
    create_topics(settings)
    worker = WorkerProcess(settings, mode=BACKTEST, log_path=tmp_path / "worker.log").start()
    try:
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:
            ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        leads = _finish(settings, worker)
    finally:
        worker.stop()
    assert leads
    raw_ids = set(re.findall(rb'"id_number":\s*"([0-9Xx]{15,18})"', (CONFORMANCE / "records.jsonl").read_bytes()))
    assert len(raw_ids) > 500
    topics = [spec.name for spec in catalogue_of(settings).specs()]
    written = b"\n".join(all_messages(broker.bootstrap, topics))
    assert len(written) > 1_000_000, "the pipeline wrote events, facts, state, leads and dead letters"
    written += (tmp_path / "worker.log").read_bytes()
    stores = [path for path in (tmp_path / "data" / "streams").rglob("*") if path.is_file()]
    assert any(path.suffix == ".sst" or path.name.endswith(".log") for path in stores), "the state stores"
    written += b"".join(path.read_bytes() for path in stores)
    leaked = [raw for raw in raw_ids if raw in written or raw.upper() in written]
    assert leaked == []
    # the numbers are on the identities topic, sealed: the reveal service's private key opens them
    codec, opener = AvroCodec(), IdentityOpener.from_files([private])
    messages = all_messages(broker.bootstrap, [catalogue_of(settings).identities])
    sealed = [codec.decode(m.split(b"\0", 1)[1])[1] for m in messages]
    assert len({s["person_key"] for s in sealed}) > 400
    opened = {opener.open(s["sealed"], s["person_key"]).encode() for s in sealed}
    assert opened <= {_normalised(r) for r in raw_ids}


def _normalised(raw: bytes) -> bytes | None:
    try:
        return normalise_id_number(raw.decode()).encode()
    except InvalidIdNumber:
        return None  # a rejected record's number: dead-lettered, sealed under the pseudonym key
