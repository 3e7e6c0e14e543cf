"""The worked example of a cross-agency model (README, "How to add a supervision model"): its boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.models import EntityState, Fact, ModelEngine
from jiandu.models.configuration import load_model_file

M16 = load_model_file(Path(__file__).resolve().parents[2] / "models" / "m16_pension_while_imprisoned.py")
ENGINE = ModelEngine([M16])
KEY = "f" * 64
PERSON = f"P:{KEY}"
CASE = "(2023)辽0102刑初7号"
END = to_ms(parse_datetime("2026-01-01T00:00:00+08:00"))


def fact(fid: str, type_: str, when: str, **fields: Any) -> Fact:
    at = to_ms(parse_datetime(when if "T" in when else f"{when}T10:00:00+08:00"))
    return Fact(fid, type_, at, f"{type_.split('.')[0]}:210102", "210102", {"person_key": KEY, **fields})


def admitted(when: str, case_no: str = CASE, basis: str = "SENTENCE") -> Fact:
    return fact(f"adm-{when}", "prison.admitted", when, case_no=case_no, basis=basis, facility_code="P1")


def released(when: str, case_no: str = CASE) -> Fact:
    return fact(f"rel-{when}", "prison.released", when, case_no=case_no, reason="SENTENCE_COMPLETED")


def paid(period: str, when: str | None = None) -> Fact:
    return fact(f"pay-{period}", "social.pension_paid", when or f"{period}-15", period=period, amount_cny="3120.00")


def statuses(*facts: Fact, clock: int = END) -> dict[str, str]:
    """Lead status by payment event id, each fact added and evaluated in the order given."""
    state = EntityState()
    found: dict[str, str] = {}
    for f in facts:
        state.add(f)
        for lead in ENGINE.evaluate(PERSON, state, clock, 0).leads:
            found[lead.trigger_event_id] = lead.status
    return found


@pytest.mark.parametrize(
    ("admission", "period", "raised"),
    [
        ("2024-03-01T00:00:00+08:00", "2024-03", True),  # admitted at 00:00 of the 1st: in prison that month
        ("2024-03-01T00:00:01+08:00", "2024-03", False),  # a second later: the month started outside
        ("2024-02-10", "2024-03", True),
        ("2024-02-10", "2024-02", False),  # admitted after the 1st of the month paid for
    ],
)
def test_the_state_is_checked_on_the_first_day_of_the_month_paid_for(
    admission: str, period: str, raised: bool
) -> None:
    found = statuses(admitted(admission), paid(period))
    assert (found.get(f"pay-{period}") == "OPEN") is raised


def test_a_release_of_the_same_case_ends_it_one_of_another_case_does_not() -> None:
    assert statuses(admitted("2024-01-05"), released("2024-04-20"), paid("2024-05")) == {}
    other = released("2024-04-20", case_no="(2022)辽0103刑初1号")
    assert statuses(admitted("2024-01-05"), other, paid("2024-05")) == {"pay-2024-05": "OPEN"}


def test_only_admissions_on_a_sentence_count() -> None:
    assert statuses(admitted("2024-01-05", basis="CRIMINAL_DETENTION"), paid("2024-03")) == {}


def test_a_late_release_record_withdraws_the_lead_with_it_as_evidence() -> None:
    release = released("2024-04-20")
    assert statuses(admitted("2024-01-05"), paid("2024-05"), release) == {"pay-2024-05": "WITHDRAWN"}
    state = EntityState([admitted("2024-01-05"), paid("2024-05")])
    ENGINE.evaluate(PERSON, state, END, 0)
    state.add(release)
    (lead,) = ENGINE.evaluate(PERSON, state, END, 0).leads
    assert lead.evidence[-1].event_id == release.id and "撤回" in lead.summary_zh


def test_the_lead_shows_the_criminal_case_and_waits_for_the_clock() -> None:
    state = EntityState([admitted("2024-01-05"), paid("2024-03", when="2024-02-25")])
    before = to_ms(parse_datetime("2024-02-29T12:00:00+08:00"))
    assert ENGINE.evaluate(PERSON, state, before, 0).leads == []  # paid in advance: looked at on March 1st
    (lead,) = ENGINE.evaluate(PERSON, state, END, 0).leads
    assert lead.case_no == CASE and lead.status == "OPEN"
    assert "2024-03-01起当月养老金" in lead.summary_zh and CASE in lead.summary_zh
