"""What a user may see of the archive: their filters narrowed to their jurisdiction and departments.

The archive filters by one department at a time; an officer of several departments who picks none
gets one query per department, merged here (newest raised first, as the archive orders them).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any

from consumers.archive.model import AuditScope, LeadFilter, QueryResult, StatisticsRow
from consumers.archive.store import LeadArchive
from consumers.console.users import User, UserDirectory

__all__ = ["audit_scope", "narrowed", "scoped_query", "scoped_rows", "scoped_statistics"]

_MAX_WINDOW = 1000  # the archive's largest page


def narrowed(user: User, filters: LeadFilter) -> list[LeadFilter]:
    """The filters that cover what ``filters`` asks for within what ``user`` may see (none: nothing)."""
    if user.role == "admin":
        return [filters]
    mine, asked = user.jurisdiction, filters.jurisdiction_prefix or ""
    if asked.startswith(mine):
        prefix = asked
    elif mine.startswith(asked):
        prefix = mine
    else:
        return []
    filters = dataclasses.replace(filters, jurisdiction_prefix=prefix or None)
    if not user.department_scoped:
        return [filters]
    if filters.department is not None:
        return [filters] if filters.department in user.departments else []
    return [dataclasses.replace(filters, department=d) for d in user.departments]


def scoped_query(archive: LeadArchive, user: User, filters: LeadFilter, page: int, page_size: int) -> QueryResult:
    """One page of the leads ``user`` may see that match ``filters``, with totals and counts."""
    parts = narrowed(user, filters)
    if len(parts) == 1:
        return archive.query(parts[0], page=page, page_size=page_size)
    window = min(_MAX_WINDOW, page * page_size)
    results = [archive.query(f, page=1, page_size=window) for f in parts]
    rows = sorted((r for res in results for r in res.rows), key=lambda r: (-r["raised_at"], r["lead_id"]))
    start = (page - 1) * page_size
    return QueryResult(
        rows[start : start + page_size],
        sum(r.total for r in results),
        _summed(r.by_status for r in results),
        _summed(r.by_model for r in results),
    )


def scoped_rows(archive: LeadArchive, user: User, filters: LeadFilter, limit: int) -> list[dict[str, Any]]:
    """Every lead ``user`` may see that matches ``filters`` (newest raised first), at most ``limit``."""
    rows: list[dict[str, Any]] = []
    page = 1
    while len(rows) < limit:
        result = scoped_query(archive, user, filters, page, _MAX_WINDOW)
        rows.extend(result.rows)
        if page * _MAX_WINDOW >= result.total:
            break
        page += 1
    return rows[:limit]


def scoped_statistics(archive: LeadArchive, user: User, filters: LeadFilter) -> list[StatisticsRow]:
    """The archive's statistics over the leads ``user`` may see, summed across their departments."""
    totals: dict[tuple[str, str, str], list[int]] = {}
    for part in narrowed(user, filters):
        for r in archive.statistics(part):
            acc = totals.setdefault((r.month, r.model_id, r.jurisdiction), [0, 0, 0])
            acc[0], acc[1], acc[2] = acc[0] + r.raised, acc[1] + r.worked, acc[2] + r.confirmed
    return [StatisticsRow(m, j, month, *counts) for (month, m, j), counts in sorted(totals.items())]


def audit_scope(user: User, users: UserDirectory) -> AuditScope | None:
    """The audit rows ``user`` may read: all (None) for an admin or a supervisor of everywhere; for a
    supervisor of a prefix, the rows of the users within it and the rows about leads within it (so
    they also see outsiders trying their leads). Unknown names typed at sign-in stay the admins'.
    Anyone else: an empty scope, which reads no row."""
    if not user.may_read_audit:
        return AuditScope()
    if user.role == "admin" or not user.jurisdiction:
        return None
    names = tuple(sorted(u.username for u in users.within(user.jurisdiction)))
    return AuditScope(users=names, jurisdiction_prefix=user.jurisdiction)


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))
