"""M01, M03, M04 and M06–M14 on small hand-written histories, at the boundaries models.md names."""

from __future__ import annotations

from typing import Any

import pytest

from jiandu.core.timeutil import parse_datetime, to_ms
from jiandu.models import EntityState, Fact, ModelEngine, load_catalogue

ENGINE = ModelEngine(load_catalogue())
KEY = "c" * 64
PERSON = f"P:{KEY}"
CASE = "(2023)辽0102刑初7号"
LATE_CLOCK = "2026-12-31T00:00:00+08:00"


def at(text: str) -> int:
    return to_ms(parse_datetime(text if "T" in text else f"{text}T12:00:00+08:00"))


def fact(fid: str, type_: str, when: str, **fields: Any) -> Fact:
    return Fact(fid, type_, at(when), f"{type_.split('.')[0]}:210102", "210102", {"person_key": KEY, **fields})


def leads(*facts: Fact, clock: str = LATE_CLOCK, entity: str = PERSON, model: str | None = None) -> dict[str, Any]:
    """OPEN leads by (model, trigger): (finding, severity, due date, details)."""
    state = EntityState()
    state.add_all(facts)
    found = ENGINE.evaluate(entity, state, at(clock), 0).leads
    return {
        f"{lead.model_id}:{lead.trigger_event_id}": (lead.finding, lead.severity, lead.details)
        for lead in found
        if lead.status == "OPEN" and (model is None or lead.model_id == model)
    }


def test_leads_record_the_model_version_that_raised_them() -> None:
    found = ENGINE.evaluate(PERSON, EntityState([fact("I1", "prison.incident", "2024-03-01", kind="DEATH")]), 0, 0)
    assert [(lead.model_id, lead.model_version) for lead in found.leads] == [("M14", "1.0.0")]


# -- M01 ----------------------------------------------------------------------------------------
def alcohol(bac: str, when: str = "2024-03-01T23:00:00+08:00") -> Fact:
    return fact("T1", "police.alcohol_test", when, test_no="T1", bac_mg_per_100ml=bac, plate_no=None)


def filed(fid: str, when: str, case_no: str = "A9", **extra: Any) -> Fact:
    return fact(fid, "police.case_filed", when, case_no=case_no, suspects=[KEY], charge_code="133-1", **extra)


@pytest.mark.parametrize(("bac", "raised"), [("79.9", False), ("80", True), ("80.0", True), ("112", True)])
def test_m01_threshold_is_compared_exactly_as_a_decimal(bac: str, raised: bool) -> None:
    assert ("M01:T1" in leads(alcohol(bac), model="M01")) is raised


@pytest.mark.parametrize(
    ("filed_at", "closes"),
    [
        ("2024-03-31T23:59:59+08:00", True),  # last second of day date(T) + 30
        ("2024-04-01T00:00:00+08:00", False),  # midnight after it is late
        ("2024-01-31T23:00:00+08:00", True),  # exactly 30 × 24 h before the test: lookback
        ("2024-01-31T22:59:59+08:00", False),  # one second more than the lookback
    ],
)
def test_m01_filing_window_with_a_30_day_lookback(filed_at: str, closes: bool) -> None:
    assert ("M01:T1" in leads(alcohol("100"), filed("C1", filed_at), model="M01")) is not closes


def test_m01_penalty_instead_of_prosecution_is_high() -> None:
    penalty = fact("X1", "police.admin_penalty", "2024-03-05", penalty_no="X1", violation_code="DUI", description="")
    assert leads(alcohol("120"), penalty, model="M01")["M01:T1"][:2] == ("PENALTY_INSTEAD_OF_PROSECUTION", "HIGH")
    assert leads(alcohol("120"), penalty, filed("C1", "2024-03-20"), model="M01") == {}


# -- M03 ----------------------------------------------------------------------------------------
def enrolled(fid: str, when: str, city: str = "210100") -> Fact:
    return fact(
        fid, "correction.enrolled", when, case_no=CASE, basis="PROBATION", permitted_city=city, term_end="2024-12-31"
    )


def terminated(fid: str, when: str, reason: str = "TERM_COMPLETED") -> Fact:
    return fact(fid, "correction.terminated", when, reason=reason)


def test_m03_under_correction_from_enrolment_until_termination_not_term_end() -> None:
    e = enrolled("E1", "2024-01-10")
    assert set(leads(e, filed("C1", "2024-01-09"), model="M03")) == set()
    assert set(leads(e, filed("C1", "2025-06-01"), model="M03")) == {"M03:C1"}  # after term_end: still under
    assert set(leads(e, terminated("Z1", "2024-05-01"), filed("C1", "2024-06-01"), model="M03")) == set()
    coercive = fact("M1", "police.coercive_measure", "2024-02-01", case_no="A1", measure="BAIL", action="START")
    assert set(leads(e, coercive, model="M03")) == {"M03:M1"}


def test_m03_waits_for_the_clock_to_reach_the_trigger() -> None:
    e, c = enrolled("E1", "2024-01-10"), filed("C1", "2024-02-01T10:00:00+08:00")
    assert leads(e, c, clock="2024-02-01T09:59:59+08:00", model="M03") == {}
    assert set(leads(e, c, clock="2024-02-01T10:00:00+08:00", model="M03")) == {"M03:C1"}


def test_m03_each_suspect_of_a_case_is_a_lead_of_its_own() -> None:
    other = "d" * 64
    c = Fact(
        "C1",
        "police.case_filed",
        at("2024-02-01"),
        "police:210102",
        "210102",
        {"case_no": "A1", "suspects": [KEY, other]},
    )
    ours = EntityState([enrolled("E1", "2024-01-10"), c])
    theirs = EntityState(
        [
            Fact(
                "E2",
                "correction.enrolled",
                at("2024-01-11"),
                "correction:210102",
                "210102",
                {"person_key": other, "case_no": CASE, "permitted_city": "210100"},
            ),
            c,
        ]
    )
    a = ENGINE.evaluate(PERSON, ours, at(LATE_CLOCK), 0).leads
    b = ENGINE.evaluate(f"P:{other}", theirs, at(LATE_CLOCK), 0).leads
    assert [(x.model_id, x.subject_key) for x in a] == [("M03", KEY)]
    assert [(x.model_id, x.subject_key) for x in b] == [("M03", other)]
    assert a[0].lead_id != b[0].lead_id


# -- M04 ----------------------------------------------------------------------------------------
def lodging(when: str, city: str = "110105") -> Fact:
    return fact("L1", "police.lodging", when, city_code=city, hotel_id="H1")


def leave(when: str, start: str, end: str, dest: str = "110105") -> Fact:
    return fact("Q1", "correction.leave_approved", when, start_date=start, end_date=end, dest_city=dest)


def test_m04_lodging_outside_the_permitted_city_without_leave() -> None:
    e = enrolled("E1", "2024-01-10")
    assert set(leads(e, lodging("2024-03-02"), model="M04")) == {"M04:L1"}
    assert leads(e, lodging("2024-03-02", city="210100"), model="M04") == {}  # permitted city
    assert leads(lodging("2024-03-02"), model="M04") == {}  # not under correction
    assert leads(e, terminated("Z1", "2024-03-01"), lodging("2024-03-02"), model="M04") == {}


@pytest.mark.parametrize(
    ("approved_at", "start", "end", "dest", "closes"),
    [
        ("2024-02-20", "2024-03-01", "2024-03-02", "110105", True),  # lodging on the last day of leave
        ("2024-03-03T23:59:59+08:00", "2024-03-02", "2024-03-02", "110105", True),  # approved by the next day
        ("2024-03-04T00:00:00+08:00", "2024-03-02", "2024-03-02", "110105", False),  # too late
        ("2024-02-20", "2024-03-03", "2024-03-05", "110105", False),  # leave does not cover the date
        ("2024-02-20", "2024-03-01", "2024-03-05", "110106", False),  # another city
    ],
)
def test_m04_leave_must_cover_date_and_city(approved_at: str, start: str, end: str, dest: str, closes: bool) -> None:
    found = leads(
        enrolled("E1", "2024-01-10"), lodging("2024-03-02"), leave(approved_at, start, end, dest), model="M04"
    )
    assert ("M04:L1" in found) is not closes


# -- M06 ----------------------------------------------------------------------------------------
def test_m06_decision_must_carry_the_case_of_the_request_within_7_days() -> None:
    request = fact("R1", "police.arrest_requested", "2024-03-01T10:00:00+08:00", case_no="A1")

    def decided(when: str, case: str = "A1") -> Fact:
        return fact("D1", "procuratorate.arrest_decided", when, case_no=case, decision="APPROVED")

    assert set(leads(request, model="M06")) == {"M06:R1"}
    assert leads(request, decided("2024-03-08T23:59:59+08:00"), model="M06") == {}
    assert set(leads(request, decided("2024-03-09T00:00:00+08:00"), model="M06")) == {"M06:R1"}
    assert set(leads(request, decided("2024-03-05", case="A2"), model="M06")) == {"M06:R1"}


# -- M07 ----------------------------------------------------------------------------------------
def judgment(fine: str, when: str = "2023-01-01", sentence: str = "PRISON") -> Fact:
    return fact(
        "J1",
        "court.judgment_effective",
        when,
        case_no=CASE,
        charge_code="266",
        sentence_type=sentence,
        prison_months=36,
        probation_months=0,
        fine_cny=fine,
    )


def paid(fid: str, when: str, amount: str, case: str = CASE) -> Fact:
    return fact(fid, "court.property_penalty_executed", when, execution_no="Z1", case_no=case, amount_cny=amount)


def proposal(when: str = "2024-06-10T10:00:00+08:00") -> Fact:
    return fact(
        "TJ1",
        "prison.commutation_proposed",
        when,
        proposal_no="TJ1",
        facility_code="P1",
        case_no=CASE,
        kind="COMMUTATION",
    )


def test_m07_fine_not_paid_in_full_by_the_proposal() -> None:
    found = leads(judgment("10000.00"), paid("Z1", "2024-01-01", "3000.00"), proposal(), model="M07")
    assert found["M07:TJ1"][2] == {"fine_cny": "10000.00", "paid_cny": "3000.00"}
    assert leads(judgment("10000.00"), paid("Z1", "2024-01-01", "10000.00"), proposal(), model="M07") == {}
    assert leads(judgment("0.00"), proposal(), model="M07") == {}
    # 1 fen short, and payments after the proposal or for another case do not count
    short = paid("Z1", "2024-06-10T10:00:00+08:00", "9999.99")
    after = paid("Z2", "2024-06-10T10:00:01+08:00", "0.01")
    other = paid("Z3", "2024-06-01", "0.01", case="(2020)辽0102刑初1号")
    assert set(leads(judgment("10000.00"), short, after, other, proposal(), model="M07")) == {"M07:TJ1"}


def test_m07_is_evaluated_at_the_end_of_the_third_day() -> None:
    history = (judgment("10000.00"), proposal("2024-06-10T10:00:00+08:00"))
    assert leads(*history, clock="2024-06-13T23:59:59+08:00", model="M07") == {}
    assert set(leads(*history, clock="2024-06-14T00:00:00+08:00", model="M07")) == {"M07:TJ1"}


# -- M08 ----------------------------------------------------------------------------------------
def test_m08_any_payment_or_filing_within_30_days_closes_but_not_before_the_judgment() -> None:
    j = judgment("5000.00", when="2024-03-01T10:00:00+08:00")
    assert set(leads(j, model="M08")) == {"M08:J1"}
    assert leads(j, paid("Z1", "2024-03-31T23:59:59+08:00", "1.00"), model="M08") == {}
    assert set(leads(j, paid("Z1", "2024-04-01T00:00:00+08:00", "1.00"), model="M08")) == {"M08:J1"}
    assert set(leads(j, paid("Z1", "2024-02-28", "5000.00"), model="M08")) == {"M08:J1"}
    filing = fact("F1", "court.execution_filed", "2024-03-20", execution_no="F1", case_no=CASE)
    assert leads(j, filing, model="M08") == {}
    assert leads(judgment("0.00"), model="M08") == {}


# -- M09 ----------------------------------------------------------------------------------------
def approval(when: str = "2024-01-01T10:00:00+08:00", interval: int | None = 60, reason: str = "ILLNESS") -> Fact:
    return fact(
        "JW1",
        "court.outside_execution_approved",
        when,
        decision_no="JW1",
        case_no=CASE,
        reason=reason,
        review_interval_days=interval,
    )


def review(fid: str, when: str, still: bool = True) -> Fact:
    return fact(fid, "correction.medical_review", when, still_qualifies=still)


def test_m09_each_review_starts_the_next_period() -> None:
    a = approval()
    assert leads(a, model="M09") == {"M09:JW1": ("MEDICAL_REVIEW_OVERDUE", "MEDIUM", {"review_interval_days": "60"})}
    r1 = review("R1", "2024-03-01T23:59:59+08:00")  # last second of day 1 Jan + 60
    assert set(leads(a, r1, model="M09")) == {"M09:R1"}
    r2 = review("R2", "2024-04-30T10:00:00+08:00")
    assert leads(a, r1, r2, clock="2024-06-29T23:59:59+08:00", model="M09") == {}
    assert set(leads(a, r1, r2, clock="2024-06-30T00:00:00+08:00", model="M09")) == {"M09:R2"}


def test_m09_default_interval_and_termination_ends_the_obligation() -> None:
    a = approval(interval=None)
    assert leads(a, clock="2024-03-31T00:00:00+08:00", model="M09") == {}
    assert set(leads(a, clock="2024-04-01T00:00:00+08:00", model="M09")) == {"M09:JW1"}
    assert leads(a, terminated("Z1", "2024-02-01"), model="M09") == {}
    assert leads(approval(reason="PREGNANCY_OR_NURSING"), model="M09") == {}


def test_m09_review_that_no_longer_qualifies_must_be_followed_by_committal() -> None:
    a, r = approval(), review("R1", "2024-02-01T10:00:00+08:00", still=False)
    assert set(leads(a, r, model="M09")) == {"M09:R1"}
    assert leads(a, r, model="M09")["M09:R1"][0] == "NOT_COMMITTED"
    committed = terminated("Z1", "2024-02-11T23:59:59+08:00", reason="COMMITTED_TO_PRISON")
    assert leads(a, r, committed, model="M09") == {}
    admitted = fact(
        "S1",
        "prison.admitted",
        "2024-02-12T00:00:00+08:00",
        facility_code="P1",
        facility_type="PRISON",
        case_no=CASE,
        basis="REVOCATION",
        sentence_end=None,
    )
    assert set(leads(a, r, admitted, model="M09")) == {"M09:R1"}


# -- M10 ----------------------------------------------------------------------------------------
def penalty(code: str, quantity: str | None, amount: str | None) -> Fact:
    return Fact(
        "P1",
        "admin.penalty_decided",
        at("2024-03-01T10:00:00+08:00"),
        "admin:210100",
        "210100",
        {
            "admin_case_no": "罚1",
            "agency_domain": "ENVIRONMENT",
            "party": {"kind": "ORG", "key": "91210102MA0XXXXX1X"},
            "violation_code": code,
            "quantity": quantity,
            "unit": None,
            "amount_cny": amount,
        },
    )


@pytest.mark.parametrize(
    ("code", "quantity", "amount", "raised"),
    [
        ("ENV_HAZARDOUS_WASTE_DUMPING", "3", None, True),
        ("ENV_HAZARDOUS_WASTE_DUMPING", "2.99", "99999999", False),  # tonnage model ignores the amount
        ("NR_ILLEGAL_MINING", None, "100000", True),
        ("NR_ILLEGAL_MINING", None, "99999.99", False),
        ("MARKET_COUNTERFEIT_SALES", None, "50000.00", True),
        ("EMERGENCY_FATAL_ACCIDENT", "1", None, True),
        ("EMERGENCY_FATAL_ACCIDENT", "0", None, False),
        ("WATER_ILLEGAL_SAND_MINING", None, "100000", True),
        ("TAX_FALSE_INVOICE", None, "499999.99", False),
        ("TAX_FALSE_INVOICE", None, "500000", True),
        ("ENV_NOISE", "100", "1000000", False),  # not in the table
    ],
)
def test_m10_threshold_table(code: str, quantity: str | None, amount: str | None, raised: bool) -> None:
    assert bool(leads(penalty(code, quantity, amount), entity="A:罚1", model="M10")) is raised


def test_m10_closed_by_transfer_or_police_case_referring_to_it_within_4_days() -> None:
    p = penalty("NR_ILLEGAL_MINING", None, "200000")
    moved = Fact(
        "Y1",
        "admin.case_transferred",
        at("2024-03-05T23:59:59+08:00"),
        "admin:210100",
        "210100",
        {"admin_case_no": "罚1", "to_agency": "police:210100"},
    )
    late = Fact(
        "Y1",
        "admin.case_transferred",
        at("2024-03-06T00:00:00+08:00"),
        "admin:210100",
        "210100",
        {"admin_case_no": "罚1", "to_agency": "police:210100"},
    )
    police = Fact(
        "C1",
        "police.case_filed",
        at("2024-02-20"),
        "police:210100",
        "210100",
        {"case_no": "A1", "suspects": [], "charge_code": "343", "admin_case_ref": "罚1"},
    )
    assert leads(p, moved, entity="A:罚1", model="M10") == {}
    assert set(leads(p, late, entity="A:罚1", model="M10")) == {"M10:P1"}
    assert leads(p, police, entity="A:罚1", model="M10") == {}  # lookback unlimited


# -- M11 ----------------------------------------------------------------------------------------
PLAINTIFF = {"kind": "ORG", "key": "91210102MAJKK9TB8N"}


def filing(n: int, when: str, cause: str = "PRIVATE_LENDING", case_no: str | None = None) -> Fact:
    return Fact(
        f"MS{n}",
        "court.civil_case_filed",
        at(when),
        "court:210102",
        "210102",
        {
            "case_no": case_no or f"(2024)辽0102民初{n}号",
            "cause": cause,
            "plaintiffs": [PLAINTIFF],
            "defendants": [{"kind": "PERSON", "key": KEY}],
            "claim_cny": "10000.00",
        },
    )


def m11(*facts: Fact) -> dict[str, Any]:
    return leads(*facts, entity="O:91210102MAJKK9TB8N", model="M11")


def test_m11_five_distinct_filings_within_365_days() -> None:
    four = [filing(n, f"2024-0{n}-01T10:00:00+08:00") for n in range(1, 5)]
    assert m11(*four) == {}
    assert m11(*four, filing(5, "2024-12-31T10:00:00+08:00")) == {
        "M11:MS5": ("SERIAL_LENDING_PLAINTIFF", "MEDIUM", {"filings": "5"})
    }  # 2024-01-01 10:00 + 365 × 24 h (leap year: 2024-12-31 10:00)
    assert m11(*four, filing(5, "2024-12-31T10:00:01+08:00")) == {}
    assert m11(*four, filing(5, "2024-06-01", cause="LABOR_DISPUTE")) == {}
    assert m11(*four, filing(5, "2024-06-01", case_no="(2024)辽0102民初1号")) == {}  # same case again


def test_m11_later_filings_add_evidence_to_the_same_lead() -> None:
    five = [filing(n, f"2024-0{n}-01") for n in range(1, 6)]
    state = EntityState(list(five))
    first = ENGINE.evaluate("O:91210102MAJKK9TB8N", state, 0, 0).leads
    state.add(filing(6, "2024-07-01"))
    second = ENGINE.evaluate("O:91210102MAJKK9TB8N", state, 0, 0).leads
    assert [lead.lead_id for lead in second] == [lead.lead_id for lead in first]
    assert len(second[0].evidence) == 6 and second[0].status_reason.startswith("6 private-lending filings")


# -- M12 ----------------------------------------------------------------------------------------
def pension(n: int, period: str, amount: str = "3533.00") -> Fact:
    return fact(f"FF{n}", "social.pension_paid", f"{period}-15", period=period, amount_cny=amount)


def death(fid: str, died_on: str, registered: str) -> Fact:
    return fact(fid, "police.death_registered", registered, died_on=died_on)


def test_m12_payments_for_months_after_the_death_in_either_order() -> None:
    payments = [pension(1, "2024-07"), pension(2, "2024-08"), pension(3, "2024-09")]
    d = death("SW1", "2024-07-13", "2024-10-01")
    state = EntityState(payments[:1])
    assert ENGINE.evaluate(PERSON, state, 0, 0).leads == []
    state.add_all([d, *payments[1:]])  # the death is registered after the payments arrived
    (lead,) = ENGINE.evaluate(PERSON, state, 0, 0).leads
    assert lead.trigger_event_id == "FF2" and lead.details == {
        "overpaid_cny": "7066.00",
        "payments": "2",
        "died_on": "2024-07-13",
    }
    earlier = death("SW2", "2024-06-30", "2024-11-01")  # the earliest date of death counts
    assert leads(*payments, d, earlier, model="M12")["M12:FF1"][2]["payments"] == "3"


# -- M13 ----------------------------------------------------------------------------------------
def admitted(end: str = "2024-03-31") -> Fact:
    return fact(
        "SY1",
        "prison.admitted",
        "2020-01-01",
        facility_code="P1",
        facility_type="PRISON",
        case_no=CASE,
        basis="SENTENCE",
        sentence_end=end,
    )


def released(when: str, reason: str = "SENTENCE_COMPLETED") -> Fact:
    return fact("SF1", "prison.released", when, facility_code="P1", case_no=CASE, reason=reason)


def ruling(fid: str, when: str, months: int) -> Fact:
    return fact(fid, "court.commutation_ruled", when, ruling_no=fid, case_no=CASE, reduced_months=months)


def test_m13_early_release_against_the_adjusted_end_with_month_clamping() -> None:
    one_month = ruling("JX1", "2023-01-01", 1)  # 2024-03-31 − 1 month = 2024-02-29
    assert leads(admitted(), one_month, released("2024-02-29T09:00:00+08:00"), model="M13") == {}
    found = leads(admitted(), one_month, released("2024-02-28T09:00:00+08:00"), model="M13")
    assert found == {"M13:SF1": ("EARLY_RELEASE", "HIGH", {"adjusted_sentence_end": "2024-02-29"})}
    later_ruling = ruling("JX2", "2024-03-01", 1)  # after the release: does not count for it
    assert "M13:SF1" in leads(admitted(), one_month, later_ruling, released("2024-02-28"), model="M13")


def test_m13_release_without_ruling() -> None:
    parole = fact("JS1", "court.parole_granted", "2023-05-01", ruling_no="JS1", case_no=CASE, remaining_months=10)
    assert set(leads(admitted(), released("2023-06-01", reason="PAROLE"), model="M13")) == {"M13:SF1"}
    assert leads(admitted(), parole, released("2023-06-01", reason="PAROLE"), model="M13") == {}
    assert leads(admitted(), released("2023-06-01", reason="TRANSFERRED"), model="M13") == {}


def test_m13_not_released_by_the_day_after_the_adjusted_end() -> None:
    found = leads(admitted("2024-03-31"), clock="2024-04-02T00:00:00+08:00", model="M13")
    assert found == {"M13:SY1": ("NOT_RELEASED", "HIGH", {"adjusted_sentence_end": "2024-03-31"})}
    assert leads(admitted("2024-03-31"), clock="2024-04-01T23:59:59+08:00", model="M13") == {}
    on_time = released("2024-04-01T23:59:59+08:00", reason="TRANSFERRED")
    assert leads(admitted("2024-03-31"), on_time, model="M13") == {}


def test_m13_release_checks_wait_three_days_for_late_rulings() -> None:
    history = (admitted(), released("2023-06-01T10:00:00+08:00", reason="PAROLE"))
    assert leads(*history, clock="2023-06-04T23:59:59+08:00", model="M13") == {}
    assert set(leads(*history, clock="2023-06-05T00:00:00+08:00", model="M13")) == {"M13:SF1"}


# -- M14 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "severity"), [("DEATH", "HIGH"), ("ESCAPE", "HIGH"), ("SERIOUS_INJURY", "MEDIUM")])
def test_m14_incidents_are_leads_at_once(kind: str, severity: str) -> None:
    incident = fact("SJ1", "prison.incident", "2030-01-01", facility_code="P1", kind=kind, description="…")
    found = leads(incident, clock="2000-01-01T00:00:00+08:00")
    assert found == {"M14:SJ1": ("CUSTODY_INCIDENT", severity, {"incident_kind": kind})}
