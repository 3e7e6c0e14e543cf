"""The reference oracle (``jiandu.simulate.oracle``) against the public conformance vectors and tiny histories.

Boundary readings of the oracle, and what decides each:

- decided by the vectors (changing the reading changes the expected leads): deadlines exclusive at
  00:00 of ``date(T) + N + 1``; M01 lookback inclusive at exactly 30 × 24 h and a filing closing the
  lead as ``DUI_NOT_FILED`` even when a penalty exists; M02/M08 follow-ups before the trigger do not
  count, M04/M10 ones do; BAC ``>= 80`` and M10 thresholds reached with ``>=``; M07 payments after the
  proposal do not count; M09 a termination after an overdue period's deadline leaves it OPEN; M11
  evidence in ``occurred_at`` order; M12 the trigger is the earliest overpayment even when the death
  was registered later, and a payment for the death month is not an overpayment; M13 the latest
  admission with a ``sentence_end`` before the release, a release on the adjusted end date on time,
  ``NOT_RELEASED`` due at 00:00 of adjusted end + 2 days and closed by the first release only.
- not decided by the vectors (the tiny histories below pin the oracle's choice): M03 a termination at
  exactly the trigger's instant has ended the correction, an enrolment at that instant has started
  it; M11 the trigger is the filing that first completes five within 365 × 24 h (inclusive) in
  ``occurred_at`` order; M09 reviews after a termination start nothing; M13 commutations applied one
  at a time with clamping.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from jiandu.core.identity import Pseudonymiser, credit_check_character, make_id_number
from jiandu.core.timeutil import CST
from jiandu.simulate.oracle import MODEL_IDS, expected_leads

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
KEY = b"conformance-key"
CLOCK_END = datetime(2025, 3, 1, tzinfo=CST)
MATCHED_FIELDS = ("finding", "severity", "department", "subject", "due_at")
AMOUNT_FIELDS = ("fine_cny", "paid_cny", "overpaid_cny", "quantity", "amount_cny")

needs_vectors = pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="conformance vectors not present")

Lead = dict[str, Any]


def identity(lead: Lead) -> tuple[str, ...]:
    """The conformance identity of a lead (README of the vectors)."""
    model_id = lead["model_id"]
    if model_id in ("M11", "M12"):
        return model_id, lead["subject"]["key"]
    if model_id == "M03":
        return model_id, lead["trigger_event_id"], lead["subject"]["key"]
    return model_id, lead["trigger_event_id"]


@cache
def conformance_leads() -> tuple[dict[tuple[str, ...], Lead], dict[tuple[str, ...], Lead]]:
    """(expected, oracle) leads of the conformance vectors, by identity."""
    lines = (CONFORMANCE / "records.jsonl").read_text(encoding="utf-8").splitlines()
    ours = expected_leads(lines, pseudonym_key=KEY, clock_end=CLOCK_END)
    theirs = [
        json.loads(line) for line in (CONFORMANCE / "expected-leads.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    expected = {identity(lead): lead for lead in theirs}
    got = {identity(lead): lead for lead in ours}
    assert len(expected) == len(theirs) and len(got) == len(ours), "identities must be unique"
    return expected, got


def of_model(
    leads: dict[tuple[str, ...], Lead], model_id: str, status: str | None = None
) -> dict[tuple[str, ...], Lead]:
    return {k: v for k, v in leads.items() if k[0] == model_id and (status is None or v["status"] == status)}


# --- conformance vectors ---------------------------------------------------------------------------


@needs_vectors
@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_open_leads_are_exactly_the_expected_open_leads(model_id: str) -> None:
    expected, got = conformance_leads()
    want, have = of_model(expected, model_id, "OPEN"), of_model(got, model_id, "OPEN")
    assert set(have) == set(want)
    for key, lead in want.items():
        assert {f: have[key][f] for f in MATCHED_FIELDS} == {f: lead[f] for f in MATCHED_FIELDS}, key


@needs_vectors
@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_no_resolved_or_pending_lead_is_open(model_id: str) -> None:
    expected, got = conformance_leads()
    settled = {k for k, v in of_model(expected, model_id).items() if v["status"] in ("RESOLVED", "PENDING")}
    assert not settled & set(of_model(got, model_id, "OPEN"))


@needs_vectors
@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_every_potential_lead_matches_in_full(model_id: str) -> None:
    """Same leads, statuses, reasons, evidence, closed_at and details; amounts compared as decimals.

    The vectors write an amount the way the record wrote it (a JSON number ``124000`` stays
    ``124000``); the hub only knows decimal(18,2), so the oracle writes ``124000.00``.
    """
    expected, got = conformance_leads()
    want, have = of_model(expected, model_id), of_model(got, model_id)
    assert set(have) == set(want)
    for key, lead in want.items():
        assert comparable(have[key]) == comparable(lead), key
        for name in AMOUNT_FIELDS:  # where the record wrote hub-form decimals, the text is the same too
            if re.fullmatch(r"\d+\.\d\d", str(lead.get(name))):
                assert have[key][name] == lead[name], (key, name)


def comparable(lead: Lead) -> Lead:
    copy = dict(lead)
    for name in AMOUNT_FIELDS:
        if copy.get(name) is not None:
            copy[name] = Decimal(copy[name])
    # amounts in M07's "fine X, paid Y by the proposal", written with two decimals on both sides
    copy["status_reason"] = re.sub(
        r"\d+(\.\d+)?(?=,| by)", lambda m: f"{Decimal(m.group()):.2f}", lead["status_reason"]
    )
    return copy


# --- tiny histories -----------------------------------------------------------------------------------

PSEUDONYMS = Pseudonymiser(KEY)
ALICE = make_id_number("210102", date(1985, 3, 17), 241)
BOB = make_id_number("210103", date(1990, 7, 2), 88)


def key_of(id_number: str) -> str:
    return PSEUDONYMS.person_key(id_number)


def credit_code(body: str) -> str:
    return body + credit_check_character(body)


class Records:
    """A tiny history, written record by record."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any] | str] = []
        self._serial = 0

    def add(self, record_type: str, source: str, at: str, **fields: Any) -> str:
        """Append a record; returns its event id."""
        self._serial += 1
        record_id = fields.pop("record_id", f"R{self._serial:05d}")
        self.lines.append(
            {
                "type": record_type,
                "source": source,
                "source_record_id": record_id,
                "occurred_at": at,
                "jurisdiction": source.split(":")[1],
                **fields,
            }
        )
        return f"{source}/{record_type}/{record_id}"

    def leads(self, model_id: str, **params: Any) -> list[Lead]:
        overrides = {model_id: params} if params else None
        leads = expected_leads(self.lines, pseudonym_key=KEY, clock_end=CLOCK_END, params=overrides)
        return [lead for lead in leads if lead["model_id"] == model_id]


def only(leads: list[Lead]) -> Lead:
    assert len(leads) == 1, leads
    return leads[0]


def probation(records: Records, at: str, person: str = ALICE, case_no: str = "(2024)辽0102刑初1号") -> str:
    return records.add(
        "court.judgment_effective",
        "court:210102",
        at,
        case_no=case_no,
        id_number=person,
        charge_code="133",
        sentence_type="PROBATION",
        prison_months=0,
        probation_months=12,
        fine_cny="0.00",
    )


def enrol(records: Records, at: str, person: str = ALICE, city: str = "210100") -> str:
    return records.add(
        "correction.enrolled",
        "correction:210102",
        at,
        agency_code="SQJZ-0102",
        id_number=person,
        case_no="(2024)辽0102刑初1号",
        basis="PROBATION",
        permitted_city=city,
        term_end="2026-01-01",
    )


@pytest.mark.parametrize(
    ("enrolled_at", "status"),
    [
        ("2024-03-11T23:59:59+08:00", "RESOLVED"),  # the last allowed day is date(T) + 10
        ("2024-03-12T00:00:00+08:00", "OPEN"),  # 00:00:00 of the next day is late
        ("2024-03-11T15:59:59Z", "RESOLVED"),  # the same instants written in UTC
        ("2024-03-11T16:00:00Z", "OPEN"),
        ("2024-03-01T09:00:00+08:00", "RESOLVED"),  # at the trigger's very instant
        ("2024-03-01T08:59:59+08:00", "OPEN"),  # lookback 0: before the trigger does not count
    ],
)
def test_m02_deadline_boundaries(enrolled_at: str, status: str) -> None:
    records = Records()
    probation(records, "2024-03-01T09:00:00+08:00")
    enrol(records, enrolled_at)
    lead = only(records.leads("M02"))
    assert (lead["status"], lead["due_at"]) == (status, "2024-03-12T00:00:00+08:00")


def test_params_override_the_default_numbers() -> None:
    records = Records()
    probation(records, "2024-03-01T09:00:00+08:00")
    enrol(records, "2024-03-12T10:00:00+08:00")
    assert only(records.leads("M02"))["status"] == "OPEN"
    lead = only(records.leads("M02", deadline_days=12))
    assert (lead["status"], lead["due_at"]) == ("RESOLVED", "2024-03-14T00:00:00+08:00")


def alcohol_test(records: Records, at: str, bac: object, person: str = ALICE) -> str:
    return records.add(
        "police.alcohol_test",
        "police:210100:traffic",
        at,
        test_no="T1",
        id_number=person,
        bac_mg_per_100ml=bac,
        plate_no=None,
    )


@pytest.mark.parametrize(
    ("bac", "raised"), [("79.9", False), (79.99, False), (80, True), ("80.0", True), ("80.00", True)]
)
def test_m01_bac_threshold_is_compared_as_a_decimal(bac: object, raised: bool) -> None:
    records = Records()
    alcohol_test(records, "2024-03-01T23:00:00+08:00", bac)
    assert len(records.leads("M01")) == int(raised)


def case_filed(records: Records, at: str, *suspects: str, admin_case_ref: str | None = None) -> str:
    return records.add(
        "police.case_filed",
        "police:210102",
        at,
        case_no="A2101022024",
        suspects=[{"id_number": s} for s in suspects],
        charge_code="133-1",
        charge_name="危险驾驶罪",
        admin_case_ref=admin_case_ref,
    )


@pytest.mark.parametrize(
    ("filed_at", "status"),
    [
        ("2024-01-31T23:00:00+08:00", "RESOLVED"),  # exactly 30 × 24 hours before the test
        ("2024-01-31T22:59:59+08:00", "OPEN"),  # one second more
        ("2024-03-31T23:59:59+08:00", "RESOLVED"),  # last second of date(T) + 30
        ("2024-04-01T00:00:00+08:00", "OPEN"),
    ],
)
def test_m01_lookback_is_exactly_n_times_24_hours(filed_at: str, status: str) -> None:
    records = Records()
    alcohol_test(records, "2024-03-01T23:00:00+08:00", 120)
    case_filed(records, filed_at, ALICE)
    lead = only(records.leads("M01"))
    assert (lead["status"], lead["finding"]) == (status, "DUI_NOT_FILED")


def test_m01_an_admin_penalty_instead_of_a_filing_is_high() -> None:
    records = Records()
    test_id = alcohol_test(records, "2024-03-01T23:00:00+08:00", 120)
    penalty = records.add(
        "police.admin_penalty",
        "police:210102",
        "2024-03-05T10:00:00+08:00",
        penalty_no="P1",
        id_number=ALICE,
        violation_code="DRUNK",
        description="罚款",
    )
    lead = only(records.leads("M01"))
    assert (lead["finding"], lead["severity"], lead["status"]) == ("PENALTY_INSTEAD_OF_PROSECUTION", "HIGH", "OPEN")
    assert lead["evidence"] == [test_id, penalty]


def coercive(records: Records, at: str, measure: str, action: str, person: str = ALICE, **extra: Any) -> str:
    return records.add(
        "police.coercive_measure",
        "police:210102",
        at,
        case_no="A2101022024",
        id_number=person,
        measure=measure,
        action=action,
        **extra,
    )


def terminate(records: Records, at: str, person: str = ALICE, reason: str = "TERM_COMPLETED") -> str:
    return records.add("correction.terminated", "correction:210102", at, id_number=person, reason=reason)


@pytest.mark.parametrize(
    ("enrolled_at", "terminated_at", "raised"),
    [
        ("2024-03-01T10:00:00+08:00", None, True),  # enrolled at the trigger's instant: under correction
        ("2024-03-01T10:00:01+08:00", None, False),
        ("2024-01-01T10:00:00+08:00", "2024-03-01T10:00:00+08:00", False),  # terminated at that instant: ended
        ("2024-01-01T10:00:00+08:00", "2024-03-01T10:00:01+08:00", True),
    ],
)
def test_m03_correction_state_at_the_trigger_instant(enrolled_at: str, terminated_at: str | None, raised: bool) -> None:
    records = Records()
    enrol(records, enrolled_at)
    if terminated_at:
        terminate(records, terminated_at)
    coercive(records, "2024-03-01T10:00:00+08:00", "CRIMINAL_DETENTION", "START")
    assert len(records.leads("M03")) == int(raised)


def test_m03_each_suspect_is_a_lead() -> None:
    records = Records()
    enrol(records, "2024-01-01T10:00:00+08:00", ALICE)
    enrol(records, "2024-01-02T10:00:00+08:00", BOB)
    case_filed(records, "2024-03-01T10:00:00+08:00", ALICE, BOB)
    assert {lead["subject"]["key"] for lead in records.leads("M03")} == {key_of(ALICE), key_of(BOB)}


def test_m05_the_latest_extension_wins_even_when_lower() -> None:
    records = Records()
    coercive(records, "2024-03-01T10:00:00+08:00", "CRIMINAL_DETENTION", "START")
    for at, days in (("2024-03-02T10:00:00+08:00", 30), ("2024-03-03T10:00:00+08:00", 5)):
        records.add(
            "police.detention_extended",
            "police:210102",
            at,
            case_no="A2101022024",
            id_number=ALICE,
            request_limit_days=days,
        )
    lead = only(records.leads("M05"))
    assert (lead["request_limit_days"], lead["due_at"], lead["status"]) == (5, "2024-03-07T00:00:00+08:00", "OPEN")


def civil_filing(records: Records, at: str, case_no: str, plaintiff: str) -> str:
    return records.add(
        "court.civil_case_filed",
        "court:210102",
        at,
        case_no=case_no,
        cause="PRIVATE_LENDING",
        plaintiffs=[{"credit_code": plaintiff}],
        defendants=[{"id_number": BOB}],
        claim_cny="50000.00",
    )


@pytest.mark.parametrize(
    ("fifth_at", "raised"), [("2024-12-31T09:00:00+08:00", True), ("2024-12-31T09:00:01+08:00", False)]
)
def test_m11_five_filings_spanning_at_most_365_times_24_hours(fifth_at: str, raised: bool) -> None:
    lender = credit_code("91210102MA0000001")
    records = Records()
    # 2024 is a leap year: 2024-01-01 to 2024-12-31 is exactly 365 days
    times = ["2024-01-01T09:00:00+08:00", "2024-03-01T09:00:00+08:00", "2024-06-01T09:00:00+08:00"]
    times += ["2024-09-01T09:00:00+08:00", fifth_at]
    ids = [civil_filing(records, at, f"(2024)辽0102民初{n}号", lender) for n, at in enumerate(times)]
    civil_filing(records, "2024-06-02T09:00:00+08:00", "(2024)辽0102民初2号", lender)  # same case again: not distinct
    leads = records.leads("M11")
    assert len(leads) == int(raised)
    if raised:
        lead = only(leads)
        assert lead["subject"] == {"kind": "ORG", "key": lender}
        assert lead["trigger_event_id"] == ids[-1] and lead["evidence"] == [ids[-1], *ids[:-1]]
        assert lead["status_reason"] == "5 private-lending filings, 5 within 365 days"


def pension(records: Records, at: str, period: str, amount: str = "3000.00") -> str:
    return records.add("social.pension_paid", "social:210100", at, id_number=ALICE, period=period, amount_cny=amount)


def test_m12_death_registered_after_the_payments() -> None:
    records = Records()
    pension(records, "2024-03-10T09:00:00+08:00", "2024-03")  # the death month itself is not overpaid
    april = pension(records, "2024-04-10T09:00:00+08:00", "2024-04")
    may = pension(records, "2024-05-10T09:00:00+08:00", "2024-05", "3000.50")
    death = records.add(
        "police.death_registered", "police:210102", "2024-07-04T09:00:00+08:00", id_number=ALICE, died_on="2024-03-17"
    )
    lead = only(records.leads("M12"))
    assert lead["trigger_event_id"] == april
    assert lead["evidence"] == [april, death, may]
    assert (lead["overpaid_cny"], lead["payments"], lead["died_on"]) == ("6000.50", 2, "2024-03-17")
    assert lead["status_reason"] == "2 pension payment(s) for periods after 2024-03"


def admit(records: Records, at: str, sentence_end: str) -> str:
    return records.add(
        "prison.admitted",
        "prison:210100:p1",
        at,
        facility_code="LNJY-SY01",
        facility_type="PRISON",
        id_number=ALICE,
        case_no="(2020)辽0102刑初1号",
        basis="SENTENCE",
        sentence_end=sentence_end,
    )


def commute(records: Records, at: str, months: int) -> str:
    return records.add(
        "court.commutation_ruled",
        "court:210100",
        at,
        ruling_no=f"JX{at[:10]}",
        case_no="(2020)辽0102刑初1号",
        id_number=ALICE,
        reduced_months=months,
    )


def release(records: Records, at: str, reason: str = "SENTENCE_COMPLETED") -> str:
    return records.add(
        "prison.released",
        "prison:210100:p1",
        at,
        facility_code="LNJY-SY01",
        id_number=ALICE,
        case_no="(2020)辽0102刑初1号",
        reason=reason,
    )


@pytest.mark.parametrize(
    ("released_at", "status"),
    [("2024-02-29T09:00:00+08:00", "RESOLVED"), ("2024-02-28T23:59:59+08:00", "OPEN")],
)
def test_m13_commutation_months_clamp_to_the_month_end(released_at: str, status: str) -> None:
    records = Records()
    admit(records, "2020-06-01T10:00:00+08:00", "2024-03-31")
    commute(records, "2022-01-10T10:00:00+08:00", 1)
    release(records, released_at)
    early = only([lead for lead in records.leads("M13") if lead["finding"] == "EARLY_RELEASE"])
    assert (early["adjusted_sentence_end"], early["status"]) == ("2024-02-29", status)


def test_m13_commutations_apply_one_at_a_time() -> None:
    records = Records()
    admission = admit(records, "2020-06-01T10:00:00+08:00", "2024-05-31")
    first = commute(records, "2022-01-10T10:00:00+08:00", 1)  # 2024-04-30
    second = commute(records, "2023-01-10T10:00:00+08:00", 1)  # 2024-03-30, not 2024-03-31
    lead = only(records.leads("M13"))
    assert (lead["finding"], lead["adjusted_sentence_end"]) == ("NOT_RELEASED", "2024-03-30")
    assert (lead["due_at"], lead["status"]) == ("2024-04-01T00:00:00+08:00", "OPEN")  # adjusted end + 1 day allowed
    assert lead["evidence"] == [admission, first, second]


def test_m13_parole_release_without_a_ruling() -> None:
    records = Records()
    admit(records, "2020-06-01T10:00:00+08:00", "2026-05-31")
    trigger = release(records, "2024-05-01T10:00:00+08:00", "PAROLE")
    leads = {lead["finding"]: lead for lead in records.leads("M13")}
    lead = leads["RELEASE_WITHOUT_RULING"]
    assert (lead["trigger_event_id"], lead["status"]) == (trigger, "OPEN")
    assert lead["status_reason"] == "PAROLE release without court.parole_granted"
    assert leads["NOT_RELEASED"]["status"] == "RESOLVED"


def test_m07_payments_count_up_to_the_proposal_instant() -> None:
    records = Records()
    records.add(
        "court.judgment_effective",
        "court:210102",
        "2020-01-01T10:00:00+08:00",
        case_no="(2020)辽0102刑初1号",
        id_number=ALICE,
        charge_code="264",
        sentence_type="PRISON",
        prison_months=60,
        probation_months=0,
        fine_cny=10000,
    )
    for at in ("2022-05-01T10:00:00+08:00", "2022-05-01T10:00:01+08:00"):
        records.add(
            "court.property_penalty_executed",
            "court:210102",
            at,
            execution_no="ZX1",
            case_no="(2020)辽0102刑初1号",
            id_number=ALICE,
            amount_cny="4000",
        )
    records.add(
        "prison.commutation_proposed",
        "prison:210100:p1",
        "2022-05-01T10:00:00+08:00",
        proposal_no="TJ1",
        facility_code="LNJY-SY01",
        id_number=ALICE,
        case_no="(2020)辽0102刑初1号",
        kind="COMMUTATION",
    )
    lead = only(records.leads("M07"))
    assert (lead["status"], lead["fine_cny"], lead["paid_cny"]) == ("OPEN", "10000.00", "4000.00")
    assert lead["due_at"] == "2022-05-05T00:00:00+08:00"


def admin_penalty(records: Records, code: str, quantity: object, amount: object) -> str:
    return records.add(
        "admin.penalty_decided",
        "admin:210100:env",
        "2024-03-01T10:00:00+08:00",
        admin_case_no="沈环罚〔2024〕1号",
        agency_domain="ENVIRONMENT",
        party={"credit_code": credit_code("91210102MA0000002")},
        violation_code=code,
        quantity=quantity,
        unit="吨",
        amount_cny=amount,
    )


@pytest.mark.parametrize(
    ("quantity", "amount", "raised"),
    [("2.99", "9999999.00", False), ("3", None, True), (3.0, "0.00", True)],
)
def test_m10_only_the_field_of_the_threshold_table_is_compared(quantity: object, amount: object, raised: bool) -> None:
    records = Records()
    admin_penalty(records, "ENV_HAZARDOUS_WASTE_DUMPING", quantity, amount)
    assert len(records.leads("M10")) == int(raised)


def test_m10_a_transfer_before_the_penalty_closes_it() -> None:
    records = Records()
    transfer = records.add(
        "admin.case_transferred",
        "admin:210100:env",
        "2024-02-20T10:00:00+08:00",
        admin_case_no="沈环罚〔2024〕1号",
        to_agency="police:210102",
    )
    admin_penalty(records, "ENV_HAZARDOUS_WASTE_DUMPING", "5", None)
    lead = only(records.leads("M10"))
    assert (lead["status"], lead["closed_at"], lead["evidence"][1]) == (
        "RESOLVED",
        "2024-02-20T10:00:00+08:00",
        transfer,
    )


def illness_approval(records: Records, at: str, interval: int) -> str:
    return records.add(
        "court.outside_execution_approved",
        "court:210100",
        at,
        decision_no="JW1",
        case_no="(2020)辽0102刑初1号",
        id_number=ALICE,
        reason="ILLNESS",
        review_interval_days=interval,
    )


def review(records: Records, at: str, still_qualifies: bool = True) -> str:
    return records.add(
        "correction.medical_review", "correction:210102", at, id_number=ALICE, still_qualifies=still_qualifies
    )


def test_m09_review_periods_and_termination() -> None:
    records = Records()
    approval = illness_approval(records, "2024-01-01T10:00:00+08:00", 30)
    first = review(records, "2024-01-31T23:59:59+08:00")  # last second of the first period
    terminate(records, "2024-03-10T10:00:00+08:00")  # after the second period's deadline: stays OPEN
    review(records, "2024-04-10T10:00:00+08:00")  # after the termination: starts nothing
    by_trigger = {lead["trigger_event_id"]: lead for lead in records.leads("M09")}
    assert set(by_trigger) == {approval, first}
    assert (by_trigger[approval]["status"], by_trigger[approval]["evidence"]) == ("RESOLVED", [approval, first])
    assert (by_trigger[first]["status"], by_trigger[first]["due_at"]) == ("OPEN", "2024-03-02T00:00:00+08:00")


def test_m09_a_review_that_no_longer_qualifies_starts_the_commitment_check() -> None:
    records = Records()
    approval = illness_approval(records, "2024-01-01T10:00:00+08:00", 90)
    failed = review(records, "2024-02-01T10:00:00+08:00", still_qualifies=False)
    leads = records.leads("M09")
    assert {(lead["trigger_event_id"], lead["finding"], lead["status"]) for lead in leads} == {
        (approval, "MEDICAL_REVIEW_OVERDUE", "RESOLVED"),
        (failed, "NOT_COMMITTED", "OPEN"),
    }


def test_m04_lodging_outside_the_permitted_city_needs_a_matching_leave() -> None:
    records = Records()
    enrolment = enrol(records, "2024-01-01T10:00:00+08:00", city="210100")
    lodging = records.add(
        "police.lodging",
        "police:210200:hotel",
        "2024-03-01T22:00:00+08:00",
        id_number=ALICE,
        city_code="210200",
        hotel_id="H1",
    )
    records.add(
        "correction.leave_approved",
        "correction:210102",
        "2024-03-02T23:59:59+08:00",
        id_number=ALICE,
        start_date="2024-03-01",
        end_date="2024-03-01",
        dest_city="210200",
    )
    lead = only(records.leads("M04"))
    assert (lead["status"], lead["evidence"][:2]) == ("RESOLVED", [lodging, enrolment])


def test_m14_severity_by_kind() -> None:
    records = Records()
    for kind in ("DEATH", "SERIOUS_INJURY"):
        records.add(
            "prison.incident",
            "prison:210100:p1",
            "2024-03-01T10:00:00+08:00",
            facility_code="F",
            id_number=ALICE,
            kind=kind,
            description="x",
        )
    assert {(lead["incident_kind"], lead["severity"]) for lead in records.leads("M14")} == {
        ("DEATH", "HIGH"),
        ("SERIOUS_INJURY", "MEDIUM"),
    }


def test_input_handling_duplicates_invalid_and_malformed_lines() -> None:
    records = Records()
    bad_alice = ALICE[:-1] + ("0" if ALICE[-1] != "0" else "1")
    records.add(
        "prison.incident",
        "prison:210100:p1",
        "2024-03-01T10:00:00+08:00",
        record_id="S1",
        facility_code="F",
        id_number=bad_alice,
        kind="DEATH",
        description="x",
    )
    records.lines.append('{"type": "prison.incident", "source": ')  # malformed JSON
    first = {"facility_code": "F", "id_number": ALICE, "kind": "ESCAPE", "description": "x"}
    records.add("prison.incident", "prison:210100:p1", "2024-03-01T10:00:00+08:00", record_id="S1", **first)
    records.lines.append(json.dumps(records.lines[-1] | {"kind": "DEATH"}))  # a re-send as a raw line: ignored
    lead = only(records.leads("M14"))
    assert (lead["incident_kind"], lead["subject"]["key"]) == ("ESCAPE", key_of(ALICE))


def test_an_unknown_model_in_params_is_refused() -> None:
    with pytest.raises(ValueError, match="M99"):
        expected_leads([], pseudonym_key=KEY, clock_end=CLOCK_END, params={"M99": {}})
