"""Police records shared by the storylines: cases, detentions, coercive measures, arrest requests.

:func:`request_arrest` is also the procuratorate's side: the decision that follows
a request, and the M06 lead the pair makes (a decision on the same person and
police case within 7 days), planted by construction wherever a request is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CHARGES, DISTRICTS, Person
from jiandu.simulate.prisons import detention_centre, release_record

__all__ = [
    "ARREST_REVIEW_DAYS",
    "ArrestRequest",
    "Detention",
    "ask_arrest",
    "change_measure",
    "decide_arrest",
    "detain",
    "expect_review",
    "extend_detention",
    "file_case",
    "police_case",
    "police_case_no",
    "release_from_detention",
    "request_arrest",
]

ARREST_REVIEW_DAYS = 7  # M06: the procuratorate decides within 7 days
_DEFAULT_LIMIT = 3
_MEASURE_OF = {
    "bail": ("BAIL", "START"),
    "surveillance": ("RESIDENTIAL_SURVEILLANCE", "START"),
    "detention_end": ("CRIMINAL_DETENTION", "END"),
}


@dataclass(frozen=True, slots=True)
class Detention:
    """A detention that started (the M05 trigger) in a police case."""

    record: Record
    at: datetime
    case_no: str
    district: str  # of the police unit and its detention centre
    limit: int  # days allowed by the record itself


@dataclass(frozen=True, slots=True)
class ArrestRequest:
    """A request for arrest approval and the procuratorate's answer (None: no decision in the history)."""

    record: Record
    at: datetime
    decided_at: datetime | None
    approved: bool


def police_case_no(ledger: Ledger, district: str, at: datetime) -> str:
    """A police case number ``A<division><yyyymm><serial>``."""
    month = f"{ledger.local_day(at):%Y%m}"
    return f"A{district}{month}{ledger.serial(f'A{district}{month}', ledger.rng.randint(1, 40)):05d}"


def file_case(
    ledger: Ledger,
    suspects: list[Person],
    district: str,
    at: datetime,
    charge: tuple[str, str] | None = None,
    admin_case_ref: str | None = None,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> Record:
    """A ``police.case_filed`` record listing the suspects."""
    rng = ledger.rng
    code, name = charge or rng.choice(CHARGES)
    return ledger.record(
        "police.case_filed",
        f"police:{district}",
        at,
        {
            "case_no": police_case_no(ledger, district, at),
            "suspects": [{"id_number": p.written(rng)} for p in suspects],
            "charge_code": code,
            "charge_name": name,
            "admin_case_ref": admin_case_ref,
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )


def police_case(
    ledger: Ledger,
    person: Person,
    district: str,
    at: datetime,
    charge: tuple[str, str] | None = None,
    admin_case_ref: str | None = None,
) -> str:
    """File a police case listing the person; returns its number."""
    return str(file_case(ledger, [person], district, at, charge, admin_case_ref)["case_no"])


def detain(ledger: Ledger, person: Person, day: date, limit: int = _DEFAULT_LIMIT) -> Detention:
    """Case filed, detention started (the M05 trigger), admitted to the district detention centre."""
    rng = ledger.rng
    district = person.home if rng.random() < 0.7 else rng.choice(sorted(DISTRICTS))
    at = ledger.at(day, 0, 24)
    filed = max(at - timedelta(minutes=rng.randint(60, 3 * 24 * 60)), ledger.midnight(ledger.start_day))
    case_no = police_case(ledger, person, district, filed)
    fields: Record = {
        "case_no": case_no,
        "id_number": person.written(rng),
        "measure": "CRIMINAL_DETENTION",
        "action": "START",
    }
    if limit != _DEFAULT_LIMIT or rng.random() < 0.55:
        fields["request_limit_days"] = limit
    else:
        ledger.planted["m05_limit_omitted"] += 1
    record = ledger.record("police.coercive_measure", f"police:{district}", at, fields)
    centre = detention_centre(district)
    ledger.record(
        "prison.admitted",
        centre.source,
        at + timedelta(minutes=rng.randint(40, 480)),
        {
            "facility_code": centre.code,
            "facility_type": centre.kind,
            "id_number": person.written(rng),
            "case_no": case_no,
            "basis": "CRIMINAL_DETENTION",
            "sentence_end": None,
        },
    )
    return Detention(record, at, case_no, district, limit)


def release_from_detention(ledger: Ledger, person: Person, det: Detention, at: datetime, upload_delay: int) -> None:
    """The detention centre releases the person on the case authority's order (no M13 finding)."""
    centre = detention_centre(det.district)
    release_record(ledger, person, centre, det.case_no, at, "RELEASED_BY_CASE_AUTHORITY", upload_delay=upload_delay)


def change_measure(
    ledger: Ledger,
    person: Person,
    det: Detention,
    at: datetime,
    kind: str,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> None:
    """Bail or residential surveillance started, or the detention ended."""
    measure, action = _MEASURE_OF[kind]
    ledger.record(
        "police.coercive_measure",
        f"police:{det.district}",
        at,
        {
            "case_no": det.case_no,
            "id_number": person.written(ledger.rng),
            "measure": measure,
            "action": action,
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )


def extend_detention(
    ledger: Ledger, person: Person, det: Detention, at: datetime, days: int, *, upload_delay: int = 0
) -> None:
    """An approved extension of the period to request arrest."""
    ledger.record(
        "police.detention_extended",
        f"police:{det.district}",
        at,
        {
            "case_no": det.case_no,
            "id_number": person.written(ledger.rng),
            "request_limit_days": days,
        },
        upload_delay=upload_delay,
    )


def decide_arrest(
    ledger: Ledger,
    person: Person,
    case_no: str,
    district: str,
    at: datetime,
    approved: bool,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> Record:
    """The procuratorate's decision on an arrest request."""
    return ledger.record(
        "procuratorate.arrest_decided",
        f"procuratorate:{district}",
        at,
        {
            "case_no": case_no,
            "id_number": person.written(ledger.rng),
            "decision": "APPROVED" if approved else "REJECTED",
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )


def ask_arrest(
    ledger: Ledger,
    person: Person,
    case_no: str,
    district: str,
    at: datetime,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
    rejected_first: int | None = None,
) -> Record:
    """A ``police.arrest_requested`` record (an M06 trigger).

    ``rejected_first`` (days): the first upload is rejected and the corrected re-send
    comes that many days later.
    """
    fields: Record = {"case_no": case_no, "id_number": person.written(ledger.rng)}
    source = f"police:{district}"
    if rejected_first is None:
        return ledger.record("police.arrest_requested", source, at, fields, upload_delay=upload_delay, stamp=stamp)
    return ledger.record_rejected_first("police.arrest_requested", source, at, fields, resend_delay=rejected_first)


def expect_review(
    ledger: Ledger, person: Person, request: Record, at: datetime, decided: list[datetime | None]
) -> None:
    """Plant M06: closed by a decision on the same person and case within 7 days."""
    ledger.expect_deadline("M06", request, at, ARREST_REVIEW_DAYS, ledger.subject(person), decided)


def request_arrest(
    ledger: Ledger,
    person: Person,
    case_no: str,
    district: str,
    at: datetime,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
    rejected_first: int | None = None,
) -> ArrestRequest:
    """Request arrest approval; the procuratorate decides 2 to 7 days later (M06 RESOLVED, or PENDING)."""
    rng = ledger.rng
    record = ask_arrest(
        ledger, person, case_no, district, at, upload_delay=upload_delay, stamp=stamp, rejected_first=rejected_first
    )
    decided = ledger.at(ledger.local_day(at) + timedelta(days=rng.randint(2, ARREST_REVIEW_DAYS)), 8, 18)
    approved = rng.random() < 0.8
    decide_arrest(ledger, person, case_no, district, decided, approved)
    expect_review(ledger, person, record, at, [decided])
    return ArrestRequest(record, at, decided if ledger.in_history(decided) else None, approved)
