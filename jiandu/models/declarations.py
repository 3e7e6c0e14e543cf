"""The shapes a supervision model is declared in, and what evaluating one yields.

A model file fills one of these shapes with data (triggers, follow-ups, windows,
texts); the engine (``jiandu.models.engine``) runs every shape the same way, in
the streams worker, in the batch evaluator and in tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar, Protocol

from jiandu.core.records import RECORD_TYPES
from jiandu.core.timeutil import DAY_MS, deadline_after, format_cst, local_date
from jiandu.models.conditions import ALWAYS, Condition, Params
from jiandu.models.facts import Fact

__all__ = [
    "EntityKind",
    "FollowUpDeadline",
    "Model",
    "ModelInfo",
    "On",
    "Outcome",
    "OutcomeState",
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


def _any(ons: Sequence[On], fact: Fact, params: Params) -> bool:
    return any(on.matches(fact, params) for on in ons)


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
    summary_zh: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def event_types(self) -> set[str]:
        """Record types the model reads (the router forwards only these)."""
        raise NotImplementedError


class Model(Protocol):
    """The engine's view of a declared model."""

    id: str
    version: str
    department: str
    entity: EntityKind
    params: Mapping[str, Any]
    legal_basis_zh: str
    summary_zh: str

    def event_types(self) -> set[str]: ...

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterable[Outcome]: ...


@dataclass(frozen=True, kw_only=True)
class FollowUpDeadline(ModelInfo):
    """Absence of a follow-up within a deadline after a trigger (CPL day counting).

    For every trigger fact, the lead is due at 00:00 CST of ``date(T) + days + 1``.
    A follow-up closes it when it matches, carries the same values of the ``same``
    fields, and occurred in ``[T - lookback, due_at)`` (without lookback: at or after T).
    ``days`` comes from the ``deadline_days`` parameter, or from ``days_field`` on
    the trigger, replaced by the latest ``extension`` fact (same person and ``same``
    fields) when there is one. ``escalation`` (another record in the same window)
    changes finding and severity.
    """

    shape: ClassVar[str] = "follow-up deadline"
    triggers: tuple[On, ...]
    follow_ups: tuple[On, ...]
    same: tuple[str, ...] = ()
    days_field: str | None = None
    extension: On | None = None
    escalation: On | None = None
    escalation_finding: str = ""
    escalation_severity: str = ""

    def event_types(self) -> set[str]:
        ons = [*self.triggers, *self.follow_ups, self.extension, self.escalation]
        return {on.type for on in ons if on is not None}

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        for trigger in facts:
            if _any(self.triggers, trigger, params):
                yield self._outcome(entity, trigger, facts, clock, params)

    def _related(self, trigger: Fact, fact: Fact) -> bool:
        return all(fact.fields.get(k) == trigger.fields.get(k) for k in self.same)

    def _days(self, trigger: Fact, facts: Sequence[Fact], params: Params) -> tuple[int, list[Fact]]:
        days = int(params["deadline_days"])
        if self.days_field and trigger.fields.get(self.days_field) is not None:
            days = int(trigger.fields[self.days_field])
        if self.extension is None:
            return days, []
        extensions = [
            f for f in facts if self.extension.matches(f, params) and f.at >= trigger.at and self._related(trigger, f)
        ]
        if not extensions:
            return days, []
        latest = max(enumerate(extensions), key=lambda pair: (pair[1].at, pair[0]))[1]
        return int(latest.fields[self.days_field or "days"]), extensions

    def _window(self, trigger: Fact, due: int, params: Params) -> tuple[float, int]:
        lookback = params.get("lookback_days", 0)
        start = float("-inf") if lookback is None else trigger.at - int(lookback) * DAY_MS
        return start, due

    def _outcome(self, entity: str, trigger: Fact, facts: Sequence[Fact], clock: int, params: Params) -> Outcome:
        days, extensions = self._days(trigger, facts, params)
        due = deadline_after(trigger.at, days)
        start, end = self._window(trigger, due, params)
        closers = [
            f
            for f in facts
            if _any(self.follow_ups, f, params)
            and start <= f.at < end
            and self._related(trigger, f)
            and f is not trigger
        ]
        finding, severity, escalators = self.name, self.severity, []
        if self.escalation is not None:
            escalators = [f for f in facts if self.escalation.matches(f, params) and start <= f.at < end]
            if escalators:
                finding, severity = self.escalation_finding, self.escalation_severity
        evidence = (trigger, *_by_time([*extensions, *closers, *escalators]))
        text = {
            "trigger_zh": type_name_zh(trigger.type),
            "trigger_date": local_date(trigger.at).isoformat(),
            "last_day": local_date(due - DAY_MS).isoformat(),
            "days": str(days),
            "case_no": str(trigger.fields.get("case_no") or ""),
        }
        details = {"deadline_days": str(days)} if not self.days_field else {self.days_field: str(days)}
        found = Outcome(
            identity=(trigger.id,),
            state=OutcomeState.OPEN,
            trigger=trigger,
            subject_kind="PERSON",
            subject_key=entity.split(":", 1)[1],
            finding=finding,
            severity=severity,
            reason="deadline passed without closing evidence",
            evidence=evidence,
            due_at=due,
            details=details,
            text=text,
        )
        if closers:
            closed_at = min(f.at for f in closers)
            return replace(found, state=OutcomeState.CLOSED, reason="closing evidence exists", closed_at=closed_at)
        if clock >= due:
            return found
        pending = f"deadline {format_cst(due)} not yet passed"
        return replace(found, state=OutcomeState.PENDING, reason=pending, wake_at=due)


def _by_time(facts: Iterable[Fact]) -> list[Fact]:
    seen: dict[str, Fact] = {}
    for f in facts:
        seen.setdefault(f.id, f)
    return sorted(seen.values(), key=lambda f: (f.at, f.id))


_ZH = re.compile(r"\(([^)]*)\)")


def type_name_zh(record_type: str) -> str:
    """The Chinese name of a record type, from its catalogue description."""
    doc = RECORD_TYPES[record_type].doc
    match = _ZH.search(doc)
    return match.group(1).split(",")[0].strip() if match else record_type
