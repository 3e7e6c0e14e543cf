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

    def placeholders(self) -> frozenset[str]:
        names = {"trigger_zh", "trigger_date", "case_no", "opened_date", "opened_case_no"}
        return super().placeholders() | names

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        kind, key = person_of(entity)
        for trigger in facts:
            if not any(on.matches(trigger, params) for on in self.triggers):
                continue
            opener, closer = self.during.at(facts, trigger.at, params)
            if opener is None:
                continue  # facts are only ever added: it never was in the state, so no lead was raised
            outcome = Outcome(
                identity=(trigger.id, key),
                state=OutcomeState.OPEN if closer is None else OutcomeState.VOID,
                trigger=trigger,
                subject_kind=kind,
                subject_key=key,
                finding=self.name,
                severity=self.severity,
                reason=self.reason if closer is None else _disproved(closer),
                evidence=(trigger, opener if closer is None else closer),
                case_no=trigger.fields.get("case_no"),
                text={
                    "trigger_zh": type_name_zh(trigger.type),
                    "trigger_date": local_date(trigger.at).isoformat(),
                    "case_no": str(trigger.fields.get("case_no") or ""),
                    "opened_date": local_date(opener.at).isoformat(),
                    "opened_case_no": str(opener.fields.get("case_no") or ""),
                },
            )
            yield pending(outcome, trigger.at) if clock < trigger.at else outcome


def _disproved(closer: Fact) -> str:
    return f"premise disproved by {closer.type} of {local_date(closer.at).isoformat()}: not in the state at the trigger"
