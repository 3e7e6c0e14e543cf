"""Conditions on facts, and relations between a trigger and another fact, written the way an analyst reads them.

field("sentence_type").one_of("PROBATION", "CONTROL")
field("bac_mg_per_100ml") >= param("bac_threshold")
all_of(field("measure") == "CRIMINAL_DETENTION", field("action") == "START")
reaches_threshold(param("thresholds"))             # M10's table, from configuration
same("case_no") & covers_trigger_date("start_date", "end_date")
start_of_month("period")                           # an instant taken from a field: 00:00 CST of its month's 1st

Extension point: a ``Condition(test, text)`` wraps any ``(fact, params) -> bool``, a
``Relation(test, text)`` any ``(trigger, other, params) -> bool`` and an
``Instant(at, text)`` any ``fact -> epoch ms | None``; the text is what errors and
listings show. A model file may define its own next to its ``MODEL``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from jiandu.core.timeutil import local_date, local_midnight_ms
from jiandu.models.facts import Fact

__all__ = [
    "ALWAYS",
    "ANY",
    "OCCURRED",
    "Condition",
    "FieldRef",
    "Instant",
    "Param",
    "Relation",
    "all_of",
    "any_of",
    "covers_trigger_date",
    "differs",
    "equals_trigger",
    "field",
    "month_after",
    "param",
    "reaches_threshold",
    "same",
    "start_of_day",
    "start_of_month",
]

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Param:
    """A number an operator can change per model in configuration."""

    name: str

    def resolve(self, params: Params) -> Any:
        """The configured value."""
        return params[self.name]


def param(name: str) -> Param:
    """Refer to a model parameter (declared with its default in the model's ``params``)."""
    return Param(name)


def _value(v: Any, params: Params) -> Any:
    return v.resolve(params) if isinstance(v, Param) else v


@dataclass(frozen=True, slots=True)
class Condition:
    """A predicate on one fact, with a readable description."""

    test: Callable[[Fact, Params], bool]
    text: str

    def __call__(self, fact: Fact, params: Params) -> bool:
        return self.test(fact, params)

    def __repr__(self) -> str:
        return self.text


ALWAYS = Condition(lambda f, p: True, "always")


class FieldRef:
    """``field(name)``: builds conditions on a record field."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def one_of(self, *values: str) -> Condition:
        """The field's value is one of ``values``."""
        allowed = frozenset(values)
        return Condition(lambda f, p: f.fields.get(self.name) in allowed, f"{self.name} in {sorted(allowed)}")

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return Condition(lambda f, p: f.fields.get(self.name) == value, f"{self.name} == {value!r}")

    def __ge__(self, threshold: object) -> Condition:
        name = self.name

        def at_least(f: Fact, p: Params) -> bool:
            raw = f.fields.get(name)
            return raw is not None and Decimal(str(raw)) >= Decimal(str(_value(threshold, p)))

        return Condition(at_least, f"{name} >= {threshold!r}")

    def __gt__(self, threshold: object) -> Condition:
        name = self.name

        def above(f: Fact, p: Params) -> bool:
            raw = f.fields.get(name)
            return raw is not None and Decimal(str(raw)) > Decimal(str(_value(threshold, p)))

        return Condition(above, f"{name} > {threshold!r}")

    __hash__ = None  # type: ignore[assignment]


def field(name: str) -> FieldRef:
    """Refer to a field of the record."""
    return FieldRef(name)


def all_of(*conditions: Condition) -> Condition:
    """Every condition holds."""
    return Condition(lambda f, p: all(c(f, p) for c in conditions), " and ".join(map(repr, conditions)))


def any_of(*conditions: Condition) -> Condition:
    """At least one condition holds."""
    return Condition(lambda f, p: any(c(f, p) for c in conditions), " or ".join(f"({c!r})" for c in conditions))


def reaches_threshold(table: Param) -> Condition:
    """The record's ``violation_code`` is in the table and its named field reaches the threshold.

    The table maps a violation code to ``{"field": name, "at_least": decimal}``; only that
    field is compared (a tonnage threshold ignores ``amount_cny``).
    """

    def reaches(f: Fact, p: Params) -> bool:
        row = table.resolve(p).get(f.fields.get("violation_code"))
        if row is None:
            return False
        raw = f.fields.get(row["field"])
        return raw is not None and Decimal(str(raw)) >= Decimal(str(row["at_least"]))

    return Condition(reaches, f"violation_code and its field reach the table {table.name!r}")


@dataclass(frozen=True, slots=True)
class Relation:
    """A predicate on (trigger, other fact): which records belong to a trigger."""

    test: Callable[[Fact, Fact, Params], bool]
    text: str

    def __call__(self, trigger: Fact, other: Fact, params: Params) -> bool:
        return self.test(trigger, other, params)

    def __and__(self, other: Relation) -> Relation:
        return Relation(lambda t, o, p: self(t, o, p) and other(t, o, p), f"{self.text} and {other.text}")

    def __repr__(self) -> str:
        return self.text


ANY = Relation(lambda t, o, p: True, "any")


def same(*names: str) -> Relation:
    """The other record carries the trigger's values of these fields (e.g. the same case)."""
    if not names:
        return ANY
    text = f"same {', '.join(names)}"
    if len(names) == 1:  # (the commonest: a case number; no generator per pair of facts)
        (name,) = names
        return Relation(lambda t, o, p: o.fields.get(name) == t.fields.get(name), text)
    return Relation(lambda t, o, p: all(o.fields.get(n) == t.fields.get(n) for n in names), text)


def equals_trigger(other_field: str, trigger_field: str) -> Relation:
    """``other.other_field == trigger.trigger_field`` (e.g. the leave's destination is the lodging city)."""
    return Relation(
        lambda t, o, p: o.fields.get(other_field) == t.fields.get(trigger_field), f"{other_field} == {trigger_field}"
    )


def differs(other_field: str, trigger_field: str) -> Relation:
    """``other.other_field != trigger.trigger_field`` (compared as exact strings)."""
    return Relation(
        lambda t, o, p: o.fields.get(other_field) != t.fields.get(trigger_field), f"{other_field} != {trigger_field}"
    )


def covers_trigger_date(start_field: str, end_field: str) -> Relation:
    """The trigger's local (CST) date lies in the other record's ``[start, end]`` (inclusive)."""

    def covers(t: Fact, o: Fact, p: Params) -> bool:
        start, end = o.fields.get(start_field), o.fields.get(end_field)
        return start is not None and end is not None and start <= local_date(t.at).isoformat() <= end

    return Relation(covers, f"trigger date in [{start_field}, {end_field}]")


def month_after(other_field: str, trigger_field: str) -> Relation:
    """The other record's month (``YYYY-MM``) is later than the month of the trigger's date field."""
    return Relation(
        lambda t, o, p: str(o.fields.get(other_field)) > str(t.fields.get(trigger_field))[:7],
        f"{other_field} later than the month of {trigger_field}",
    )


@dataclass(frozen=True, slots=True)
class Instant:
    """An instant a model reads from a record (when a state is checked, for instance); None: the record has none."""

    at: Callable[[Fact], int | None]
    text: str

    def __call__(self, fact: Fact) -> int | None:
        return self.at(fact)

    def __repr__(self) -> str:
        return self.text


#: When the record occurred (``occurred_at``).
OCCURRED = Instant(lambda f: f.at, "occurred_at")


def start_of_month(field_name: str) -> Instant:
    """00:00 CST of the first day of the month a ``YYYY-MM`` (or date) field names, e.g. a pension's ``period``."""

    def first_day(f: Fact) -> int | None:
        value = str(f.fields.get(field_name) or "")
        try:
            return local_midnight_ms(date.fromisoformat(f"{value[:7]}-01"))
        except ValueError:
            return None

    return Instant(first_day, f"start of the month of {field_name}")


def start_of_day(field_name: str) -> Instant:
    """00:00 CST of a date field (e.g. ``died_on``)."""

    def midnight(f: Fact) -> int | None:
        try:
            return local_midnight_ms(date.fromisoformat(str(f.fields.get(field_name) or "")))
        except ValueError:
            return None

    return Instant(midnight, f"start of {field_name}")
