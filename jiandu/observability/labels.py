"""Label values that are safe to export: bounded in number, and never personal.

Anything an agency sends can reach a label (a source, a record type, a rejection
reason naming a field), so each value is checked against its expected shape and
replaced by ``invalid`` when it does not fit: a garbage source must not create a
new time series per request, and nothing shaped like an ID number or a person key
may become a label.
"""

from __future__ import annotations

import re

__all__ = ["INVALID", "OTHER", "jurisdiction_label", "reason_label", "source_label", "status_class", "type_label"]

INVALID = "invalid"
OTHER = "other"

_CATEGORIES = frozenset({"police", "procuratorate", "court", "prison", "correction", "admin", "social", "sim"})
_SOURCE = re.compile(r"(?P<category>[a-z]+):(?P<division>[0-9]{6})(?::(?P<unit>[A-Za-z0-9_-]{1,32}))?")
_TYPE = re.compile(r"[a-z_]{2,24}\.[a-z_]{2,40}")
_REASON_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]]{0,63}")
_INDEX = re.compile(r"\[\d+\]")
_DIVISION = re.compile(r"[0-9]{6}")
_PERSONAL = re.compile(r"[0-9]{6}|[0-9a-f]{16}")  # part of an ID number or of a person key (hex)
_PERSONAL_UNIT = re.compile(r"[0-9]{15}|[0-9a-f]{16}")  # a unit code may be numeric, not an ID number or key


def source_label(source: object) -> str:
    """``<category>:<division>[:<unit>]`` as sent, or ``invalid``; ``sim:<name>`` for simulated feeds."""
    if not isinstance(source, str):
        return INVALID
    if source.startswith("sim:") and re.fullmatch(r"sim:[a-z]{2,16}", source):
        return source
    match = _SOURCE.fullmatch(source)
    if match is None or match["category"] not in _CATEGORIES:
        return INVALID
    if match["unit"] and _PERSONAL_UNIT.search(match["unit"].lower()):
        return INVALID
    return source


def type_label(record_type: object, known: frozenset[str] | None = None) -> str:
    """A record type (``court.judgment``) of the catalogue, or ``invalid``."""
    if not isinstance(record_type, str) or not _TYPE.fullmatch(record_type):
        return INVALID
    if known is not None and record_type not in known:
        return INVALID
    return record_type


def reason_label(field: str | None, rule: str) -> str:
    """A rejection reason as ``<field>:<rule>`` (list indexes dropped), never the message text."""
    rule_part = rule if _REASON_PART.fullmatch(rule) and not _PERSONAL.search(rule) else OTHER
    if not field:
        return rule_part
    field_part = _INDEX.sub("[]", field)
    if not _REASON_PART.fullmatch(field_part) or _PERSONAL.search(field_part):
        field_part = OTHER
    return f"{field_part}:{rule_part}"


def jurisdiction_label(jurisdiction: object) -> str:
    """A six-digit administrative division code, or ``invalid``."""
    return jurisdiction if isinstance(jurisdiction, str) and _DIVISION.fullmatch(jurisdiction) else INVALID


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx`` of an HTTP status; ``error`` when there was no answer (timeout, refused)."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"
