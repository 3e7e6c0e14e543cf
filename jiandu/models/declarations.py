"""What every supervision model declares, and what evaluating one yields.

A model file (``jiandu/models/catalogue/``) fills one of the shapes of
``jiandu.models.shapes`` with data (triggers, follow-ups, windows, texts); the
engine (``jiandu.models.engine``) runs every shape the same way, in the streams
worker, in the batch evaluator and in tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from jiandu.core.records import RECORD_TYPES
from jiandu.models.conditions import ALWAYS, ANY, Condition, Params, Relation
from jiandu.models.facts import Fact
from jiandu.models.templates import ALWAYS_PROVIDED, check_templates

__all__ = [
    "DeferredText",
    "EntityKind",
    "Interval",
    "Model",
    "ModelInfo",
    "On",
    "Outcome",
    "OutcomeState",
    "by_time",
    "matching",
    "person_of",
    "subject_of",
    "type_name_zh",
]


class EntityKind(Enum):
    """What a model's state is keyed by; the router sends each event to these entities."""

    PERSON = "P"  # person_key, each suspect
    PLAINTIFF = "PL"  # each plaintiff party (person or organisation)
    ADMIN_CASE = "A"  # administrative case number (admin_case_no / admin_case_ref)


class OutcomeState(Enum):
    """Where one potential lead stands at the current hub clock."""

    PENDING = "PENDING"  # not yet decidable (deadline or evaluation time not reached)
    OPEN = "OPEN"  # the finding holds: raise the lead
    CLOSED = "CLOSED"  # closing evidence exists: RESOLVED if it had been raised
    VOID = "VOID"  # the trigger no longer qualifies: WITHDRAWN if it had been raised


class DeferredText(Mapping[str, str]):
    """An outcome's template values, made on first use: only a published lead version's summary reads them,
    and most evaluations publish nothing (building them was ≈ a third of the commonest shape's work)."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], dict[str, str]]) -> None:
        self._make = make
        self._made: dict[str, str] | None = None

    def _values(self) -> dict[str, str]:
        if self._made is None:
            self._made = self._make()
        return self._made

    def __getitem__(self, key: str) -> str:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


@dataclass(frozen=True, slots=True)
class Outcome:
    """The evaluation of one potential lead."""

    identity: tuple[str, ...]
    state: OutcomeState
    trigger: Fact
    subject_kind: str
    subject_key: str
    finding: str
    severity: str
    reason: str
    evidence: tuple[Fact, ...]
    case_no: str | None = None
    due_at: int | None = None
    closed_at: int | None = None
    wake_at: int | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    text: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class On:
    """Facts of one record type that satisfy a condition."""

    type: str
    where: Condition = ALWAYS

    def __post_init__(self) -> None:
        if self.type not in RECORD_TYPES:
            raise ValueError(f"On({self.type!r}): not a record type of events.md")

    def matches(self, fact: Fact, params: Params) -> bool:
        """True if the fact is of this type and satisfies the condition."""
        return fact.type == self.type and self.where(fact, params)


def matching(ons: Sequence[On], facts: Iterable[Fact], params: Params) -> list[Fact]:
    """The facts that match any of ``ons``, in stored order."""
    return [f for f in facts if any(on.matches(f, params) for on in ons)]


@dataclass(frozen=True, slots=True)
class Interval:
    """A state a person is in from an opening record until a closing one (e.g. under community correction).

    At an instant, the state is the one the latest opening record at or before it opened;
    a closing record after that opening, at or before the instant, ends it if ``closed_by``
    holds between the opening and the closing record (e.g. ``same("case_no")``: a release
    ends the admission of its own case only; default: any closing record ends it).
    """

    opens: On
    closes: On
    closed_by: Relation = ANY

    def opener_at(self, facts: Sequence[Fact], at: int, params: Params) -> Fact | None:
        """The opening record of the state the entity is in at ``at``, or ``None`` if it is not in it.

        The state opens with the latest opening record at or before ``at``; a closing
        record after that opening and at or before ``at`` ends it.
        """
        opener, closer = self.at(facts, at, params)
        return None if closer is not None else opener

    def at(self, facts: Sequence[Fact], at: int, params: Params) -> tuple[Fact | None, Fact | None]:
        """(the latest opening record at or before ``at``, the first closing record after it and at or before ``at``).

        In the state when the first is there and the second is not. A closing record
        is what shows that a lead about the state at ``at`` had a false premise.
        """
        openers = [f for f in facts if f.at <= at and self.opens.matches(f, params)]
        if not openers:
            return None, None
        opener = max(openers, key=lambda f: (f.at, f.id))
        closers = [
            f
            for f in facts
            if opener.at < f.at <= at and self.closes.matches(f, params) and self.closed_by(opener, f, params)
        ]
        return opener, min(closers, key=lambda f: (f.at, f.id), default=None)

    def event_types(self) -> set[str]:
        """Record types the state is read from."""
        return {self.opens.type, self.closes.type}


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What every model declares besides its logic: identity, routing, texts, parameters."""

    id: str
    name: str
    title_zh: str
    version: str
    department: str
    severity: str
    entity: EntityKind = EntityKind.PERSON
    legal_basis_zh: str
    summary_zh: str | Mapping[str, str]  # a template over the outcome's text, or one per finding
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_templates(self.id, self.templates())

    def event_types(self) -> set[str]:
        """Record types the model reads (the router forwards only these)."""
        raise NotImplementedError

    def placeholders(self) -> frozenset[str]:
        """The names ``summary_zh`` may use: what the shape puts in every outcome's text."""
        return ALWAYS_PROVIDED

    def templates(self) -> dict[str, tuple[str, frozenset[str]]]:
        """Every text template of the model (where it is declared → (text, the names available there))."""
        if isinstance(self.summary_zh, str):
            return {"summary_zh": (self.summary_zh, self.placeholders())}
        return {f"summary_zh[{k!r}]": (v, self.placeholders()) for k, v in self.summary_zh.items()}


class Model(Protocol):
    """The engine's view of a declared model."""

    id: str
    version: str
    department: str
    entity: EntityKind
    params: Mapping[str, Any]
    legal_basis_zh: str
    summary_zh: str | Mapping[str, str]

    def event_types(self) -> set[str]: ...

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterable[Outcome]: ...


def by_time(facts: Iterable[Fact]) -> list[Fact]:
    """Distinct facts ordered by time (then id): the order of an evidence list after its trigger."""
    items = list(facts)
    if len(items) < 2:  # (most evidence lists beyond the trigger are empty or one record)
        return items
    seen: dict[str, Fact] = {}
    for f in items:
        seen.setdefault(f.id, f)
    return sorted(seen.values(), key=lambda f: (f.at, f.id))


def person_of(entity: str) -> tuple[str, str]:
    """The subject (kind, key) of a person or organisation entity key (``P:…``, ``O:…``)."""
    prefix, key = entity.split(":", 1)
    return ("PERSON" if prefix == "P" else "ORG"), key


def subject_of(party: Mapping[str, str]) -> tuple[str, str]:
    """The subject (kind, key) of a party field ``{kind, key}``."""
    return party["kind"], party["key"]


_ZH = re.compile(r"\(([^)]*)\)")


def type_name_zh(record_type: str) -> str:
    """The Chinese name of a record type, from its catalogue description."""
    doc = RECORD_TYPES[record_type].doc
    match = _ZH.search(doc)
    return match.group(1).split(",")[0].strip() if match else record_type
