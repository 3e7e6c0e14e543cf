"""Test helpers that drive the real pipeline pieces on the session's embedded broker."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from jiandu.broker import KafkaConsumer, high_watermarks
from jiandu.errors import BrokerError
from jiandu.serde import AvroCodec
from jiandu.settings import Settings
from jiandu.topics import TopicCatalogue

__all__ = [
    "CONFORMANCE",
    "FREE_METRICS_PORTS",
    "OPEN_IDENTITY_FIELDS",
    "adapter_checkpoint",
    "all_messages",
    "lead_identity",
    "open_leads",
    "settings_for",
]

CONFORMANCE = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"
OPEN_IDENTITY_FIELDS = ("finding", "severity", "department", "subject", "due_at")
#: JIANDU_METRICS_PORTS for processes tests start: /metrics on free ports (fixed ones would collide
#: between processes of one test and with a hub running on the machine)
FREE_METRICS_PORTS = ",".join(
    f"{p}=0" for p in ("run", "filedrop", "rest-pull", "gateway", "alerts", "webhooks", "archive", "console")
)


def settings_for(bootstrap: str, prefix: str, **changes: Any) -> Settings:
    """Settings of a hub on an existing broker with its own topics."""
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": prefix,
        "pseudonym_key": "conformance-key",
        "partitions": 4,
        "metrics_ports": FREE_METRICS_PORTS,
    }
    values.update(changes)
    return Settings(**values)


def lead_identity(lead: dict[str, Any]) -> tuple[str, ...]:
    """How conformance/README.md identifies a lead."""
    model = lead["model_id"]
    if model in ("M11", "M12"):
        return (model, lead["subject"]["key"])
    if model == "M03":
        return (model, lead["trigger_event_id"], lead["subject"]["key"])
    return (model, lead["trigger_event_id"])


def open_leads(leads: Iterable[dict[str, Any]], models: set[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """OPEN leads of some models, by identity, reduced to the fields the conformance check compares."""
    return {
        lead_identity(lead): {f: lead[f] for f in OPEN_IDENTITY_FIELDS}
        for lead in leads
        if lead["model_id"] in models and lead["status"] == "OPEN"
    }


def expected_leads() -> list[dict[str, Any]]:
    """The public conformance vectors' leads."""
    return [json.loads(line) for line in (CONFORMANCE / "expected-leads.jsonl").read_text().splitlines()]


def all_messages(bootstrap: str, topics: list[str]) -> list[bytes]:
    """Keys and values of every message on these topics (raw bytes)."""
    ends = high_watermarks(bootstrap, topics)
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    out: list[bytes] = []
    if not parts:
        return out
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            for records in consumer.poll(timeout_ms=500).values():
                out.extend((r.key or b"") + b"\0" + (r.value or b"") for r in records)
    finally:
        consumer.close()
    return out


def adapter_checkpoint(settings: Settings, unit: str) -> dict[str, Any] | None:
    """The latest checkpoint of an adapter unit (``rest:<source>``, ``filedrop:<folder>``) on the broker."""
    topic = TopicCatalogue(settings.topic_prefix, settings.partitions).adapter_checkpoints
    latest = None
    try:
        messages = all_messages(settings.bootstrap, [topic])
    except BrokerError:  # the adapter has not created its topics yet
        return None
    for message in messages:
        key, value = message.split(b"\0", 1)
        if key.decode() == unit:
            latest = json.loads(AvroCodec().decode(value)[1]["document"])
    return latest
