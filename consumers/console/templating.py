"""The console's Jinja2 environment: templates in ``templates/``, every value autoescaped.

Autoescape is on for every template, and unknown names are errors (``StrictUndefined``), so a new
field is escaped without anyone remembering to, and a misspelt one fails the tests instead of
rendering empty. The filters turn archive values into what officers read: China time, Chinese
labels and reasons. Chart options go into pages with ``|tojson`` (escaped for HTML).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from consumers.console.labels import (
    ACTION_ZH,
    AUDIT_ZH,
    MODEL_ZH,
    ROLE_ZH,
    SEVERITY_ZH,
    STATUS_ZH,
    agency_zh,
    record_type_zh,
)
from consumers.console.reasons import status_reason_zh
from consumers.console.sessions import CSRF_FIELD
from jiandu.core.timeutil import format_cst

__all__ = ["model_label", "render", "short_id"]

_TEMPLATES = Path(__file__).with_name("templates")


def model_label(model_id: str) -> str:
    """``M02 社区矫正漏管``."""
    return f"{model_id} {MODEL_ZH.get(model_id, '')}".strip()


def short_id(lead_id: str) -> str:
    """``M02-…4e00f3a1``: the model and the id's last characters tell leads apart in a list; the page has it all."""
    model, _, rest = lead_id.partition("-")
    return lead_id if len(rest) <= 10 else f"{model}-…{rest[-8:]}"


def _minute(ms: int | None) -> str:
    return "—" if ms is None else format_cst(ms)[:16].replace("T", " ")


def _second(ms: int) -> str:
    return format_cst(ms)[:19].replace("T", " ")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        minute=_minute,
        second=_second,
        status_zh=lambda s: STATUS_ZH.get(s, s),
        severity_zh=lambda s: SEVERITY_ZH.get(s, s),
        action_zh=lambda s: ACTION_ZH.get(s, s),
        audit_zh=lambda s: AUDIT_ZH.get(s, s),
        role_zh=lambda s: ROLE_ZH.get(s, s),
        reason_zh=status_reason_zh,
        model_label=model_label,
        agency_zh=agency_zh,
        type_zh=record_type_zh,
        short_id=short_id,
    )
    env.globals.update(CSRF_FIELD=CSRF_FIELD, STATUS_ZH=STATUS_ZH, SEVERITY_ZH=SEVERITY_ZH, AUDIT_ZH=AUDIT_ZH)
    return env


_ENV = _environment()


def render(name: str, **context: Any) -> str:
    """The template ``name`` (``leads.html``) rendered with ``context``."""
    return _ENV.get_template(name).render(**context)
