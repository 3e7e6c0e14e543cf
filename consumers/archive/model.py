"""Values of the lead archive: officer actions, query filters and what queries return."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jiandu.errors import InputError

__all__ = [
    "ACTIONS",
    "CONFIRMING",
    "OUTCOMES",
    "Action",
    "AuditEntry",
    "AuditFilter",
    "AuditPage",
    "AuditScope",
    "LeadFilter",
    "LeadHistory",
    "QueryResult",
    "SealedIdentity",
    "StatisticsRow",
    "StoredSession",
]

ACTIONS = ("acknowledge", "assign", "outcome", "close")
OUTCOMES = ("发出纠正违法通知书", "检察建议", "立案监督", "核实不属实", "其他")
#: Outcomes that confirm a lead was a real supervision matter (the rest: not verified, other).
CONFIRMING = frozenset({"发出纠正违法通知书", "检察建议", "立案监督"})


@dataclass(frozen=True, slots=True)
class Action:
    """One officer action on a lead. ``at`` is epoch milliseconds; ``action_id`` makes replays idempotent."""

    lead_id: str
    officer: str
    action: str
    at: int
    assignee: str | None = None
    outcome: str | None = None
    note: str = ""
    action_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def validate(self) -> None:
        """Refuse an action the archive cannot mean anything by."""
        if self.action not in ACTIONS:
            raise InputError(f"action {self.action!r} on lead {self.lead_id}: use one of {', '.join(ACTIONS)}")
        if (self.action == "outcome") != (self.outcome is not None):
            raise InputError(f"lead {self.lead_id}: an outcome goes with action 'outcome' and only with it")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise InputError(f"outcome {self.outcome!r} on lead {self.lead_id}: use one of {', '.join(OUTCOMES)}")
        if (self.action == "assign") != bool(self.assignee):
            raise InputError(f"lead {self.lead_id}: an assignee goes with action 'assign' and only with it")
        if not self.officer:
            raise InputError(f"action {self.action!r} on lead {self.lead_id}: the officer is missing")

    def row(self) -> dict[str, Any]:
        """The ``actions`` row (also the Avro ``Action`` record of the outcome topic)."""
        return {
            "action_id": self.action_id,
            "lead_id": self.lead_id,
            "officer": self.officer,
            "action": self.action,
            "assignee": self.assignee,
            "outcome": self.outcome,
            "note": self.note,
            "at": self.at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Action:
        """Inverse of :meth:`row`."""
        return cls(
            **{k: row[k] for k in ("action_id", "lead_id", "officer", "action", "assignee", "outcome", "note", "at")}
        )


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which leads a query or the statistics cover; ``None`` means any. Times are epoch milliseconds."""

    model: str | None = None
    department: str | None = None
    jurisdiction_prefix: str | None = None
    status: str | None = None
    severity: str | None = None
    due_before: int | None = None
    due_after: int | None = None


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One page of leads (latest versions, newest raised first), the total and the counts over all pages."""

    rows: list[dict[str, Any]]
    total: int
    by_status: dict[str, int]
    by_model: dict[str, int]


@dataclass(frozen=True, slots=True)
class LeadHistory:
    """A lead as the archive knows it: the latest version, every version (oldest first), the actions."""

    latest: dict[str, Any]
    versions: list[dict[str, Any]]
    actions: list[Action]


@dataclass(frozen=True, slots=True)
class StatisticsRow:
    """Leads raised in a month for one model and jurisdiction, how many were worked and confirmed."""

    model_id: str
    jurisdiction: str
    month: str
    raised: int
    worked: int
    confirmed: int

    @property
    def confirmation_rate(self) -> float | None:
        """Confirmed among the leads worked on; None when none was."""
        return self.confirmed / self.worked if self.worked else None


@dataclass(frozen=True, slots=True)
class AuditScope:
    """The audit rows a reader limited to one jurisdiction may see: those written by one of ``users``
    and those about a lead whose jurisdiction starts with ``jurisdiction_prefix`` (either suffices)."""

    users: tuple[str, ...] = ()
    jurisdiction_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit rows to read; ``None`` means any. ``at_from`` is inclusive, ``at_before`` exclusive
    (epoch milliseconds); ``scope`` None: every row."""

    who: str | None = None
    what: str | None = None
    lead_id: str | None = None
    at_from: int | None = None
    at_before: int | None = None
    scope: AuditScope | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row: who did or tried what on which lead, when (epoch ms), and whether it was allowed."""

    audit_id: str
    who: str
    what: str
    lead_id: str | None
    at: int
    allowed: bool
    detail: str = ""  # a reveal's stated purpose


@dataclass(frozen=True, slots=True)
class SealedIdentity:
    """A person's ID number sealed by the adapter for the console's reveal service (never the number itself)."""

    person_key: str
    key_id: str
    sealed: bytes
    sealed_at: int


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of audit rows, newest first, and how many rows match over all pages."""

    rows: list[AuditEntry]
    total: int


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A console session as the archive holds it: whose, opened and last seen when (epoch ms)."""

    username: str
    opened_at: int
    seen_at: int
