"""A streams worker's /metrics, /healthz and /readyz, checked against what its topics hold."""

from __future__ import annotations

import collections
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.jsonl import ingest_jsonl
from jiandu.broker import EmbeddedBroker, find_free_port, high_watermarks
from jiandu.cli.backtest import advance_clock, wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.core.identity import Pseudonymiser
from jiandu.core.idscan import contains_id_number
from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.serde import AvroCodec
from streams import BACKTEST
from tests.pipeline import CONFORMANCE, all_messages, settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

CLOCK_END = to_ms(parse_datetime("2025-03-01T00:00:00+08:00"))
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> tuple[str, Samples]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def _sum(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def _by(samples: Samples, name: str, label: str, **labels: str) -> dict[str, float]:
    out: dict[str, float] = collections.defaultdict(float)
    for (n, ls), v in samples.items():
        if n == name and labels.items() <= dict(ls).items():
            out[dict(ls)[label]] += v
    return dict(out)


def _eventually(url: str, check: Callable[[Samples], bool], timeout: float = 30) -> tuple[str, Samples]:
    deadline = time.monotonic() + timeout
    while True:
        text, samples = _scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return text, samples
        time.sleep(0.5)


def test_worker_metrics_agree_with_the_topics(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix, log_format="json")
    create_topics(settings)
    catalogue = catalogue_of(settings)
    port = find_free_port()
    url = f"http://127.0.0.1:{port}"
    worker = WorkerProcess(settings, mode=BACKTEST, log_path=tmp_path / "worker.log", web_port=port).start()
    try:
        _wait_until_ready(url)  # evaluating before the records come: the router hands its facts over
        publisher, intake = new_intake(settings, adapter="jsonl")
        with publisher:
            report = ingest_jsonl([CONFORMANCE / "records.jsonl"], intake)
        wait_until_routed(settings, worker, timeout=120, show_progress=False)
        publisher, _ = new_intake(settings, adapter="test")
        with publisher:
            advance_clock(settings, publisher, CLOCK_END)
        wait_for_clock(settings, CLOCK_END, worker, timeout=120, show_progress=False)

        assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "live"
        _wait_until_ready(url)

        messages = all_messages(broker.bootstrap, [catalogue.leads])  # key \0 value
        versions = [AvroCodec().decode(m.split(b"\0", 1)[1])[1] for m in messages]
        changes = _status_changes(versions)
        dead_letters = sum(high_watermarks(broker.bootstrap, [catalogue.dead_letters]).values())
        facts_messages = sum(high_watermarks(broker.bootstrap, [catalogue.facts]).values())

        def settled(s: Samples) -> bool:  # gauges are refreshed every few seconds
            clocks = _by(s, "jiandu_hub_clock_timestamp_seconds", "partition")
            return (
                len(clocks) == settings.partitions
                and all(v == CLOCK_END / 1000 for v in clocks.values())
                and _sum(s, "jiandu_dead_letter_messages") == dead_letters
            )

        text, samples = _eventually(url, settled)
    finally:
        worker.stop()

    records = [json.loads(line) for line in (CONFORMANCE / "records.jsonl").read_text().splitlines() if _is_json(line)]
    rejected_by_type = collections.Counter(r.record_type for r in report.rejections)
    sent_by_type = collections.Counter(r.get("type") for r in records if isinstance(r, dict))
    routed = _by(samples, "jiandu_stream_events_processed_total", "type")
    assert routed == {t: n - rejected_by_type[t] for t, n in sent_by_type.items() if n - rejected_by_type[t] > 0}
    assert sum(routed.values()) == report.accepted

    counted = {
        (model, status)
        for (name, labels), _ in samples.items()
        if name == "jiandu_leads_total"
        for model, status in [(dict(labels)["model"], dict(labels)["status"])]
    }
    assert counted == set(changes)
    for (model, status), count in changes.items():
        assert _sum(samples, "jiandu_leads_total", model=model, status=status) == count, (model, status)
    m14 = {v["lead_id"] for v in versions if v["model_id"] == "M14"}
    assert _sum(samples, "jiandu_lead_latency_seconds_count", model="M14") == len(m14) > 0

    clocks = _by(samples, "jiandu_hub_clock_timestamp_seconds", "partition")
    assert clocks == {str(p): CLOCK_END / 1000 for p in range(settings.partitions)}
    assert _sum(samples, "jiandu_dead_letter_messages") == dead_letters == report.rejected > 0
    assert _sum(samples, "jiandu_state_entities") > 100
    assert _sum(samples, "jiandu_state_bytes") > 100_000
    pending = _by(samples, "jiandu_pending_deadlines", "model")
    assert len(pending) == 14
    assert _by(samples, "jiandu_consumer_lag_messages", "group") == {"router": 0, "evaluator": 0}
    assert _sum(samples, "jiandu_stream_processing_seconds_count", stage="evaluate") > 0
    # the worker routes and evaluates every partition: what its router sent is applied on confirmation,
    # without the fetch; each facts message once, whichever way it came
    applied = _by(samples, "jiandu_stream_facts_messages_applied_total", "via")
    assert applied.get("handed_over", 0) > 0, applied
    assert sum(applied.values()) == facts_messages > 0, applied
    _assert_nothing_personal(text)
    _assert_json_lines(tmp_path / "worker.log")


def _wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + 60  # readiness is refreshed every few seconds
    while True:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=10)
        except httpx.TransportError:  # not listening yet
            ready = None
        if (ready is not None and ready.status_code == 200) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ready is not None and ready.status_code == 200, ready and ready.text
    assert ready.json()["checks"] == {"broker": "ok", "topics": "ok", "assigned": "ok"}


def _assert_json_lines(log: Path) -> None:
    """With JIANDU_LOG_FORMAT=json every line the worker (Faust included) wrote is one JSON object."""
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) > 3
    entries = [json.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "process", "msg"} <= entry.keys() for entry in entries)
    assert {entry["process"] for entry in entries} == {"worker"}
    # a valid resident ID number, not any 18-digit run: timings such as 0.000296922999950766 s are not leaks
    assert not contains_id_number(log.read_text(encoding="utf-8"))


def _status_changes(versions: list[dict]) -> collections.Counter[tuple[str, str]]:
    """(model, new status) of every change of a lead's status on the lead topic, in its order."""
    last: dict[str, str] = {}
    changes: collections.Counter[tuple[str, str]] = collections.Counter()
    for version in versions:
        if last.get(version["lead_id"]) != version["status"]:
            changes[(version["model_id"], version["status"])] += 1
        last[version["lead_id"]] = version["status"]
    return changes


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _assert_nothing_personal(exposition: str) -> None:
    """No raw ID number fed to the hub and no person key appears anywhere in the exposition."""
    raw_ids = set(re.findall(r'"id_number":\s*"([0-9Xx]{15,18})"', (CONFORMANCE / "records.jsonl").read_text()))
    assert len(raw_ids) > 500
    pseudonymiser = Pseudonymiser(b"conformance-key")
    keys = set()
    for raw in raw_ids:
        try:
            keys.add(pseudonymiser.person_key(raw))
        except Exception:  # an invalid number the intake refused: it has no key
            continue
    assert len(keys) > 500
    leaked = [v for v in raw_ids | keys if v in exposition or v.upper() in exposition]
    assert leaked == []
    assert not contains_id_number(exposition), "no ID number (a histogram's float sum may have 18 digits)"
    assert not re.search(r"[0-9a-f]{32}", exposition), "nothing shaped like a person key"
