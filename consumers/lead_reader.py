"""Read the lead topic to its end and keep the last version of every lead."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kafka import TopicPartition

from jiandu.broker import KafkaConsumer, high_watermarks
from jiandu.core.leads import Lead
from jiandu.serde import AvroCodec

__all__ = ["read_leads"]


def read_leads(client_config: Mapping[str, Any], topic: str, *, timeout: float = 60.0) -> dict[str, Lead]:
    """Final state of every lead on ``topic``: consumers key by ``lead_id``, the last version wins."""
    settings = {k: v for k, v in client_config.items() if k != "bootstrap_servers"}
    ends = high_watermarks(",".join(client_config["bootstrap_servers"]), [topic], settings)
    codec = AvroCodec()
    leads: dict[str, Lead] = {}
    consumer = KafkaConsumer(
        **client_config, enable_auto_commit=False, fetch_max_wait_ms=20, max_partition_fetch_bytes=4 << 20
    )
    try:
        parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end within {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for record in records:
                    _, value = codec.decode(record.value)
                    lead = Lead.from_avro(value)
                    leads[lead.lead_id] = lead
    finally:
        consumer.close()
    return leads
