"""Lead versions built directly, for the consumer tests (no streams worker needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from kafka import KafkaProducer

from jiandu.core.leads import Evidence, Lead
from jiandu.serde import AvroCodec

__all__ = ["T0", "lead_version", "publish_leads", "reemitted"]

T0 = 1_714_000_000_000


def lead_version(
    n: int,
    version: int,
    department: str = "刑事执行检察",
    severity: str = "HIGH",
    *,
    model_id: str = "M02",
    jurisdiction: str = "210102",
    status: str = "OPEN",
) -> Lead:
    """Version ``version`` of lead ``n`` (``updated_at`` grows with the version)."""
    return Lead(
        lead_id=f"{model_id}-{n:024d}",
        model_id=model_id,
        model_version="1",
        finding="NOT_REPORTED",
        severity=severity,
        department=department,
        jurisdiction=jurisdiction,
        subject_kind="PERSON",
        subject_key=f"p{n}",
        case_no=None,
        trigger_event_id=f"e{n}",
        evidence=(Evidence(f"e{n}", "court.judgment_effective", "court:210100", T0),),
        due_at=T0 + 86_400_000,
        raised_at=T0,
        detected_at=T0,
        status=status,
        status_reason=f"v{version}",
        closed_at=None,
        summary_zh=f"线索 {n} 第 {version} 版",
        legal_basis_zh="《社区矫正法》第十七条",
        updated_at=T0 + version * 1000,
    )


def reemitted(lead: Lead, later_ms: int) -> Lead:
    """``lead`` as a worker that reprocessed its events publishes it again: only the wall-clock fields differ."""
    return dataclasses.replace(
        lead,
        raised_at=lead.raised_at + later_ms,
        detected_at=lead.detected_at + later_ms,
        updated_at=lead.updated_at + later_ms,
    )


def publish_leads(bootstrap: str, topic: str, leads: Iterable[Lead], *, partition: int | None = None) -> None:
    """Publish lead versions as the streams worker does: key lead_id, Avro single-object value; confirmed."""
    codec = AvroCodec()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for x in leads:
            value = codec.encode("lead", x.to_avro())
            producer.send(topic, key=x.lead_id.encode(), value=value, partition=partition).get(timeout=30)
    finally:
        producer.close()
