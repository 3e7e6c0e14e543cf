"""Storylines for M05 DETENTION_OVERDUE: a criminal detention, and whether the police acted in time.

The trigger is ``police.coercive_measure`` ``CRIMINAL_DETENTION`` ``START``. Within
``request_limit_days`` (3 unless the record says 7 or 30; replaced by the latest
``police.detention_extended`` of the same person and case that occurred after the
trigger, even when lower) the police must request arrest, end the detention, change
it to bail or residential surveillance, or the detention centre must release the
person, all for the same person and police case number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CHARGES, DISTRICTS, Person, Population

__all__ = ["STORYLINES", "police_case"]

_DEFAULT_LIMIT = 3
_CLOSERS = ("arrest_requested",) * 6 + ("bail", "bail", "surveillance", "detention_end", "released")
_MEASURE_OF = {
    "bail": ("BAIL", "START"),
    "surveillance": ("RESIDENTIAL_SURVEILLANCE", "START"),
    "detention_end": ("CRIMINAL_DETENTION", "END"),
}


@dataclass(frozen=True, slots=True)
class _Detention:
    """A detention that started (the M05 trigger) in a police case."""

    record: Record
    at: datetime
    case_no: str
    district: str  # of the police unit and its detention centre
    limit: int  # days allowed by the record itself


def police_case(
    ledger: Ledger,
    person: Person,
    district: str,
    at: datetime,
    charge: tuple[str, str] | None = None,
    admin_case_ref: str | None = None,
) -> str:
    """File a police case listing the person; its number is ``A<division><yyyymm><serial>``."""
    rng = ledger.rng
    month = f"{ledger.local_day(at):%Y%m}"
    case_no = f"A{district}{month}{ledger.serial(f'A{district}{month}', rng.randint(1, 40)):05d}"
    code, name = charge or rng.choice(CHARGES)
    ledger.record(
        "police.case_filed",
        f"police:{district}",
        at,
        {
            "case_no": case_no,
            "suspects": [{"id_number": person.written(rng)}],
            "charge_code": code,
            "charge_name": name,
            "admin_case_ref": admin_case_ref,
        },
    )
    return case_no


def _detain(ledger: Ledger, person: Person, day: date, limit: int = _DEFAULT_LIMIT) -> _Detention:
    """Case filed, detention started (the trigger), admitted to the district detention centre."""
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
    ledger.record(
        "prison.admitted",
        f"prison:{district}:kss",
        at + timedelta(minutes=rng.randint(40, 480)),
        {
            "facility_code": f"KSS{district}",
            "facility_type": "DETENTION_CENTER",
            "id_number": person.written(rng),
            "case_no": case_no,
            "basis": "CRIMINAL_DETENTION",
            "sentence_end": None,
        },
    )
    return _Detention(record, at, case_no, district, limit)


def _release(ledger: Ledger, person: Person, det: _Detention, at: datetime, upload_delay: int) -> None:
    ledger.record(
        "prison.released",
        f"prison:{det.district}:kss",
        at,
        {
            "facility_code": f"KSS{det.district}",
            "id_number": person.written(ledger.rng),
            "case_no": det.case_no,
            "reason": "RELEASED_BY_CASE_AUTHORITY",
        },
        upload_delay=upload_delay,
    )


def _measure(
    ledger: Ledger,
    person: Person,
    det: _Detention,
    at: datetime,
    kind: str,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> None:
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


def _request_arrest(
    ledger: Ledger, person: Person, det: _Detention, at: datetime, *, upload_delay: int = 0, stamp: str | None = None
) -> None:
    """Request arrest approval; the procuratorate decides within 7 days.

    The police records that follow share the request's upload delay: a late upload
    is the whole backlog, so no later measure closes the lead in time by accident.
    """
    rng = ledger.rng
    ledger.record(
        "police.arrest_requested",
        f"police:{det.district}",
        at,
        {
            "case_no": det.case_no,
            "id_number": person.written(rng),
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )
    decided = ledger.at(ledger.local_day(at) + timedelta(days=rng.randint(2, 7)), 8, 18)
    approved = rng.random() < 0.8
    ledger.record(
        "procuratorate.arrest_decided",
        f"procuratorate:{det.district}",
        decided,
        {
            "case_no": det.case_no,
            "id_number": person.written(rng),
            "decision": "APPROVED" if approved else "REJECTED",
        },
    )
    if approved:
        ledger.record(
            "police.coercive_measure",
            f"police:{det.district}",
            decided + timedelta(hours=3),
            {
                "case_no": det.case_no,
                "id_number": person.written(rng),
                "measure": "ARREST",
                "action": "START",
            },
            upload_delay=upload_delay,
        )
    else:
        _measure(ledger, person, det, decided + timedelta(hours=2), "bail", upload_delay=upload_delay)
        _release(ledger, person, det, decided + timedelta(hours=4), upload_delay)


def _close(
    ledger: Ledger, person: Person, det: _Detention, at: datetime, *, upload_delay: int = 0, stamp: str | None = None
) -> None:
    """One of the closing records at ``at``, with what follows it."""
    kind = ledger.rng.choice(_CLOSERS)
    ledger.planted[f"m05_closed_by_{kind}"] += 1
    if kind == "arrest_requested":
        _request_arrest(ledger, person, det, at, upload_delay=upload_delay, stamp=stamp)
    elif kind == "released":
        _release(ledger, person, det, at, upload_delay)
    else:
        _measure(ledger, person, det, at, kind, upload_delay=upload_delay, stamp=stamp)
        _release(ledger, person, det, at + timedelta(minutes=ledger.rng.randint(20, 240)), upload_delay)


def _extend(ledger: Ledger, person: Person, det: _Detention, at: datetime, days: int, *, upload_delay: int = 0) -> None:
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


def _within(ledger: Ledger, det: _Detention, first: int, last: int) -> datetime:
    """An instant on day ``date(T) + k`` for a random k in ``[first, last]``."""
    return ledger.at(ledger.local_day(det.at) + timedelta(days=ledger.rng.randint(first, last)), 8, 21)


def compliant(ledger: Ledger, population: Population) -> None:
    """Arrest requested (or measure changed, or released) within the limit: no lead."""
    person = population.person(18, 65)
    limit = ledger.rng.choice((3, 3, 3, 3, 7, 30))
    det = _detain(ledger, person, ledger.day(hi=-12 if limit == 30 else -1), limit)
    _close(ledger, person, det, _within(ledger, det, 1, min(limit, 20)))


def violation(ledger: Ledger, population: Population) -> None:
    """Nothing within the limit (sometimes an arrest request days too late): OPEN."""
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 3, 7)))
    if ledger.rng.random() < 0.4:
        late = ledger.due(det.at, det.limit) + timedelta(hours=ledger.rng.randint(1, 120))
        _request_arrest(ledger, person, det, late)
    ledger.expect_open("M05", det.record, det.at, person, det.limit)


def extension_saves(ledger: Ledger, population: Population) -> None:
    """An approved extension (4..7 or 30 days) and a request after day 3 but within it: no lead."""
    rng = ledger.rng
    person = population.person(18, 65)
    days = rng.choice((4, 5, 6, 7, 7, 30))
    det = _detain(ledger, person, ledger.day(hi=-12))
    _extend(ledger, person, det, det.at + timedelta(hours=rng.randint(12, 60)), days)
    _close(ledger, person, det, _within(ledger, det, 4, days))


def later_lower_extension(ledger: Ledger, population: Population) -> None:
    """Extended to 30 days, then to 4..7: the latest wins, the request after it is overdue, OPEN.

    Half the time the earlier extension is uploaded after the later one, so only
    ``occurred_at`` (not arrival order) tells which one is the latest.
    """
    rng = ledger.rng
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(hi=-12))
    lower = rng.randint(4, 7)
    first_delay = rng.randint(3, 6) if rng.random() < 0.5 else 0
    _extend(ledger, person, det, det.at + timedelta(hours=rng.randint(10, 30)), 30, upload_delay=first_delay)
    _extend(ledger, person, det, det.at + timedelta(hours=rng.randint(36, 70)), lower)
    if rng.random() < 0.7:
        _request_arrest(ledger, person, det, _within(ledger, det, lower + 1, 25))
    ledger.expect_open("M05", det.record, det.at, person, lower)


def other_case(ledger: Ledger, population: Population) -> None:
    """An arrest request in time, but for another case of the same person: still OPEN."""
    rng = ledger.rng
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day())
    other = police_case(ledger, person, det.district, det.at + timedelta(hours=rng.randint(2, 30)))
    ledger.record(
        "police.arrest_requested",
        f"police:{det.district}",
        _within(ledger, det, 2, det.limit),
        {
            "case_no": other,
            "id_number": person.written(rng),
        },
    )
    ledger.expect_open("M05", det.record, det.at, person, det.limit)


def extension_other_case(ledger: Ledger, population: Population) -> None:
    """An extension approved in another case of the person does not extend this one: OPEN."""
    rng = ledger.rng
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(hi=-12))
    other = police_case(ledger, person, det.district, det.at + timedelta(hours=rng.randint(2, 20)))
    ledger.record(
        "police.detention_extended",
        f"police:{det.district}",
        det.at + timedelta(hours=rng.randint(24, 60)),
        {"case_no": other, "id_number": person.written(rng), "request_limit_days": 7},
    )
    _request_arrest(ledger, person, det, _within(ledger, det, det.limit + 1, 7))
    ledger.expect_open("M05", det.record, det.at, person, det.limit)


def boundary_ok(ledger: Ledger, population: Population) -> None:
    """The closing record at 23:59:59 of the last allowed day: no lead."""
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 7)))
    at = ledger.last_instant_before(ledger.due(det.at, det.limit))
    _close(ledger, person, det, at, stamp=ledger.boundary_stamp())


def boundary_late(ledger: Ledger, population: Population) -> None:
    """The closing record at 00:00:00 after the last allowed day, the deadline itself: OPEN."""
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 7)))
    _close(ledger, person, det, ledger.due(det.at, det.limit), stamp=ledger.boundary_stamp())
    ledger.expect_open("M05", det.record, det.at, person, det.limit)


def late_upload(ledger: Ledger, population: Population) -> None:
    """Closed in time, but the police upload the records weeks later: no OPEN lead at the end."""
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 7)))
    at = _within(ledger, det, 1, det.limit)
    _close(ledger, person, det, at, upload_delay=ledger.rng.randint(14, 35))


def rejected_then_corrected(ledger: Ledger, population: Population) -> None:
    """Arrest requested in time; the first upload is rejected, the corrected re-send comes late: no OPEN lead."""
    rng = ledger.rng
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.day(), rng.choice((3, 3, 7)))
    asked = _within(ledger, det, 1, det.limit)
    delay = (ledger.local_day(ledger.due(det.at, det.limit)) - ledger.local_day(asked)).days + rng.randint(1, 5)
    ledger.record_rejected_first(
        "police.arrest_requested",
        f"police:{det.district}",
        asked,
        {
            "case_no": det.case_no,
            "id_number": person.written(rng),
        },
        resend_delay=delay,
    )


def pending(ledger: Ledger, population: Population) -> None:
    """A 30-day limit that started in the last 10 days of the timeline: not yet due, no lead."""
    person = population.person(18, 65)
    _detain(ledger, person, ledger.day(lo=ledger.days - 10), 30)


def due_at_clock_end(ledger: Ledger, population: Population) -> None:
    """A 30-day limit whose deadline is exactly the clock end: the clock has reached it, OPEN."""
    person = population.person(18, 65)
    det = _detain(ledger, person, ledger.clock_end_day - timedelta(days=31), 30)
    ledger.expect_open("M05", det.record, det.at, person, det.limit)


#: Storyline name → how it unfolds for one new person.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m05_compliant": compliant,
    "m05_violation": violation,
    "m05_extension_saves": extension_saves,
    "m05_later_lower_extension": later_lower_extension,
    "m05_other_case": other_case,
    "m05_extension_other_case": extension_other_case,
    "m05_boundary_ok": boundary_ok,
    "m05_boundary_late": boundary_late,
    "m05_late_upload": late_upload,
    "m05_rejected_then_corrected": rejected_then_corrected,
    "m05_pending": pending,
    "m05_due_at_clock_end": due_at_clock_end,
}
