"""Places, agency units and people of the simulated province (辽宁), coded as the agencies code them.

Division codes, court and facility codes and document-number shapes follow the
conformance data (``/work/shared/conformance/records.jsonl``), so a generated
history reads like an export of the real partner systems.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from jiandu.core.identity import credit_check_character, make_id_number

__all__ = [
    "CHARGES",
    "CITY_ABBREVIATION",
    "DISTRICTS",
    "PRISONS",
    "TRAVEL_CITIES",
    "Organisation",
    "Person",
    "Population",
    "city_of",
    "court_code",
    "police_bureau",
]

#: District division code → (short name used in document numbers, city division code).
DISTRICTS: dict[str, tuple[str, str]] = {
    "210102": ("和平", "210100"),
    "210103": ("沈河", "210100"),
    "210104": ("大东", "210100"),
    "210105": ("皇姑", "210100"),
    "210106": ("铁西", "210100"),
    "210112": ("浑南", "210100"),
    "210202": ("中山", "210200"),
    "210203": ("西岗", "210200"),
    "210204": ("沙河口", "210200"),
}

#: City division code → the one-character abbreviation in administrative document numbers.
CITY_ABBREVIATION = {"210100": "沈", "210200": "连"}
_CITY_NAME = {"210100": "沈阳市", "210200": "大连市"}

#: City → (prison unit, facility code) of the provincial prisons there.
PRISONS: dict[str, tuple[tuple[str, str], ...]] = {
    "210100": (("p1", "LNJY-SY01"), ("p2", "LNJY-SY02")),
    "210200": (("p1", "LNJY-DL01"),),
}

#: Cities of hotel check-ins: the two home cities and where people travel to.
TRAVEL_CITIES = ("210100", "210200", "210300", "210600", "110100", "120100", "220100", "370200", "310100")

#: Criminal charge codes (刑法 article) and names as the police case systems write them.
CHARGES = (
    ("264", "盗窃罪"),
    ("266", "诈骗罪"),
    ("234", "故意伤害罪"),
    ("347", "贩卖毒品罪"),
    ("293", "寻衅滋事罪"),
    ("292", "聚众斗殴罪"),
    ("274", "敲诈勒索罪"),
    ("303", "赌博罪"),
    ("224", "合同诈骗罪"),
    ("196", "信用卡诈骗罪"),
)

# Birth divisions of people who moved to Liaoning or were registered in other districts.
_OTHER_BIRTH_DIVISIONS = ("210211", "210113", "210114", "211402", "210602", "210902", "220104", "410105")
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_KINDS = ("91", "91", "91", "92", "52", "12")  # enterprise, sole trader, social org, institution
_HOMES = sorted(DISTRICTS)


def city_of(district: str) -> str:
    """The city division code of a district (``210102`` → ``210100``)."""
    return DISTRICTS[district][1]


def court_code(division: str) -> str:
    """The court part of a case number: ``210102`` → ``辽0102``, ``210100`` → ``辽01``."""
    return f"辽{division[2:6]}" if not division.endswith("00") else f"辽{division[2:4]}"


def police_bureau(district: str) -> str:
    """The name of a district police sub-bureau (``沈阳市公安局和平分局``)."""
    name, city = DISTRICTS[district]
    return f"{_CITY_NAME[city]}公安局{name}分局"


@dataclass(frozen=True, slots=True)
class Person:
    """A simulated resident: the normalised ID number, home district and birth date."""

    id_number: str
    home: str
    birth: date

    @property
    def city(self) -> str:
        """The city the person lives in."""
        return city_of(self.home)

    def written(self, rng: random.Random, *, legacy_ok: bool = False) -> str:
        """The ID number as a source system writes it: sometimes a lower-case ``x``.

        Older systems (``legacy_ok``) still hold some 15-digit numbers of people born in the 1900s.
        """
        if legacy_ok and self.birth.year < 2000 and rng.random() < 0.15:
            return self.id_number[:6] + self.id_number[8:17]
        if self.id_number.endswith("X") and rng.random() < 0.4:
            return self.id_number[:-1] + "x"
        return self.id_number


@dataclass(frozen=True, slots=True)
class Organisation:
    """A company or institution, known by its unified social credit code."""

    credit_code: str
    home: str


class Population:
    """Creates distinct people and organisations from one seeded random source.

    *Bystanders* are people whose storyline no extra record can change (a traveller, a
    living pensioner, a shopkeeper): background noise and invalid lines are written
    about them only, never about someone whose planted lead depends on what the
    agencies recorded about them.
    """

    def __init__(self, rng: random.Random, today: date) -> None:
        self._rng = rng
        self._today = today
        self._taken: set[str] = set()
        self.people: list[Person] = []
        self.bystanders: list[Person] = []
        self.organisations: list[Organisation] = []
        # Lending companies of the background still taking borrowers to court, and their suits so far.
        self.lenders: list[Organisation] = []
        self.suits: Counter[str] = Counter()

    def person(self, min_age: int = 18, max_age: int = 70, *, bystander: bool = False) -> Person:
        """A new person whose age on the first day of the history is in ``[min_age, max_age]``."""
        rng = self._rng
        home = rng.choice(_HOMES)
        while True:
            birth_division = home if rng.random() < 0.75 else rng.choice(_OTHER_BIRTH_DIVISIONS)
            age_days = rng.randint(int(min_age * 365.25) + 1, int((max_age + 1) * 365.25) - 1)
            birth = self._today - timedelta(days=age_days)
            number = make_id_number(birth_division, birth, rng.randrange(1000))
            if number not in self._taken:
                break
        self._taken.add(number)
        person = Person(number, home, birth)
        self.people.append(person)
        if bystander:
            self.bystanders.append(person)
        return person

    def bystander(self) -> Person:
        """Some bystander (a new one when there is none yet)."""
        if not self.bystanders:
            return self.person(25, 75, bystander=True)
        return self._rng.choice(self.bystanders)

    def organisation(self, *, register: bool = True) -> Organisation:
        """A new organisation with a valid credit code registered in one of the districts.

        An unregistered one (``register=False``) is never picked by background noise:
        a planted storyline owns everything recorded about it.
        """
        rng = self._rng
        home = rng.choice(_HOMES)
        while True:
            body = "".join(rng.choice(_CREDIT_ALPHABET) for _ in range(9))
            first17 = f"{rng.choice(_CREDIT_KINDS)}{home}{body}"
            code = first17 + credit_check_character(first17)
            if code not in self._taken:
                break
        self._taken.add(code)
        organisation = Organisation(code, home)
        if register:
            self.organisations.append(organisation)
        return organisation
