"""Every page of the console escapes every value: the templates autoescape, and nothing opts out.

The pages used to be built by hand with each value escaped by a call; one forgotten call was an
injection. Now a hostile string in every text field of a lead, an action, an audit row and a user
must come out escaped on every page, and no template or console module may switch escaping off.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from consumers.archive import Action
from consumers.archive.model import AuditEntry, AuditPage, LeadFilter
from consumers.archive.store import SqliteArchive
from consumers.console import views
from consumers.console.templating import render
from consumers.console.users import User
from jiandu.core.leads import Evidence
from tests.lead_versions import lead_version

HOSTILE = '<img src=x onerror="alert(1)">'
CONSOLE = Path(__file__).resolve().parents[3] / "consumers" / "console"


def test_no_template_or_console_module_switches_escaping_off() -> None:
    for path in (CONSOLE / "templates").glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup", text), path.name
    for path in CONSOLE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "Markup(" not in text and "html.escape" not in text, f"{path.name}: let the templates escape"


def test_a_hostile_value_in_every_field_comes_out_escaped_on_every_page(tmp_path: Path) -> None:
    archive = SqliteArchive(tmp_path / "archive.sqlite3")
    lead = dataclasses.replace(
        lead_version(1, 2, status="WITHDRAWN"),
        summary_zh=HOSTILE,
        legal_basis_zh=HOSTILE,
        case_no=HOSTILE,
        status_reason=HOSTILE,
        evidence=(Evidence(HOSTILE, "court.judgment_effective", HOSTILE, 1),),
    )
    archive.store_versions([(lead, "leads", 0, 0)])
    archive.record_action(Action(lead.lead_id, HOSTILE[:90], "outcome", 5, None, "其他", HOSTILE))
    user = User("u", HOSTILE, "admin", "", (), reveal=True)
    viewer = views.Viewer(user, HOSTILE)
    history = archive.lead(lead.lead_id)
    assert history is not None
    result = archive.query(LeadFilter())
    form = {k: HOSTILE for k in ("model", "jurisdiction", "due_from", "who", "lead", "from")}
    audit = AuditPage([AuditEntry("a", HOSTILE, HOSTILE, HOSTILE, 1, False, HOSTILE)], 1)
    pages = {
        "lead": views.lead_page(viewer, history, [dataclasses.replace(user, role="officer")]),
        "leads": views.leads_page(
            viewer, result, form, models=["M02"], page=1, page_size=50, query=HOSTILE, poll_seconds=5
        ),
        "audit": views.audit_page(viewer, audit, form, names={HOSTILE: HOSTILE}, page=1, page_size=50, query=HOSTILE),
        "error": views.error_page(viewer, HOSTILE, HOSTILE),
        "login": views.login_page(HOSTILE, HOSTILE),
    }
    for name, text in pages.items():
        assert HOSTILE not in text, name
        assert "&lt;img src=x onerror=" in text, name
    archive.close()


def test_an_unknown_name_in_a_template_is_an_error_not_an_empty_string() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("error.html", viewer=None, title="x", heading="x")  # no message
