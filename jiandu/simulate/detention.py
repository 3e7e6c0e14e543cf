"""Storylines for M05 DETENTION_OVERDUE: a criminal detention, and whether the police acted in time.

The trigger is ``police.coercive_measure`` ``CRIMINAL_DETENTION`` ``START``. Within
``request_limit_days`` (3 unless the record says 7 or 30; replaced by the latest
``police.detention_extended`` of the same person and case that occurred after the
trigger, even when lower) the police must request arrest, end the detention, change
it to bail or residential surveillance, or the detention centre must release the
person, all for the same person and police case number. Each storyline plants the
lead's status at the clock end.

Incidental leads: every arrest request is an M06 trigger; the procuratorate decides
2 to 7 days later and :func:`jiandu.simulate.police.request_arrest` plants that lead
(RESOLVED, or PENDING near the clock end). The detention admissions carry no
``sentence_end`` and the releases are ``RELEASED_BY_CASE_AUTHORITY``: no M13 lead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from jiandu.simulate.ledger import Ledger
from jiandu.simulate.places import Person, Population
from jiandu.simulate.police import (
    Detention,
    change_measure,
    detain,
    extend_detention,
    police_case,
    release_from_detention,
    request_arrest,
)

__all__ = ["STORYLINES", "WEIGHTS"]

_CLOSERS = ("arrest_requested",) * 6 + ("bail", "bail", "surveillance", "detention_end", "released")


def _request_arrest(
    ledger: Ledger,
    person: Person,
    det: Detention,
    at: datetime,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
    rejected_first: int | None = None,
) -> None:
    """Request arrest approval (M06 planted there); an arrest or bail and release follows the decision.

    The police records that follow share the request's upload delay: a late upload
    is the whole backlog, so no later measure closes the lead in time by accident.
    """
    request = request_arrest(
        ledger,
        person,
        det.case_no,
        det.district,
        at,
        upload_delay=upload_delay,
        stamp=stamp,
        rejected_first=rejected_first,
    )
    if request.decided_at is None:
        return
    if request.approved:
        ledger.record(
            "police.coercive_measure",
            f"police:{det.district}",
            request.decided_at + timedelta(hours=3),
            {
                "case_no": det.case_no,
                "id_number": person.written(ledger.rng),
                "measure": "ARREST",
                "action": "START",
            },
            upload_delay=upload_delay,
        )
    else:
        change_measure(ledger, person, det, request.decided_at + timedelta(hours=2), "bail", upload_delay=upload_delay)
        release_from_detention(ledger, person, det, request.decided_at + timedelta(hours=4), upload_delay)


def _close(
    ledger: Ledger, person: Person, det: Detention, at: datetime, *, upload_delay: int = 0, stamp: str | None = None
) -> datetime:
    """One of the closing records at ``at``, with what follows it; returns ``at``."""
    kind = ledger.rng.choice(_CLOSERS)
    ledger.planted[f"m05_closed_by_{kind}"] += 1
    if kind == "arrest_requested":
        _request_arrest(ledger, person, det, at, upload_delay=upload_delay, stamp=stamp)
    elif kind == "released":
        release_from_detention(ledger, person, det, at, upload_delay)
    else:
        change_measure(ledger, person, det, at, kind, upload_delay=upload_delay, stamp=stamp)
        release_from_detention(ledger, person, det, at + timedelta(minutes=ledger.rng.randint(20, 240)), upload_delay)
    return at


def _expect(
    ledger: Ledger, person: Person, det: Detention, closed_at: list[datetime | None], days: int | None = None
) -> None:
    """Plant the M05 lead of a detention: closed by a request or measure of the same case within the limit."""
    limit = det.limit if days is None else days
    ledger.expect_deadline("M05", det.record, det.at, limit, ledger.subject(person), closed_at)


def _within(ledger: Ledger, det: Detention, first: int, last: int) -> datetime:
    """An instant on day ``date(T) + k`` for a random k in ``[first, last]``."""
    return ledger.at(ledger.local_day(det.at) + timedelta(days=ledger.rng.randint(first, last)), 8, 21)


def compliant(ledger: Ledger, population: Population) -> None:
    """Arrest requested (or measure changed, or released) within the limit: no lead."""
    person = population.person(18, 65)
    limit = ledger.rng.choice((3, 3, 3, 3, 7, 30))
    det = detain(ledger, person, ledger.day(hi=-12 if limit == 30 else -1), limit)
    _expect(ledger, person, det, [_close(ledger, person, det, _within(ledger, det, 1, min(limit, 20)))])


def violation(ledger: Ledger, population: Population) -> None:
    """Nothing within the limit (sometimes an arrest request days too late): OPEN."""
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 3, 7)))
    late = None
    if ledger.rng.random() < 0.4:
        late = ledger.due(det.at, det.limit) + timedelta(hours=ledger.rng.randint(1, 120))
        _request_arrest(ledger, person, det, late)
    _expect(ledger, person, det, [late])


def extension_saves(ledger: Ledger, population: Population) -> None:
    """An approved extension (4..7 or 30 days) and a request after day 3 but within it: no lead."""
    rng = ledger.rng
    person = population.person(18, 65)
    days = rng.choice((4, 5, 6, 7, 7, 30))
    det = detain(ledger, person, ledger.day(hi=-12))
    extend_detention(ledger, person, det, det.at + timedelta(hours=rng.randint(12, 60)), days)
    _expect(ledger, person, det, [_close(ledger, person, det, _within(ledger, det, 4, days))], days)


def later_lower_extension(ledger: Ledger, population: Population) -> None:
    """Extended to 30 days, then to 4..7: the latest wins, the request after it is overdue, OPEN.

    Half the time the earlier extension is uploaded after the later one, so only
    ``occurred_at`` (not arrival order) tells which one is the latest.
    """
    rng = ledger.rng
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(hi=-12))
    lower = rng.randint(4, 7)
    first_delay = rng.randint(3, 6) if rng.random() < 0.5 else 0
    extend_detention(ledger, person, det, det.at + timedelta(hours=rng.randint(10, 30)), 30, upload_delay=first_delay)
    extend_detention(ledger, person, det, det.at + timedelta(hours=rng.randint(36, 70)), lower)
    asked = None
    if rng.random() < 0.7:
        asked = _within(ledger, det, lower + 1, 25)
        _request_arrest(ledger, person, det, asked)
    _expect(ledger, person, det, [asked], lower)


def other_case(ledger: Ledger, population: Population) -> None:
    """An arrest request in time, but for another case of the same person: still OPEN."""
    rng = ledger.rng
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day())
    other = police_case(ledger, person, det.district, det.at + timedelta(hours=rng.randint(2, 30)))
    request_arrest(ledger, person, other, det.district, _within(ledger, det, 2, det.limit))
    _expect(ledger, person, det, [])


def extension_other_case(ledger: Ledger, population: Population) -> None:
    """An extension approved in another case of the person does not extend this one: OPEN."""
    rng = ledger.rng
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(hi=-12))
    other = police_case(ledger, person, det.district, det.at + timedelta(hours=rng.randint(2, 20)))
    ledger.record(
        "police.detention_extended",
        f"police:{det.district}",
        det.at + timedelta(hours=rng.randint(24, 60)),
        {"case_no": other, "id_number": person.written(rng), "request_limit_days": 7},
    )
    late = _within(ledger, det, det.limit + 1, 7)
    _request_arrest(ledger, person, det, late)
    _expect(ledger, person, det, [late])


def boundary_ok(ledger: Ledger, population: Population) -> None:
    """The closing record at 23:59:59 of the last allowed day: no lead."""
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 7)))
    at = ledger.last_instant_before(ledger.due(det.at, det.limit))
    _expect(ledger, person, det, [_close(ledger, person, det, at, stamp=ledger.boundary_stamp())])


def boundary_late(ledger: Ledger, population: Population) -> None:
    """The closing record at 00:00:00 after the last allowed day, the deadline itself: OPEN."""
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 7)))
    _expect(
        ledger, person, det, [_close(ledger, person, det, ledger.due(det.at, det.limit), stamp=ledger.boundary_stamp())]
    )


def late_upload(ledger: Ledger, population: Population) -> None:
    """Closed in time, but the police upload the records weeks later: no OPEN lead at the end."""
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(), ledger.rng.choice((3, 3, 7)))
    at = _within(ledger, det, 1, det.limit)
    _expect(ledger, person, det, [_close(ledger, person, det, at, upload_delay=ledger.rng.randint(14, 35))])


def rejected_then_corrected(ledger: Ledger, population: Population) -> None:
    """Arrest requested in time; the first upload is rejected, the corrected re-send comes late: no OPEN lead."""
    rng = ledger.rng
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(), rng.choice((3, 3, 7)))
    asked = _within(ledger, det, 1, det.limit)
    delay = (ledger.local_day(ledger.due(det.at, det.limit)) - ledger.local_day(asked)).days + rng.randint(1, 5)
    _request_arrest(ledger, person, det, asked, rejected_first=delay)
    _expect(ledger, person, det, [asked])


def pending(ledger: Ledger, population: Population) -> None:
    """A 30-day limit that started in the last 10 days of the timeline: not yet due, no lead."""
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.day(lo=ledger.days - 10), 30)
    _expect(ledger, person, det, [])


def due_at_clock_end(ledger: Ledger, population: Population) -> None:
    """A 30-day limit whose deadline is exactly the clock end: the clock has reached it, OPEN."""
    person = population.person(18, 65)
    det = detain(ledger, person, ledger.clock_end_day - timedelta(days=31), 30)
    _expect(ledger, person, det, [])


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

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {
    "m05_compliant": 10,
    "m05_violation": 3,
    "m05_extension_saves": 2,
    "m05_later_lower_extension": 1,
    "m05_other_case": 1,
    "m05_extension_other_case": 1,
    "m05_boundary_ok": 1,
    "m05_boundary_late": 1,
    "m05_late_upload": 1,
    "m05_rejected_then_corrected": 1,
    "m05_pending": 1,
    "m05_due_at_clock_end": 0.5,
}
