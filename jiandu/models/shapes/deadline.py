"""Absence of a follow-up within a deadline after a trigger (CPL day counting)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from jiandu.core.timeutil import DAY_MS, deadline_after, format_cst, local_date
from jiandu.models.conditions import ANY, Params, Relation, same
from jiandu.models.declarations import (
    DeferredText,
    Interval,
    ModelInfo,
    On,
    Outcome,
    OutcomeState,
    by_time,
    person_of,
    subject_of,
    type_name_zh,
)
from jiandu.models.facts import Fact
from jiandu.models.templates import record_fields

__all__ = ["FollowUpDeadline", "pending", "premise_false"]

NO_CLOSING_EVIDENCE = "deadline passed without closing evidence"
CLOSING_EVIDENCE = "closing evidence exists"


def premise_false(outcome: Outcome, disproof: Fact) -> Outcome:
    """The outcome as void: ``disproof`` shows the trigger does not qualify (a raised lead is WITHDRAWN with it)."""
    return replace(
        outcome,
        state=OutcomeState.VOID,
        reason=f"premise disproved by {disproof.type} of {local_date(disproof.at).isoformat()}",
        evidence=(outcome.trigger, disproof),
        closed_at=None,
        wake_at=None,
    )


def pending(outcome: Outcome, due: int) -> Outcome:
    """The outcome as not yet decidable until the clock reaches ``due``."""
    return replace(outcome, state=OutcomeState.PENDING, reason=not_yet_passed(due), wake_at=due)


def not_yet_passed(due: int) -> str:
    """The reason of an outcome waiting for its deadline ``due``."""
    return f"deadline {format_cst(due)} not yet passed"


@dataclass(frozen=True, kw_only=True)
class FollowUpDeadline(ModelInfo):
    """A lead when no follow-up arrives within ``deadline_days`` of a trigger.

    For every trigger fact, the lead is due at 00:00 CST of ``date(T) + days + 1``.
    A follow-up closes it when it matches, relates to the trigger (``same`` fields and
    ``related``) and occurred in ``[T - lookback, due_at)`` (``lookback_days`` parameter:
    0 means at or after T, ``None`` unlimited). ``days`` comes from the ``deadline_days``
    parameter, or from ``days_field`` on the trigger, replaced by the latest
    ``extension`` (same person and ``same`` fields, before the next such trigger) when
    there is one.

    Optional refinements: ``during`` (the trigger counts only while the entity is in a
    state, e.g. under community correction, and ``during_related`` holds between the
    trigger and the record that opened the state); ``escalation`` (another record in
    the same window changes finding and severity); ``subject_field`` (the lead's subject
    is a party field of the trigger instead of the entity); ``case_field`` (the case
    number shown, else the case of the record that opened the state).
    """

    triggers: tuple[On, ...]
    follow_ups: tuple[On, ...]
    same: tuple[str, ...] = ()
    related: Relation = ANY
    days_field: str | None = None
    extension: On | None = None
    during: Interval | None = None
    during_related: Relation = ANY
    escalation: On | None = None
    escalation_finding: str = ""
    escalation_severity: str = ""
    subject_field: str | None = None
    case_field: str = "case_no"
    detail_fields: tuple[str, ...] = ()

    def event_types(self) -> set[str]:
        ons = [*self.triggers, *self.follow_ups, self.extension, self.escalation]
        types = {on.type for on in ons if on is not None}
        return types | (self.during.event_types() if self.during else set())

    @functools.cached_property
    def _same_fields(self) -> Relation:
        return same(*self.same)

    @functools.cached_property
    def _belongs(self) -> Relation:
        return self._same_fields & self.related

    @functools.cached_property
    def _trigger_types(self) -> frozenset[str]:
        return frozenset(on.type for on in self.triggers)

    @functools.cached_property
    def _follow_up_types(self) -> frozenset[str]:
        return frozenset(on.type for on in self.follow_ups)

    def placeholders(self) -> frozenset[str]:
        names = {"trigger_zh", "trigger_date", "last_day", "days", "case_no"}
        return super().placeholders() | names | record_fields(on.type for on in self.triggers)

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        belongs = self._belongs
        trigger_types = self._trigger_types
        for trigger in facts:
            if trigger.type not in trigger_types or not any(on.matches(trigger, params) for on in self.triggers):
                continue
            opener = None
            if self.during is not None:
                opener, closer = self.during.at(facts, trigger.at, params)
                if opener is None:
                    continue  # facts are only ever added: it never was in the state, so no lead was raised
                if closer is not None or not self.during_related(trigger, opener, params):
                    found = self._outcome(entity, trigger, opener, facts, clock, params, belongs)
                    yield premise_false(found, closer or opener)
                    continue
            yield self._outcome(entity, trigger, opener, facts, clock, params, belongs)

    def _days(self, trigger: Fact, facts: Sequence[Fact], params: Params) -> tuple[int, list[Fact]]:
        days = int(params["deadline_days"])
        if self.days_field and trigger.fields.get(self.days_field) is not None:
            days = int(trigger.fields[self.days_field])
        if self.extension is None:
            return days, []
        related = self._same_fields
        later_triggers = [
            f.at
            for f in facts
            if f.at > trigger.at and any(on.matches(f, params) for on in self.triggers) and related(trigger, f, params)
        ]
        until = min(later_triggers, default=None)
        extensions = [
            f
            for f in facts
            if self.extension.matches(f, params)
            and trigger.at <= f.at
            and (until is None or f.at < until)
            and related(trigger, f, params)
        ]
        if not extensions:
            return days, []
        latest = max(enumerate(extensions), key=lambda pair: (pair[1].at, pair[0]))[1]
        return int(latest.fields[self.days_field or "days"]), extensions

    def _outcome(
        self,
        entity: str,
        trigger: Fact,
        opener: Fact | None,
        facts: Sequence[Fact],
        clock: int,
        params: Params,
        belongs: Relation,
    ) -> Outcome:
        days, extensions = self._days(trigger, facts, params)
        due = deadline_after(trigger.at, days)
        lookback = params.get("lookback_days", 0)
        start = float("-inf") if lookback is None else trigger.at - int(lookback) * DAY_MS
        follow_up_types = self._follow_up_types
        closers = [
            f
            for f in facts
            if f.type in follow_up_types
            and start <= f.at < due
            and f is not trigger
            and any(on.matches(f, params) for on in self.follow_ups)
            and belongs(trigger, f, params)
        ]
        finding, severity, escalators = self.name, self.severity, []
        if self.escalation is not None:
            escalators = [f for f in facts if self.escalation.matches(f, params) and start <= f.at < due]
            if escalators:
                finding, severity = self.escalation_finding, self.escalation_severity
        kind, key = subject_of(trigger.fields[self.subject_field]) if self.subject_field else person_of(entity)
        case_no = trigger.fields.get(self.case_field) or (opener.fields.get("case_no") if opener else None)
        details = {self.days_field or "deadline_days": str(days)}
        details.update({n: str(trigger.fields[n]) for n in self.detail_fields if trigger.fields.get(n) is not None})
        # the state decided first, so that the outcome is built once (``dataclasses.replace`` builds it again)
        if closers:
            state, reason, closed_at, wake_at = OutcomeState.CLOSED, CLOSING_EVIDENCE, min(f.at for f in closers), None
        elif clock >= due:
            state, reason, closed_at, wake_at = OutcomeState.OPEN, NO_CLOSING_EVIDENCE, None, None
        else:
            state, reason, closed_at, wake_at = OutcomeState.PENDING, not_yet_passed(due), None, due
        return Outcome(
            identity=(trigger.id,),
            state=state,
            trigger=trigger,
            subject_kind=kind,
            subject_key=key,
            finding=finding,
            severity=severity,
            reason=reason,
            evidence=(trigger, *([opener] if opener else []), *by_time([*extensions, *closers, *escalators])),
            case_no=case_no,
            due_at=due,
            closed_at=closed_at,
            wake_at=wake_at,
            details=details,
            text=DeferredText(lambda: _text(trigger, due, days, case_no)),
        )


def _text(trigger: Fact, due: int, days: int, case_no: str | None) -> dict[str, str]:
    return {
        "trigger_zh": type_name_zh(trigger.type),
        "trigger_date": local_date(trigger.at).isoformat(),
        "last_day": local_date(due - DAY_MS).isoformat(),
        "days": str(days),
        "case_no": str(case_no or ""),
        **{n: str(v) for n, v in trigger.fields.items() if isinstance(v, str | int)},
    }
