"""Blood-alcohol tests at traffic checkpoints; storylines for M01 DUI_NOT_FILED (醉驾未立案).

A test with ``bac_mg_per_100ml`` ≥ 80 (compared as decimals: 79.9 < 80 ≤ 80.0) must be
followed by a ``police.case_filed`` listing the driver, whatever the charge, within
30 days; a filing at most 30 × 24 hours before the test counts too (lookback). A
``police.admin_penalty`` of the driver in that same window, without a filing, turns
the finding into ``PENALTY_INSTEAD_OF_PROSECUTION`` (HIGH); with a filing the lead is
RESOLVED as ``DUI_NOT_FILED``. Background drivers all
test below 80: every M01 lead of a history is planted here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from jiandu.simulate.ledger import Ledger, Record
from jiandu.simulate.places import CITY_ABBREVIATION, DISTRICTS, Person, Population
from jiandu.simulate.police import file_case

__all__ = ["STORYLINES", "WEIGHTS", "checkpoint"]

_DAYS = 30
_LOOKBACK = timedelta(days=_DAYS)
_THRESHOLD = Decimal(80)
_DUI = ("133-1", "危险驾驶罪")
_OTHER_CHARGES = (("133", "交通肇事罪"), ("277", "妨害公务罪"), ("264", "盗窃罪"), ("234", "故意伤害罪"))
_PENALTIES = {
    "drunk": ("1712", "醉酒后驾驶机动车，吊销驾驶证"),
    "drinking": ("1711", "饮酒后驾驶机动车"),
    "unlicensed": ("1721", "未取得机动车驾驶证驾驶机动车"),
}


@dataclass(frozen=True, slots=True)
class _Test:
    record: Record
    at: datetime
    person: Person


def checkpoint(ledger: Ledger, person: Person, at: datetime, bac: int | str) -> _Test:
    """A ``police.alcohol_test`` of the person at a checkpoint of the city's traffic police."""
    rng = ledger.rng
    plate = f"辽{'A' if person.city == '210100' else 'B'}{rng.randint(0, 99999):05d}" if rng.random() < 0.9 else None
    fields: Record = {"test_no": "", "id_number": person.written(rng), "bac_mg_per_100ml": bac, "plate_no": plate}
    record = ledger.make("police.alcohol_test", f"police:{person.city}:traffic", at, fields)
    record["test_no"] = record["source_record_id"]
    if ledger.in_history(at):
        ledger.add(record, at)
    return _Test(record, at, person)


def penalise(ledger: Ledger, person: Person, at: datetime, kind: str) -> datetime:
    """A police administrative penalty of the person (a traffic penalty decision)."""
    code, text = _PENALTIES[kind]
    short = DISTRICTS[person.home][0][0]
    year = ledger.local_day(at).year
    ledger.record(
        "police.admin_penalty",
        f"police:{person.home}",
        at,
        {
            "penalty_no": f"{CITY_ABBREVIATION[person.city]}公({short})行罚决字〔{year}〕"
            f"{ledger.serial(f'行罚/{person.home}/{year}', ledger.rng.randint(1, 30))}号",
            "id_number": person.written(ledger.rng),
            "violation_code": code,
            "description": text,
        },
    )
    return at


def _file(
    ledger: Ledger,
    person: Person,
    at: datetime,
    charge: tuple[str, str] = _DUI,
    *,
    upload_delay: int = 0,
    stamp: str | None = None,
) -> datetime:
    """A criminal case listing the driver, usually with bail a few hours later."""
    case = file_case(ledger, [person], person.home, at, charge, upload_delay=upload_delay, stamp=stamp)
    if ledger.rng.random() < 0.6:
        ledger.record(
            "police.coercive_measure",
            f"police:{person.home}",
            at + timedelta(hours=ledger.rng.randint(1, 6)),
            {"case_no": case["case_no"], "id_number": person.written(ledger.rng), "measure": "BAIL", "action": "START"},
            upload_delay=upload_delay,
        )
    return at


def _expect(ledger: Ledger, test: _Test, filed: list[datetime | None], penalised: list[datetime | None]) -> None:
    """Plant M01 for a test at or above 80: closed by a filing in [T - 30 days, due)."""
    if Decimal(str(test.record["bac_mg_per_100ml"])) < _THRESHOLD:
        return
    due = ledger.due(test.at, _DAYS)
    earliest = test.at - _LOOKBACK

    def in_window(instants: list[datetime | None]) -> bool:
        return any(at is not None and ledger.in_history(at) and earliest <= at < due for at in instants)

    # A filing closes the lead as DUI_NOT_FILED even when a penalty exists too.
    finding = "PENALTY_INSTEAD_OF_PROSECUTION" if in_window(penalised) and not in_window(filed) else None
    subject = ledger.subject(test.person)
    ledger.expect_by("M01", test.record, test.at, due, subject, filed, lookback=_LOOKBACK, finding=finding)


def _drunk(ledger: Ledger) -> int | str:
    bac = ledger.rng.randint(80, 250)
    return f"{bac}.{ledger.rng.randint(0, 9)}" if ledger.rng.random() < 0.2 else bac


def _stopped(ledger: Ledger, population: Population, day: date, bac: int | str | None = None) -> _Test:
    person = population.person(20, 65)
    return checkpoint(ledger, person, ledger.at(day, 19, 24), _drunk(ledger) if bac is None else bac)


def _later(ledger: Ledger, test: _Test, first: int, last: int) -> datetime:
    return ledger.at(ledger.local_day(test.at) + timedelta(days=ledger.rng.randint(first, last)), 8, 20)


def compliant(ledger: Ledger, population: Population) -> None:
    """Drunk (≥ 80), case filed for dangerous driving within days: RESOLVED."""
    test = _stopped(ledger, population, ledger.day(hi=-2))
    _expect(ledger, test, [_file(ledger, test.person, _later(ledger, test, 1, 20))], [])


def violation(ledger: Ledger, population: Population) -> None:
    """Drunk, nothing filed: OPEN."""
    test = _stopped(ledger, population, ledger.day())
    _expect(ledger, test, [], [])


def penalty_instead(ledger: Ledger, population: Population) -> None:
    """Drunk, only the licence revoked by an administrative penalty: OPEN, ``PENALTY_INSTEAD_OF_PROSECUTION``."""
    test = _stopped(ledger, population, ledger.day())
    _expect(ledger, test, [], [penalise(ledger, test.person, _later(ledger, test, 1, 15), "drunk")])


def filed_day_30_23h59(ledger: Ledger, population: Population) -> None:
    """Filed at 23:59:59 of ``date(T) + 30``, the last second allowed: RESOLVED."""
    test = _stopped(ledger, population, ledger.day())
    at = ledger.last_instant_before(ledger.due(test.at, _DAYS))
    _expect(ledger, test, [_file(ledger, test.person, at, stamp=ledger.boundary_stamp())], [])


def filed_day_31_midnight(ledger: Ledger, population: Population) -> None:
    """Filed at 00:00:00 of ``date(T) + 31``, the deadline itself: OPEN."""
    test = _stopped(ledger, population, ledger.day())
    at = ledger.due(test.at, _DAYS)
    _expect(ledger, test, [_file(ledger, test.person, at, stamp=ledger.boundary_stamp())], [])


def bac_79_9(ledger: Ledger, population: Population) -> None:
    """79.9 mg/100 ml is drinking, not drunk driving: a traffic penalty, no lead."""
    test = _stopped(ledger, population, ledger.day(), "79.9")
    _expect(ledger, test, [], [penalise(ledger, test.person, _later(ledger, test, 1, 10), "drinking")])


def bac_80_0(ledger: Ledger, population: Population) -> None:
    """Exactly 80 (written ``80.0``, ``80`` or ``80.00``), nothing filed: OPEN."""
    test = _stopped(ledger, population, ledger.day(), ledger.rng.choice(("80.0", 80, "80.00")))
    _expect(ledger, test, [], [])


def filed_before_within_lookback(ledger: Ledger, population: Population) -> None:
    """Already listed in a case filed exactly 30 × 24 hours before the test: RESOLVED (lookback)."""
    test = _stopped(ledger, population, ledger.day(lo=31))
    charge = ledger.rng.choice(_OTHER_CHARGES)
    _expect(ledger, test, [_file(ledger, test.person, test.at - _LOOKBACK, charge, stamp=ledger.boundary_stamp())], [])


def filed_before_lookback(ledger: Ledger, population: Population) -> None:
    """Listed in a case filed 30 × 24 hours and one second before the test: too early, OPEN."""
    test = _stopped(ledger, population, ledger.day(lo=31))
    at = test.at - _LOOKBACK - timedelta(seconds=1)
    _expect(ledger, test, [_file(ledger, test.person, at, ledger.rng.choice(_OTHER_CHARGES))], [])


def other_charge_filed(ledger: Ledger, population: Population) -> None:
    """The case filed within the 30 days is for another charge (any charge counts): RESOLVED."""
    test = _stopped(ledger, population, ledger.day(hi=-2))
    charge = ledger.rng.choice(_OTHER_CHARGES)
    _expect(ledger, test, [_file(ledger, test.person, _later(ledger, test, 1, 25), charge)], [])


def penalty_30_days_before(ledger: Ledger, population: Population) -> None:
    """An administrative penalty exactly 30 × 24 hours before the test, nothing filed: OPEN, penalty instead."""
    test = _stopped(ledger, population, ledger.day(lo=31))
    _expect(ledger, test, [], [penalise(ledger, test.person, test.at - _LOOKBACK, "unlicensed")])


def penalty_at_deadline(ledger: Ledger, population: Population) -> None:
    """The licence revoked at 00:00:00 of ``date(T) + 31``, outside the window: OPEN, ``DUI_NOT_FILED``."""
    test = _stopped(ledger, population, ledger.day())
    _expect(ledger, test, [], [penalise(ledger, test.person, ledger.due(test.at, _DAYS), "drunk")])


def late_upload(ledger: Ledger, population: Population) -> None:
    """Filed in time, the case uploaded weeks after the deadline: RESOLVED."""
    test = _stopped(ledger, population, ledger.day(hi=-2))
    at = _later(ledger, test, 1, 20)
    _expect(ledger, test, [_file(ledger, test.person, at, upload_delay=ledger.rng.randint(30, 45))], [])


def pending(ledger: Ledger, population: Population) -> None:
    """Tested in the last 30 days before the clock end, nothing filed yet: PENDING."""
    day = ledger.clock_end_day - timedelta(days=ledger.rng.randint(1, _DAYS))
    test = _stopped(ledger, population, day)
    _expect(ledger, test, [], [])


#: Storyline name → how it unfolds for one new driver.
STORYLINES: dict[str, Callable[[Ledger, Population], None]] = {
    "m01_compliant": compliant,
    "m01_violation": violation,
    "m01_penalty_instead": penalty_instead,
    "m01_filed_day_30_23h59": filed_day_30_23h59,
    "m01_filed_day_31_midnight": filed_day_31_midnight,
    "m01_bac_79_9": bac_79_9,
    "m01_bac_80_0": bac_80_0,
    "m01_filed_before_within_lookback": filed_before_within_lookback,
    "m01_filed_before_lookback": filed_before_lookback,
    "m01_other_charge_filed": other_charge_filed,
    "m01_penalty_30_days_before": penalty_30_days_before,
    "m01_penalty_at_deadline": penalty_at_deadline,
    "m01_late_upload": late_upload,
    "m01_pending": pending,
}

#: Relative frequency of each storyline once every one has been cast.
WEIGHTS = {name: 0.3 for name in STORYLINES} | {"m01_compliant": 6, "m01_violation": 1.5, "m01_penalty_instead": 1}
