"""Conditions on facts, written the way an analyst reads them.

field("sentence_type").one_of("PROBATION", "CONTROL")
field("bac_mg_per_100ml") >= param("bac_threshold")
all_of(field("measure") == "CRIMINAL_DETENTION", field("action") == "START")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jiandu.models.facts import Fact

__all__ = ["ALWAYS", "Condition", "FieldRef", "Param", "all_of", "any_of", "field", "param"]

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
