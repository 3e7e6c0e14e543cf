"""Membership in a state interval at the trigger's time (e.g. a new case while under correction)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from jiandu.core.timeutil import local_date
from jiandu.models.conditions import Params
from jiandu.models.declarations import Interval, ModelInfo, On, Outcome, OutcomeState, person_of, type_name_zh
from jiandu.models.facts import Fact
from jiandu.models.shapes.deadline import pending

__all__ = ["StateAtTrigger"]


@dataclass(frozen=True, kw_only=True)
class StateAtTrigger(ModelInfo):
    """A lead for every trigger that occurs while the entity is in the state ``during``.

    Evaluated once the hub clock reaches the trigger's time, so records that arrive
    within the clock's lateness or grace are taken into account. Each (trigger, entity)
    pair is its own lead: one case can list several suspects.
    """

    triggers: tuple[On, ...]
    during: Interval
    reason: str

    def event_types(self) -> set[str]:
        return {on.type for on in self.triggers} | self.during.event_types()

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        kind, key = person_of(entity)
        for trigger in facts:
            if not any(on.matches(trigger, params) for on in self.triggers):
                continue
            opener = self.during.opener_at(facts, trigger.at, params)
            outcome = Outcome(
                identity=(trigger.id, key),
                state=OutcomeState.OPEN if opener else OutcomeState.VOID,
                trigger=trigger,
                subject_kind=kind,
                subject_key=key,
                finding=self.name,
                severity=self.severity,
                reason=self.reason if opener else "not in the state at the trigger's time",
                evidence=(trigger, opener) if opener else (trigger,),
                case_no=trigger.fields.get("case_no"),
                text={
                    "trigger_zh": type_name_zh(trigger.type),
                    "trigger_date": local_date(trigger.at).isoformat(),
                    "case_no": str(trigger.fields.get("case_no") or ""),
                    "opened_date": local_date(opener.at).isoformat() if opener else "",
                    "opened_case_no": str(opener.fields.get("case_no") or "") if opener else "",
                },
            )
            yield pending(outcome, trigger.at) if clock < trigger.at else outcome
