"""M02 and M05 on hand-written facts: deadlines, lookback, extensions, late evidence, idempotence."""

from __future__ import annotations

from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.models import EntityState, Fact, ModelEngine, load_catalogue

ENGINE = ModelEngine([m for m in load_catalogue() if m.id in ("M02", "M05")])
PERSON = "P:" + "a" * 64


def at(text: str) -> int:
    return to_ms(parse_datetime(text))


def fact(fid: str, type_: str, when: str, **fields: object) -> Fact:
    return Fact(fid, type_, at(when), type_.split(".")[0] + ":210102", "210102", fields)


def judgment(when: str, sentence: str = "PROBATION") -> Fact:
    return fact(
        "J1", "court.judgment_effective", when, case_no="(2024)辽0102刑初1号", sentence_type=sentence, fine_cny="0.00"
    )


def enrolled(fid: str, when: str) -> Fact:
    return fact(fid, "correction.enrolled", when, case_no="(2024)辽0102刑初1号")


def detention(when: str, limit: int = 3, case: str = "A1") -> Fact:
    return fact(
        "D1",
        "police.coercive_measure",
        when,
        case_no=case,
        measure="CRIMINAL_DETENTION",
        action="START",
        request_limit_days=limit,
    )


def statuses(*facts: Fact, clock: str, state: EntityState | None = None) -> dict[str, str]:
    state = state or EntityState()
    state.add_all(facts)
    result = ENGINE.evaluate(PERSON, state, at(clock), 0)
    return {f"{lead.model_id}:{lead.trigger_event_id}": lead.status for lead in result.leads}


def test_m02_open_after_the_deadline_without_enrolment() -> None:
    assert statuses(judgment("2024-03-01T10:00:00+08:00"), clock="2024-03-12T00:00:00+08:00") == {"M02:J1": "OPEN"}


def test_m02_not_raised_before_the_deadline() -> None:
    assert statuses(judgment("2024-03-01T10:00:00+08:00"), clock="2024-03-11T23:59:59+08:00") == {}


def test_m02_enrolment_at_the_last_second_counts_and_at_midnight_is_late() -> None:
    trigger = judgment("2024-03-01T10:00:00+08:00")
    clock = "2024-04-01T00:00:00+08:00"
    assert statuses(trigger, enrolled("E1", "2024-03-11T23:59:59+08:00"), clock=clock) == {}
    assert statuses(trigger, enrolled("E1", "2024-03-12T00:00:00+08:00"), clock=clock) == {"M02:J1": "OPEN"}


def test_m02_has_no_lookback_and_ignores_prison_sentences() -> None:
    clock = "2024-04-01T00:00:00+08:00"
    before = enrolled("E0", "2024-02-20T10:00:00+08:00")
    assert statuses(before, judgment("2024-03-01T10:00:00+08:00"), clock=clock) == {"M02:J1": "OPEN"}
    assert statuses(judgment("2024-03-01T10:00:00+08:00", sentence="PRISON"), clock=clock) == {}


def test_m02_late_evidence_resolves_the_raised_lead() -> None:
    state = EntityState()
    assert statuses(judgment("2024-03-01T10:00:00+08:00"), clock="2024-03-20T00:00:00+08:00", state=state) == {
        "M02:J1": "OPEN"
    }
    late_upload = enrolled("E1", "2024-03-05T09:00:00+08:00")
    assert statuses(late_upload, clock="2024-03-21T00:00:00+08:00", state=state) == {"M02:J1": "RESOLVED"}


def test_reprocessing_the_same_facts_publishes_nothing_new() -> None:
    state = EntityState()
    trigger = judgment("2024-03-01T10:00:00+08:00")
    assert statuses(trigger, clock="2024-03-20T00:00:00+08:00", state=state) == {"M02:J1": "OPEN"}
    assert statuses(trigger, clock="2024-03-20T00:00:00+08:00", state=state) == {}


def test_m05_deadline_from_the_record_and_the_latest_extension() -> None:
    clock = "2024-05-01T00:00:00+08:00"
    trigger = detention("2024-03-01T10:00:00+08:00", limit=3)
    assert statuses(trigger, clock=clock) == {"M05:D1": "OPEN"}
    request = fact("R1", "police.arrest_requested", "2024-03-20T10:00:00+08:00", case_no="A1")
    extend30 = fact("X1", "police.detention_extended", "2024-03-02T10:00:00+08:00", case_no="A1", request_limit_days=30)
    assert statuses(trigger, extend30, request, clock=clock) == {}
    extend5_later = fact(
        "X2", "police.detention_extended", "2024-03-03T10:00:00+08:00", case_no="A1", request_limit_days=5
    )
    assert statuses(trigger, extend30, extend5_later, request, clock=clock) == {"M05:D1": "OPEN"}


def test_m05_follow_up_must_carry_the_same_case() -> None:
    clock = "2024-05-01T00:00:00+08:00"
    trigger = detention("2024-03-01T10:00:00+08:00")
    other_case = fact("R1", "police.arrest_requested", "2024-03-02T10:00:00+08:00", case_no="A2")
    same_case_bail = fact(
        "B1",
        "police.coercive_measure",
        "2024-03-02T10:00:00+08:00",
        case_no="A1",
        measure="BAIL",
        action="START",
        request_limit_days=3,
    )
    assert statuses(trigger, other_case, clock=clock) == {"M05:D1": "OPEN"}
    assert statuses(trigger, same_case_bail, clock=clock) == {}


def test_m05_due_at_and_evidence_of_an_extended_lead() -> None:
    state = EntityState()
    trigger = detention("2024-04-09T10:00:00+08:00")
    extend = fact("X1", "police.detention_extended", "2024-04-10T10:00:00+08:00", case_no="A1", request_limit_days=30)
    state.add_all([trigger, extend])
    (lead,) = ENGINE.evaluate(PERSON, state, at("2024-06-01T00:00:00+08:00"), 0).leads
    assert lead.to_json()["due_at"] == "2024-05-10T00:00:00+08:00"
    assert [e.event_id for e in lead.evidence] == ["D1", "X1"]
    assert lead.details["request_limit_days"] == "30"
