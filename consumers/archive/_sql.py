"""The archive's SQL, shared by the SQLite and PostgreSQL backends (``?`` placeholders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consumers.archive.model import AuditFilter, AuditScope, LeadFilter

__all__ = [
    "CREATE_MIGRATIONS",
    "LEAD_COLUMNS",
    "RECORD_MIGRATION",
    "audit_page",
    "audit_where",
    "insert",
    "page",
    "statistics",
    "update_lead",
    "where",
]

#: Lead attributes stored as they are (lead_id, version, JSON and provenance columns are added by the store).
LEAD_COLUMNS = (
    "status", "model_id", "model_version", "finding", "severity", "department", "jurisdiction",
    "subject_kind", "subject_key", "case_no", "trigger_event_id", "due_at", "raised_at", "detected_at",
    "closed_at", "status_reason", "summary_zh", "legal_basis_zh",
)  # fmt: skip

CREATE_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER      NOT NULL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at BIGINT       NOT NULL
)"""
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"

# Only these come from callers as column names, never as text.
_FILTERS = (
    ("model", "model_id = ?"),
    ("department", "department = ?"),
    ("status", "status = ?"),
    ("severity", "severity = ?"),
    ("due_before", "due_at < ?"),
    ("due_after", "due_at >= ?"),
)


def insert(table: str, row: dict[str, Any]) -> str:
    """``INSERT INTO table (columns) VALUES (?, …)`` for a row's columns."""
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"


def update_lead(columns: Sequence[str]) -> str:
    """Replace the latest version of a lead."""
    return f"UPDATE leads SET {', '.join(f'{c} = ?' for c in columns)} WHERE lead_id = ?"


def where(filters: LeadFilter, *, alias: str = "") -> tuple[str, list[Any]]:
    """`` WHERE …`` and its parameters for a filter (empty when it filters nothing)."""
    clauses, params = [], []
    for name, clause in _FILTERS:
        value = getattr(filters, name)
        if value is not None:
            clauses.append(alias + clause)
            params.append(value)
    if filters.jurisdiction_prefix:
        clauses.append(f"{alias}jurisdiction LIKE ? ESCAPE '!'")
        params.append(_like_prefix(filters.jurisdiction_prefix))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def page(where_sql: str) -> str:
    """One page of latest versions, newest raised first (lead_id breaks ties so pages never overlap)."""
    return f"SELECT * FROM leads{where_sql} ORDER BY raised_at DESC, lead_id LIMIT ? OFFSET ?"


def statistics(where_sql: str, confirming: int) -> str:
    """Raised, worked and confirmed leads by model, jurisdiction and month; parameters: the confirming
    outcomes, then the filter's."""
    marks = ", ".join("?" * confirming)
    return f"""
SELECT l.model_id, l.jurisdiction, l.raised_month AS month, COUNT(*) AS raised,
       SUM(CASE WHEN EXISTS (SELECT 1 FROM actions a WHERE a.lead_id = l.lead_id) THEN 1 ELSE 0 END) AS worked,
       SUM(CASE WHEN EXISTS (SELECT 1 FROM actions a WHERE a.lead_id = l.lead_id AND a.action = 'outcome'
                             AND a.outcome IN ({marks})) THEN 1 ELSE 0 END) AS confirmed
FROM leads l{where_sql}
GROUP BY l.model_id, l.jurisdiction, l.raised_month
ORDER BY l.raised_month, l.model_id, l.jurisdiction"""


# As _FILTERS: column names never come from callers.
_AUDIT_FILTERS = (
    ("who", "who = ?"),
    ("what", "what = ?"),
    ("lead_id", "lead_id = ?"),
    ("at_from", "at >= ?"),
    ("at_before", "at < ?"),
)


def audit_where(filters: AuditFilter) -> tuple[str, list[Any]]:
    """`` WHERE …`` and its parameters for an audit filter (empty when it filters nothing)."""
    clauses, params = [], []
    for name, clause in _AUDIT_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if filters.scope is not None:
        scope_sql, scope_params = _audit_scope(filters.scope)
        clauses.append(scope_sql)
        params.extend(scope_params)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _audit_scope(scope: AuditScope) -> tuple[str, list[Any]]:
    """Rows by one of the scope's users, or about a lead of its jurisdiction; an empty scope: no row."""
    alternatives: list[str] = []
    params: list[Any] = []
    if scope.users:
        alternatives.append(f"who IN ({', '.join('?' * len(scope.users))})")
        params.extend(scope.users)
    if scope.jurisdiction_prefix is not None:
        alternatives.append("lead_id IN (SELECT lead_id FROM leads WHERE jurisdiction LIKE ? ESCAPE '!')")
        params.append(_like_prefix(scope.jurisdiction_prefix))
    return "(" + (" OR ".join(alternatives) or "1 = 0") + ")", params


def audit_page(where_sql: str) -> str:
    """One page of audit rows, newest first (audit_id breaks ties so pages never overlap)."""
    return f"SELECT * FROM audit_log{where_sql} ORDER BY at DESC, audit_id DESC LIMIT ? OFFSET ?"


def _like_prefix(prefix: str) -> str:
    return "".join("!" + ch if ch in "!%_" else ch for ch in prefix) + "%"
