"""What the console's requests submit, read and checked: form bodies, page numbers, filters and dates.

Dates are China calendar days (the console shows China time); a range's end day is inclusive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from urllib.parse import parse_qsl

from starlette.requests import Request

from consumers.archive.model import AuditFilter, AuditScope, LeadFilter
from jiandu.core.timeutil import local_midnight_ms
from jiandu.errors import InputError

__all__ = [
    "AUDIT_FIELDS",
    "LEAD_FIELDS",
    "MAX_PAGE",
    "audit_filter",
    "day_ms",
    "lead_filter",
    "positive",
    "read_form",
    "submitted",
]

LEAD_FIELDS = ("model", "department", "jurisdiction", "status", "severity", "due_from", "due_to")
AUDIT_FIELDS = ("who", "what", "lead", "from", "to")
_MAX_FORM_BYTES = 65536
MAX_PAGE = 100_000
#: Days the console accepts: earlier or later ones are no lead's or audit entry's (and 9999-12-31 has no next day).
_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
_FIELD_SHAPES = {
    "model": re.compile(r"[A-Za-z0-9_.-]{1,32}"),
    "jurisdiction": re.compile(r"[0-9]{1,6}"),
    "status": re.compile(r"[A-Z_]{1,16}"),
    "severity": re.compile(r"[A-Z]{1,16}"),
    "due_from": re.compile(r"[0-9-]{1,10}"),
    "due_to": re.compile(r"[0-9-]{1,10}"),
    "from": re.compile(r"[0-9-]{1,10}"),
    "to": re.compile(r"[0-9-]{1,10}"),
}


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (python-multipart is not a dependency); {} when too large."""
    body = await request.body()  # Starlette keeps it: reading it again (the CSRF check, then the handler) is free
    if len(body) > _MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def submitted(query: Mapping[str, str], fields: tuple[str, ...]) -> dict[str, str]:
    """The non-blank values of ``fields`` in a query string, stripped; InputError for one no form could send."""
    values = {k: v.strip() for k, v in query.items() if k in fields and v.strip()}
    for name, value in values.items():
        pattern = _FIELD_SHAPES.get(name, _TEXT)
        if not pattern.fullmatch(value):
            raise InputError(f"{name} {value[:40]!r}: not a value this filter takes")
    return values


def positive(text: str | None) -> int:
    """A page number from 1 to 100000 (none: 1); InputError for anything else."""
    if text is None or not text.strip():
        return 1
    if not text.strip().isdigit() or len(text.strip()) > 6 or not 1 <= int(text) <= MAX_PAGE:
        raise InputError(f"page {text[:40]!r}: use a page number from 1 to {MAX_PAGE}")
    return int(text)


def lead_filter(form: Mapping[str, str]) -> LeadFilter:
    """The archive filter of the lead list's form; due dates are China calendar days, ``due_to`` inclusive."""
    return LeadFilter(
        model=form.get("model"),
        department=form.get("department"),
        jurisdiction_prefix=form.get("jurisdiction"),
        status=form.get("status"),
        severity=form.get("severity"),
        due_after=day_ms(form.get("due_from"), "due_from"),
        due_before=day_ms(form.get("due_to"), "due_to", next_day=True),
    )


def audit_filter(form: Mapping[str, str], scope: AuditScope | None) -> AuditFilter:
    """The archive filter of the audit page's form within what the reader may see; ``to`` inclusive."""
    return AuditFilter(
        who=form.get("who"),
        what=form.get("what"),
        lead_id=form.get("lead"),
        at_from=day_ms(form.get("from"), "from"),
        at_before=day_ms(form.get("to"), "to", next_day=True),
        scope=scope,
    )


def day_ms(text: str | None, name: str, *, next_day: bool = False) -> int | None:
    """00:00 China time of a ``YYYY-MM-DD`` day (or of the day after) in epoch ms; None for no day."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} {text[:40]!r}: use a date like 2025-03-01") from None
    if not _FIRST_DAY <= day <= _LAST_DAY:
        raise InputError(f"{name} {text!r}: use a day from {_FIRST_DAY} to {_LAST_DAY}")
    return local_midnight_ms(day + timedelta(days=1) if next_day else day)
