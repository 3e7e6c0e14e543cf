"""`jiandu alerts` against the real broker: every lead version lands on its department and severity topics."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest
from kafka import TopicPartition
from prometheus_client import REGISTRY

from consumers._group import GroupOptions
from consumers.alerts import AlertRouter
from jiandu.broker import EmbeddedBroker, KafkaConsumer, find_free_port, high_watermarks
from jiandu.cli.hub import catalogue_of, create_topics, journal_for
from jiandu.core.leads import DEPARTMENTS, Lead
from jiandu.serde import AvroCodec
from jiandu.settings import kafka_client_config
from jiandu.topics import DEPARTMENT_SLUGS
from tests.lead_versions import lead_version, publish_leads, reemitted
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]


def read_all(bootstrap: str, topics: list[str]) -> dict[str, list[tuple[bytes, bytes, int]]]:
    """(key, value, partition) of every message per topic, in offset order per partition."""
    ends = high_watermarks(bootstrap, topics)
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    out: dict[str, list[tuple[bytes, bytes, int]]] = defaultdict(list)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            for tp, records in consumer.poll(timeout_ms=500).items():
                out[tp.topic].extend((r.key, r.value, r.partition) for r in records)
    finally:
        consumer.close()
    return out


def test_every_version_reaches_its_department_and_severity_topics(broker: EmbeddedBroker, topic_prefix: str) -> None:
    settings = settings_for(broker.bootstrap, topic_prefix)
    catalogue = catalogue_of(settings)
    create_topics(settings)
    codec = AvroCodec()
    severities = ("HIGH", "MEDIUM", "LOW")
    versions = [
        lead_version(n, v, DEPARTMENTS[n % len(DEPARTMENTS)], severities[n % 3]) for v in (1, 2, 3) for n in range(12)
    ]
    publish_leads(broker.bootstrap, catalogue.leads, versions)

    stop = threading.Event()
    router = AlertRouter(kafka_client_config(settings), catalogue, options=GroupOptions(6.0, 20))
    thread = threading.Thread(target=router.run, args=(stop.is_set,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 40
        while router.routed < len(versions) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=15)
        router.close()
    assert router.routed == len(versions)

    got = read_all(broker.bootstrap, catalogue.alert_topics())
    for department, slug in DEPARTMENT_SLUGS.items():
        want = [x for x in versions if x.department == department]
        check_topic(got[f"{topic_prefix}.alerts.dept.{slug}"], want, codec)
    example = load_example()
    schemas = example.load_schemas(ROOT / "schemas")
    for key, value, _ in got[f"{topic_prefix}.alerts.severity.high"]:
        assert example.decode(value, schemas)["lead_id"].encode() == key  # what docs/downstream.md tells teams to run
    for severity in severities:
        want = [x for x in versions if x.severity == severity]
        check_topic(got[f"{topic_prefix}.alerts.severity.{severity.lower()}"], want, codec)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("consume_alerts", ROOT / "examples" / "consume_alerts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_topic(messages: list[tuple[bytes, bytes, int]], want: list[Lead], codec: AvroCodec) -> None:
    """The right leads, keyed by lead_id, the same bytes as on the lead topic, and each lead's versions in order."""
    assert len(messages) == len(want)
    per_lead: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for key, value, partition in messages:
        decoded = Lead.from_avro(codec.decode(value)[1])
        assert key == decoded.lead_id.encode()
        assert value == codec.encode("lead", decoded.to_avro())
        per_lead[decoded.lead_id].append(decoded.updated_at)
        partitions[decoded.lead_id].add(partition)
    assert set(per_lead) == {x.lead_id for x in want}
    for lead_id, updates in per_lead.items():
        assert updates == sorted(updates) and len(updates) == 3, lead_id
        assert len(partitions[lead_id]) == 1, f"{lead_id} spread over partitions {partitions[lead_id]}"


def test_a_lead_that_escalates_stays_on_its_earlier_severity_topic(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    """M01 escalates MEDIUM → HIGH: MEDIUM subscribers see the escalation and the resolution too, after a restart."""
    settings = settings_for(broker.bootstrap, topic_prefix)
    catalogue = catalogue_of(settings)
    create_topics(settings)
    medium = lead_version(1, 1, severity="MEDIUM", model_id="M01")
    escalated = lead_version(1, 2, severity="HIGH", model_id="M01")
    resolved = lead_version(1, 3, severity="HIGH", model_id="M01", status="RESOLVED")
    steady = lead_version(2, 1, severity="LOW", model_id="M01")
    routed_before = {kind: _routed(kind) for kind in ("department", "severity")}
    for versions in ([medium, steady], [escalated, resolved]):  # a restart of the router in between
        publish_leads(broker.bootstrap, catalogue.leads, versions)
        router = AlertRouter(kafka_client_config(settings), catalogue, options=GroupOptions(6.0, 20))
        try:
            deadline = time.monotonic() + 40
            routed = 0
            while routed < len(versions) and time.monotonic() < deadline:
                routed += router.route_batch()
        finally:
            router.close()
        assert routed == len(versions)

    got = read_all(broker.bootstrap, catalogue.alert_topics())
    codec = AvroCodec()

    def versions_on(severity: str) -> list[tuple[str, int, str]]:
        leads = [Lead.from_avro(codec.decode(value)[1]) for _, value, _ in got[catalogue.severity_alerts(severity)]]
        return [(lead.lead_id, lead.updated_at, lead.severity) for lead in leads]

    def seen(*leads: Lead) -> list[tuple[str, int, str]]:
        return [(lead.lead_id, lead.updated_at, lead.severity) for lead in leads]

    assert versions_on("MEDIUM") == seen(medium, escalated, resolved)
    assert versions_on("HIGH") == seen(escalated, resolved)
    assert versions_on("LOW") == seen(steady)
    # what jiandu_alerts_routed_total's help says: one department copy per version, a severity copy per
    # severity topic, so the escalated lead's two later versions count twice under severity
    routed = {kind: _routed(kind) - n for kind, n in routed_before.items()}
    assert routed == {"department": 4, "severity": 6}


def _routed(kind: str) -> float:
    """This process's jiandu_alerts_routed_total of one kind (the routers above run in it)."""
    return REGISTRY.get_sample_value("jiandu_alerts_routed_total", {"kind": kind}) or 0.0


def test_re_emitted_versions_are_not_routed_again(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> None:
    """A worker rebuilt after a broker restart publishes its leads again: the alert topics get nothing new."""
    settings = settings_for(broker.bootstrap, topic_prefix)
    catalogue = catalogue_of(settings)
    create_topics(settings)
    raised = lead_version(1, 1)
    resolved = lead_version(1, 2, status="RESOLVED")
    hour = 3_600_000
    batches = ([raised, resolved], [reemitted(raised, hour), reemitted(resolved, hour), reemitted(raised, 2 * hour)])
    for versions in batches:  # a restart of the router in between
        publish_leads(broker.bootstrap, catalogue.leads, versions)
        router = AlertRouter(kafka_client_config(settings), catalogue, options=GroupOptions(6.0, 20))
        try:
            deadline = time.monotonic() + 40
            routed = 0
            while routed < len(versions) and time.monotonic() < deadline:
                routed += router.route_batch()
        finally:
            router.close()
        assert routed == len(versions)

    got = read_all(broker.bootstrap, catalogue.alert_topics())
    codec = AvroCodec()
    for topic in (catalogue.department_alerts(raised.department), catalogue.severity_alerts("HIGH")):
        leads = [Lead.from_avro(codec.decode(value)[1]) for _, value, _ in got[topic]]
        assert [(lead.status, lead.updated_at) for lead in leads] == [
            ("OPEN", raised.updated_at),
            ("RESOLVED", resolved.updated_at),
        ]


@pytest.mark.timeout(90)
def test_what_the_router_remembers_survives_an_embedded_broker_restart_through_the_journal(
    tmp_path: Path, topic_prefix: str
) -> None:
    """The embedded broker forgets everything on a restart: the router's state comes back from the journal."""
    settings = settings_for("127.0.0.1:1", topic_prefix, data_dir=tmp_path, journal="on")
    medium = lead_version(1, 1, severity="MEDIUM", model_id="M01")
    escalated = lead_version(1, 2, severity="HIGH", model_id="M01")
    got: dict[str, list[tuple[bytes, bytes, int]]] = {}
    for versions in ([medium], [reemitted(medium, 3_600_000), escalated]):  # a fresh broker in between
        broker = EmbeddedBroker(find_free_port(), log_path=tmp_path / "tansu.log", journal_dir=settings.journal_dir)
        broker.start()
        try:
            settings = settings.replace(kafka_bootstrap=broker.bootstrap)
            catalogue = catalogue_of(settings)
            create_topics(settings)
            publish_leads(broker.bootstrap, catalogue.leads, versions)
            journal = journal_for(settings, "alerts")
            with AlertRouter(
                kafka_client_config(settings), catalogue, options=GroupOptions(6.0, 20), journal=journal
            ) as router:
                deadline = time.monotonic() + 30
                while router.routed + router.repeats < len(versions) and time.monotonic() < deadline:
                    router.route_batch()
            assert journal is not None
            journal.close()
            got = read_all(broker.bootstrap, catalogue.alert_topics())
        finally:
            broker.stop()
    codec = AvroCodec()

    def on(severity: str) -> list[int]:
        return [Lead.from_avro(codec.decode(v)[1]).updated_at for _, v, _ in got[catalogue.severity_alerts(severity)]]

    assert on("MEDIUM") == [escalated.updated_at], "the escalation reached the earlier severity, not the re-emission"
    assert on("HIGH") == [escalated.updated_at]
