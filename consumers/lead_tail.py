"""Follow the lead topic and print one readable line per lead version (``jiandu run``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kafka import TopicPartition

from jiandu.broker import KafkaConsumer
from jiandu.core.leads import Lead
from jiandu.core.timeutil import format_cst
from jiandu.security import printable
from jiandu.serde import AvroCodec

__all__ = ["follow_leads", "lead_line"]


def lead_line(lead: Lead) -> str:
    """``[M02 HIGH OPEN] 刑事执行检察 210100 期限 2024-05-14 · summary``, safe to print on a terminal.

    The summary quotes agency text (case numbers, descriptions): escape sequences and control
    characters in it must not reach the operator's terminal (``jiandu.security.printable``).
    """
    due = f" 期限 {format_cst(lead.due_at)[:10]}" if lead.due_at else ""
    head = f"[{lead.model_id} {lead.severity} {lead.status}]"
    return printable(f"{head} {lead.department} {lead.jurisdiction}{due} · {lead.summary_zh}")


def follow_leads(
    client_config: Mapping[str, Any], topic: str, partitions: int, should_stop: Callable[[], bool]
) -> Iterator[Lead]:
    """Yield lead versions from the start of the topic until ``should_stop()``."""
    codec = AvroCodec()
    consumer = KafkaConsumer(**client_config, enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while not should_stop():
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    yield Lead.from_avro(codec.decode(record.value)[1])
    finally:
        consumer.close()
