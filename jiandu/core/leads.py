"""Leads (法律监督线索): the output of the supervision models."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jiandu.core.timeutil import format_cst

__all__ = ["DEPARTMENTS", "Evidence", "Lead", "lead_id_of"]

DEPARTMENTS = ("侦查监督", "刑事执行检察", "民事检察", "行政检察", "公益诉讼", "案件管理")


def lead_id_of(model_id: str, *identity: str) -> str:
    """Deterministic lead id: reprocessing the same events can never create a second lead."""
    digest = hashlib.sha256("\x1f".join((model_id, *identity)).encode()).hexdigest()
    return f"{model_id}-{digest[:24]}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record a lead rests on; ``event_id`` opens it in its source system."""

    event_id: str
    type: str
    source: str
    occurred_at: int


@dataclass(frozen=True, slots=True)
class Lead:
    """One version of a lead. Times are epoch milliseconds."""

    lead_id: str
    model_id: str
    model_version: str
    finding: str
    severity: str
    department: str
    jurisdiction: str
    subject_kind: str
    subject_key: str
    case_no: str | None
    trigger_event_id: str
    evidence: tuple[Evidence, ...]
    due_at: int | None
    raised_at: int
    detected_at: int
    status: str
    status_reason: str
    closed_at: int | None
    summary_zh: str
    legal_basis_zh: str
    updated_at: int
    details: Mapping[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        """The record for the Avro ``Lead`` schema."""
        out = {k: getattr(self, k) for k in _PLAIN}
        out["subject"] = {"kind": self.subject_kind, "key": self.subject_key}
        out["evidence"] = [_evidence_dict(e) for e in self.evidence]
        out["details"] = dict(self.details)
        return out

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Lead:
        """Inverse of :meth:`to_avro` (timestamps may arrive as datetimes)."""
        from jiandu.core.timeutil import to_ms

        def ms(v: Any) -> Any:
            return v if v is None or isinstance(v, int) else to_ms(v)

        values = {k: record[k] for k in _PLAIN}
        for k in ("due_at", "raised_at", "detected_at", "closed_at", "updated_at"):
            values[k] = ms(values[k])
        evidence = tuple(
            Evidence(e["event_id"], e["type"], e["source"], ms(e["occurred_at"])) for e in record["evidence"]
        )
        subject = record["subject"]
        return cls(
            **values,
            subject_kind=subject["kind"],
            subject_key=subject["key"],
            evidence=evidence,
            details=dict(record.get("details") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON-lines shape of ``jiandu backtest --out``: times in China Standard Time."""
        out: dict[str, Any] = {k: getattr(self, k) for k in _PLAIN}
        for k in ("due_at", "raised_at", "detected_at", "closed_at", "updated_at"):
            out[k] = None if out[k] is None else format_cst(out[k])
        out["subject"] = {"kind": self.subject_kind, "key": self.subject_key}
        out["evidence"] = [{**_evidence_dict(e), "occurred_at": format_cst(e.occurred_at)} for e in self.evidence]
        out.update(self.details)
        return out


_PLAIN = (
    "lead_id",
    "model_id",
    "model_version",
    "finding",
    "severity",
    "department",
    "jurisdiction",
    "case_no",
    "trigger_event_id",
    "due_at",
    "raised_at",
    "detected_at",
    "status",
    "status_reason",
    "closed_at",
    "summary_zh",
    "legal_basis_zh",
    "updated_at",
)


def _evidence_dict(e: Evidence) -> dict[str, Any]:
    return {"event_id": e.event_id, "type": e.type, "source": e.source, "occurred_at": e.occurred_at}
