"""Storylines for M04 UNAUTHORIZED_TRAVEL: hotel stays of people on probation outside their permitted city.

A ``police.lodging`` of a person under correction (enrolled at or before it, not
terminated) whose ``city_code`` differs, as a string, from the enrolment's
``permitted_city`` needs a ``correction.leave_approved`` whose ``[start_date,
end_date]`` contains the lodging's local date and whose ``dest_city`` is that city,
approved at any time before 00:00 of ``date(lodging) + 2`` (within 1 day, lookback
unlimited). The lead carries the enrolment's case number.

Background hotel stays are only written for bystanders, never for people under
correction: every M04 lead of a history is planted here. The probation judgments
behind the enrolments are M02 triggers enrolled in time (RESOLVED, planted).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from jiandu.simulate.correction import Enrolment, place_on_probation
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CITY_ABBREVIATION, TRAVEL_CITIES, Person, Population
from jiandu.simulate.reviews import terminate

__all__ = ["STORYLINES", "WEIGHTS", "lodge"]

_DAYS = 1


def lodge(ledger: Ledger, person: Person, city: str, at: datetime, *, stamp: str | None = None) -> Record:
    """A hotel check-in; hotels outside Liaoning's two cities report to the provincial system."""
    source = f"police:{city}:hotel" if city in CITY_ABBREVIATION else "police:210000:hotel"
    return ledger.record(
        "police.lodging",
        source,
        at,
        {
            "id_number": person.written(ledger.rng, legacy_ok=True),
            "city_code": city,
            "hotel_id": f"H{city}{ledger.rng.randint(1, 2500):05d}",
        },
        stamp=stamp,
    )


def _leave(
    ledger: Ledger,
    person: Person,
    at: datetime,
    first: date,
    last: date,
    city: str,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> datetime:
    ledger.record(
        "correction.leave_approved",
        f"correction:{person.home}",
        at,
        {
            "id_number": person.written(ledger.rng),
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "dest_city": city,
        },
        upload_delay=upload_delay,
        stamp=stamp,
    )
    return at


def _on_probation(ledger: Ledger, population: Population) -> tuple[Person, Enrolment]:
    """Someone on probation since one month to two years before the timeline."""
    person = population.person(20, 65)
    judged_on = ledger.start_day - timedelta(days=ledger.rng.randint(30, 700))
    enrolment = place_on_probation(ledger, person, ledger.at(judged_on, 9, 17), months=ledger.rng.randint(36, 60))
    return person, enrolment


def _elsewhere(ledger: Ledger, person: Person) -> str:
    return ledger.rng.choice([c for c in TRAVEL_CITIES if c != person.city])


def _expect(
    ledger: Ledger,
    lodging: Record,
    at: datetime,
    person: Person,
    enrolment: Enrolment,
    closed_at: list[datetime | None],
) -> None:
    subject = ledger.subject(person)
    ledger.expect_deadline("M04", lodging, at, _DAYS, subject, closed_at, lookback=None, case_no=enrolment.case_no)


def _trip(ledger: Ledger, hi: int = -3) -> tuple[date, date, date]:
    """A trip: the leave's first and last day and the night of the hotel stay."""
    first = ledger.day(lo=12, hi=hi)
    last = first + timedelta(days=ledger.rng.randint(0, 6))
    return first, last, first + timedelta(days=ledger.rng.randint(0, (last - first).days))


def leave_covers(ledger: Ledger, population: Population) -> None:
    """Leave approved days before, for that city and those dates: RESOLVED."""
    person, enrolment = _on_probation(ledger, population)
    first, last, night = _trip(ledger)
    city = _elsewhere(ledger, person)
    approved = _leave(
        ledger, person, ledger.at(first - timedelta(days=ledger.rng.randint(1, 10)), 9, 17), first, last, city
    )
    at = ledger.at(night, 12, 24)
    _expect(ledger, lodge(ledger, person, city, at), at, person, enrolment, [approved])


def violation(ledger: Ledger, population: Population) -> None:
    """A hotel stay in another city without any leave: OPEN."""
    person, enrolment = _on_probation(ledger, population)
    at = ledger.at(ledger.day(), 12, 24)
    _expect(ledger, lodge(ledger, person, _elsewhere(ledger, person), at), at, person, enrolment, [])


def leave_other_city(ledger: Ledger, population: Population) -> None:
    """Leave approved for one city, the hotel is in another: OPEN."""
    person, enrolment = _on_probation(ledger, population)
    first, last, night = _trip(ledger)
    permitted, visited = ledger.rng.sample([c for c in TRAVEL_CITIES if c != person.city], k=2)
    _leave(ledger, person, ledger.at(first - timedelta(days=2), 9, 17), first, last, permitted)
    at = ledger.at(night, 12, 24)
    _expect(ledger, lodge(ledger, person, visited, at), at, person, enrolment, [])


def leave_ended_before(ledger: Ledger, population: Population) -> None:
    """Still in the hotel the night after the leave's last day: OPEN."""
    person, enrolment = _on_probation(ledger, population)
    first, last, _ = _trip(ledger, hi=-4)
    city = _elsewhere(ledger, person)
    _leave(ledger, person, ledger.at(first - timedelta(days=3), 9, 17), first, last, city)
    at = ledger.at(last + timedelta(days=1), 12, 24)
    _expect(ledger, lodge(ledger, person, city, at), at, person, enrolment, [])


def lodging_on_leave_end_date(ledger: Ledger, population: Population) -> None:
    """A check-in late on the leave's last day (the end date is inclusive): RESOLVED."""
    person, enrolment = _on_probation(ledger, population)
    first, last, _ = _trip(ledger)
    city = _elsewhere(ledger, person)
    approved = _leave(ledger, person, ledger.at(first - timedelta(days=3), 9, 17), first, last, city)
    at = ledger.at(last, 21, 24)
    _expect(ledger, lodge(ledger, person, city, at), at, person, enrolment, [approved])


def leave_approved_next_day(ledger: Ledger, population: Population) -> None:
    """The leave approved afterwards, at 23:59:59 of the day after the stay (within 1 day): RESOLVED."""
    person, enrolment = _on_probation(ledger, population)
    first, last, night = _trip(ledger)
    city = _elsewhere(ledger, person)
    at = ledger.at(night, 12, 24)
    lodging = lodge(ledger, person, city, at)
    approved = ledger.last_instant_before(ledger.due(at, _DAYS))
    _expect(
        ledger,
        lodging,
        at,
        person,
        enrolment,
        [_leave(ledger, person, approved, first, last, city, stamp=ledger.boundary_stamp())],
    )


def leave_approved_too_late(ledger: Ledger, population: Population) -> None:
    """The leave approved afterwards at 00:00:00 two days after the stay, the deadline itself: OPEN."""
    person, enrolment = _on_probation(ledger, population)
    first, last, night = _trip(ledger)
    city = _elsewhere(ledger, person)
    at = ledger.at(night, 12, 24)
    lodging = lodge(ledger, person, city, at)
    approved = ledger.due(at, _DAYS)
    _expect(
        ledger,
        lodging,
        at,
        person,
        enrolment,
        [_leave(ledger, person, approved, first, last, city, stamp=ledger.boundary_stamp())],
    )


def same_city(ledger: Ledger, population: Population) -> None:
    """A hotel stay in the permitted city itself: no lead."""
    person, _ = _on_probation(ledger, population)
    lodge(ledger, person, person.city, ledger.at(ledger.day(), 12, 24))


def city_code_is_district(ledger: Ledger, population: Population) -> None:
    """The hotel system wrote the district code (``210102``) for a permitted city ``210100``.

    City codes are compared as exact strings: OPEN.
    """
    person, enrolment = _on_probation(ledger, population)
    at = ledger.at(ledger.day(), 12, 24)
    record = ledger.record(
        "police.lodging",
        f"police:{person.city}:hotel",
        at,
        {"id_number": person.written(ledger.rng), "city_code": person.home, "hotel_id": f"H{person.home}00017"},
    )
    _expect(ledger, record, at, person, enrolment, [])


def after_termination(ledger: Ledger, population: Population) -> None:
    """Probation completed and terminated; a trip afterwards: no lead."""
    person = population.person(20, 65)
    months = ledger.rng.randint(12, 24)
    judged_on = ledger.start_day - timedelta(days=months * 30 + ledger.rng.randint(-25, -5))
    enrolment = place_on_probation(ledger, person, ledger.at(judged_on, 9, 17), months=months)
    ended = ledger.at(max(enrolment.term_end, ledger.start_day), 9, 17)
    terminate(ledger, person, ended, "TERM_COMPLETED")
    night = ledger.local_day(ended) + timedelta(days=ledger.rng.randint(1, 30))
    lodge(ledger, person, _elsewhere(ledger, person), ledger.at(night, 12, 24))


def before_enrolment(ledger: Ledger, population: Population) -> None:
    """A trip between the judgment and the day the person reports: not yet under correction, no lead."""
    person = population.person(20, 65)
    judged_at = ledger.at(ledger.day(hi=-12), 9, 12)
    enrolled = ledger.at(ledger.local_day(judged_at) + timedelta(days=ledger.rng.randint(4, 9)), 9, 17)
    place_on_probation(ledger, person, judged_at, months=ledger.rng.randint(12, 36), enrolled_at=enrolled)
    night = ledger.local_day(judged_at) + timedelta(
        days=ledger.rng.randint(1, (ledger.local_day(enrolled) - ledger.local_day(judged_at)).days - 1)
    )
    lodge(ledger, person, _elsewhere(ledger, person), ledger.at(night, 12, 24))


def leave_late_upload(ledger: Ledger, population: Population) -> None:
    """Leave approved before the trip; the agency uploads it two to three weeks later: RESOLVED."""
    person, enrolment = _on_probation(ledger, population)
    first, last, night = _trip(ledger)
    city = _elsewhere(ledger, person)
    asked = ledger.at(first - timedelta(days=ledger.rng.randint(1, 5)), 9, 17)
    approved = _leave(ledger, person, asked, first, last, city, upload_delay=ledger.rng.randint(14, 25))
    at = ledger.at(night, 12, 24)
    _expect(ledger, lodge(ledger, person, city, at), at, person, enrolment, [approved])


def pending(ledger: Ledger, population: Population) -> None:
    """A stay in another city on the last day before the clock end, no leave yet: PENDING."""
    person, enrolment = _on_probation(ledger, population)
    at = ledger.at(ledger.clock_end_day - timedelta(days=1), 12, 24)
    _expect(ledger, lodge(ledger, person, _elsewhere(ledger, person), at), at, person, enrolment, [])


#: Storyline name → how it unfolds for one new person on probation.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m04_leave_covers": leave_covers,
    "m04_violation": violation,
    "m04_leave_other_city": leave_other_city,
    "m04_leave_ended_before": leave_ended_before,
    "m04_lodging_on_leave_end_date": lodging_on_leave_end_date,
    "m04_leave_approved_next_day": leave_approved_next_day,
    "m04_leave_approved_too_late": leave_approved_too_late,
    "m04_same_city": same_city,
    "m04_city_code_is_district": city_code_is_district,
    "m04_after_termination": after_termination,
    "m04_before_enrolment": before_enrolment,
    "m04_leave_late_upload": leave_late_upload,
    "m04_pending": pending,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m04_leave_covers": 4, "m04_violation": 2, "m04_same_city": 2}
