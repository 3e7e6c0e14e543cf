"""Membership in a state interval at an instant of the trigger (e.g. a new case while under correction)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from jiandu.core.timeutil import local_date
from jiandu.models.conditions import OCCURRED, Instant, Params
from jiandu.models.declarations import Interval, ModelInfo, On, Outcome, OutcomeState, person_of, type_name_zh
from jiandu.models.facts import Fact
from jiandu.models.shapes.deadline import pending

__all__ = ["StateAtTrigger"]


@dataclass(frozen=True, kw_only=True)
class StateAtTrigger(ModelInfo):
    """A lead for every trigger whose entity is in the state ``during`` at the instant ``at`` of the trigger.

    ``at`` defaults to the trigger's ``occurred_at``; it may be taken from a field
    (``start_of_month("period")``: the first day of a pension's month). A trigger
    without that instant counts for nothing. Evaluated once the hub clock reaches
    both the trigger's time and that instant, so that records arriving within the
    clock's lateness or grace count. Each (trigger, entity) pair is its own lead: one
    case can list several suspects. ``case_from``: the case number shown is the
    trigger's (default) or that of the record that opened the state.
    """

    triggers: tuple[On, ...]
    during: Interval
    reason: str
    at: Instant = OCCURRED
    case_from: Literal["trigger", "opener"] = "trigger"

    def event_types(self) -> set[str]:
        return {on.type for on in self.triggers} | self.during.event_types()

    def placeholders(self) -> frozenset[str]:
        names = {"trigger_zh", "trigger_date", "state_date", "case_no", "opened_date", "opened_case_no"}
        return super().placeholders() | names

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        for trigger in facts:
            if not any(on.matches(trigger, params) for on in self.triggers):
                continue
            instant = self.at(trigger)
            if instant is None:
                continue
            opener, closer = self.during.at(facts, instant, params)
            if opener is None:
                continue  # facts are only ever added: it never was in the state, so no lead was raised
            outcome = self._outcome(entity, trigger, instant, opener, closer)
            evaluate_at = max(trigger.at, instant)
            yield pending(outcome, evaluate_at) if clock < evaluate_at else outcome

    def _outcome(self, entity: str, trigger: Fact, instant: int, opener: Fact, closer: Fact | None) -> Outcome:
        kind, key = person_of(entity)
        case_no = (opener if self.case_from == "opener" else trigger).fields.get("case_no")
        return Outcome(
            identity=(trigger.id, key),
            state=OutcomeState.OPEN if closer is None else OutcomeState.VOID,
            trigger=trigger,
            subject_kind=kind,
            subject_key=key,
            finding=self.name,
            severity=self.severity,
            reason=self.reason if closer is None else _disproved(closer),
            evidence=(trigger, opener if closer is None else closer),
            case_no=case_no,
            text={
                "trigger_zh": type_name_zh(trigger.type),
                "trigger_date": local_date(trigger.at).isoformat(),
                "state_date": local_date(instant).isoformat(),
                "case_no": str(case_no or ""),
                "opened_date": local_date(opener.at).isoformat(),
                "opened_case_no": str(opener.fields.get("case_no") or ""),
            },
        )


def _disproved(closer: Fact) -> str:
    return f"premise disproved by {closer.type} of {local_date(closer.at).isoformat()}: not in the state at the trigger"
