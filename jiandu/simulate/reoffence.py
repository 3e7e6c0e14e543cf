"""Storylines for M03 REOFFENSE_UNDER_CORRECTION: a new criminal case while on probation.

Each ``police.case_filed`` listing a person, and each ``police.coercive_measure``
``START``, is a trigger for every listed person who is under community correction at
its ``occurred_at``: enrolled at or before it, and not terminated since (``term_end``
does not end it). Each (trigger, person) is its own OPEN lead, raised at once.

The probation judgments behind the enrolments are M02 triggers, enrolled in time
(M02 RESOLVED, planted); they carry no fine. Only bail and residential surveillance
are used as measures here, so no M05 detention deadline arises.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from jiandu.simulate.correction import Enrolment, place_on_probation
from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import Person, Population
from jiandu.simulate.police import file_case
from jiandu.simulate.reviews import terminate

__all__ = ["STORYLINES", "WEIGHTS"]


def _on_probation(
    ledger: Ledger, person: Person, judged_on: date, months: int, enrolled_at: datetime | None = None
) -> Enrolment:
    return place_on_probation(ledger, person, ledger.at(judged_on, 9, 17), months=months, enrolled_at=enrolled_at)


def _years_ago(ledger: Ledger) -> date:
    """A judgment day one month to two years before the timeline."""
    return ledger.start_day - timedelta(days=ledger.rng.randint(30, 700))


def _measure(ledger: Ledger, person: Person, case: Record, at: datetime, measure: str) -> Record:
    return ledger.record(
        "police.coercive_measure",
        str(case["source"]),
        at,
        {"case_no": case["case_no"], "id_number": person.written(ledger.rng), "measure": measure, "action": "START"},
    )


def _expect(ledger: Ledger, trigger: Record, at: datetime, people: list[Person]) -> None:
    for person in people:
        ledger.expect_now("M03", trigger, at, ledger.subject(person))


def violation(ledger: Ledger, population: Population) -> None:
    """On probation for a year or more; a new case is filed, often with bail: one or two OPEN leads."""
    person = population.person(20, 60)
    _on_probation(ledger, person, _years_ago(ledger), ledger.rng.randint(36, 60))
    filed = ledger.at(ledger.day(), 8, 22)
    case = file_case(ledger, [person], person.home, filed)
    _expect(ledger, case, filed, [person])
    if ledger.rng.random() < 0.5:
        bailed = filed + timedelta(hours=ledger.rng.randint(2, 48))
        _expect(ledger, _measure(ledger, person, case, bailed, "BAIL"), bailed, [person])


def enrolled_before_trigger(ledger: Ledger, population: Population) -> None:
    """Judged and enrolled in the timeline, a new case weeks later: OPEN."""
    person = population.person(20, 60)
    enrolment = _on_probation(ledger, person, ledger.day(hi=-40), ledger.rng.randint(12, 36))
    filed = ledger.at(ledger.local_day(enrolment.at) + timedelta(days=ledger.rng.randint(3, 30)), 8, 22)
    case = file_case(ledger, [person], person.home, filed)
    _expect(ledger, case, filed, [person])


def enrolled_at_trigger(ledger: Ledger, population: Population) -> None:
    """Enrolled at the very instant the case was filed ("at or before"): OPEN."""
    person = population.person(20, 60)
    judged_on = ledger.day(hi=-12)
    filed = ledger.at(judged_on + timedelta(days=ledger.rng.randint(2, 9)), 9, 17)
    _on_probation(ledger, person, judged_on, ledger.rng.randint(12, 36), enrolled_at=filed)
    case = file_case(ledger, [person], person.home, filed, stamp=ledger.boundary_stamp())
    _expect(ledger, case, filed, [person])


def enrolled_after_trigger(ledger: Ledger, population: Population) -> None:
    """The case is filed a second to two days before the person reports: not yet under correction, no lead."""
    person = population.person(20, 60)
    judged_on = ledger.day(hi=-12)
    enrolled = ledger.at(judged_on + timedelta(days=ledger.rng.randint(3, 9)), 9, 17)
    _on_probation(ledger, person, judged_on, ledger.rng.randint(12, 36), enrolled_at=enrolled)
    gap = ledger.rng.choice((timedelta(seconds=1), timedelta(seconds=ledger.rng.randint(60, 2 * 86400))))
    file_case(ledger, [person], person.home, enrolled - gap)


def terminated_before_trigger(ledger: Ledger, population: Population) -> None:
    """Probation completed and terminated; a new case weeks later: no lead."""
    person = population.person(20, 60)
    months = ledger.rng.randint(12, 24)
    judged_on = ledger.start_day - timedelta(days=months * 30 + ledger.rng.randint(-25, -5))
    enrolment = _on_probation(ledger, person, judged_on, months)
    ended = ledger.at(max(enrolment.term_end, ledger.start_day), 9, 17)
    terminate(ledger, person, ended, "TERM_COMPLETED")
    file_case(
        ledger,
        [person],
        person.home,
        ledger.at(ledger.local_day(ended) + timedelta(days=ledger.rng.randint(1, 60)), 8, 22),
    )


def term_end_passed(ledger: Ledger, population: Population) -> None:
    """The probation term ended on paper but the agency never terminated it; a new case: still OPEN."""
    person = population.person(20, 60)
    months = ledger.rng.randint(6, 18)
    judged_on = ledger.start_day - timedelta(days=months * 31 + ledger.rng.randint(5, 60))
    enrolment = _on_probation(ledger, person, judged_on, months)
    filed = ledger.at(ledger.day(lo=max(0, (enrolment.term_end - ledger.start_day).days + 1)), 8, 22)
    case = file_case(ledger, [person], person.home, filed)
    _expect(ledger, case, filed, [person])


def two_suspects(ledger: Ledger, population: Population) -> None:
    """One case, three suspects, two of them on probation: one OPEN lead for each of the two."""
    first, second, third = population.person(20, 60), population.person(20, 60), population.person(20, 60)
    for person in (first, second):
        _on_probation(ledger, person, _years_ago(ledger), ledger.rng.randint(36, 60))
    filed = ledger.at(ledger.day(), 8, 22)
    suspects = [first, second, third]
    ledger.rng.shuffle(suspects)
    case = file_case(ledger, suspects, first.home, filed, ("292", "聚众斗殴罪"))
    _expect(ledger, case, filed, [first, second])


def measure_start(ledger: Ledger, population: Population) -> None:
    """A case filed before the person's probation began; residential surveillance starts after: OPEN (measure)."""
    person = population.person(20, 60)
    judged_on = ledger.day(lo=21, hi=-30)
    case = file_case(
        ledger, [person], person.home, ledger.at(judged_on - timedelta(days=ledger.rng.randint(1, 20)), 8, 22)
    )
    enrolment = _on_probation(ledger, person, judged_on, ledger.rng.randint(12, 36))
    started = ledger.at(ledger.local_day(enrolment.at) + timedelta(days=ledger.rng.randint(2, 20)), 9, 18)
    _expect(ledger, _measure(ledger, person, case, started, "RESIDENTIAL_SURVEILLANCE"), started, [person])


#: Storyline name → how it unfolds for new people.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m03_violation": violation,
    "m03_enrolled_before_trigger": enrolled_before_trigger,
    "m03_enrolled_at_trigger": enrolled_at_trigger,
    "m03_enrolled_after_trigger": enrolled_after_trigger,
    "m03_terminated_before_trigger": terminated_before_trigger,
    "m03_term_end_passed": term_end_passed,
    "m03_two_suspects": two_suspects,
    "m03_measure_start": measure_start,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m03_violation": 2, "m03_enrolled_before_trigger": 1}
