"""Every qualifying record is a lead at once (e.g. a death or escape in custody)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from jiandu.core.timeutil import local_date
from jiandu.models.conditions import Params
from jiandu.models.declarations import ModelInfo, On, Outcome, OutcomeState, person_of, type_name_zh
from jiandu.models.facts import Fact
from jiandu.models.templates import record_fields

__all__ = ["ImmediateAlert"]


@dataclass(frozen=True, kw_only=True)
class ImmediateAlert(ModelInfo):
    """A lead as soon as a trigger is present, whatever the hub clock.

    ``severity_by`` maps values of ``kind_field`` to a severity (default: the model's);
    ``reason`` is a template over the trigger's fields; the lead's details carry the
    value as ``detail_key``; ``labels_zh`` names the values in the summary.
    """

    triggers: tuple[On, ...]
    kind_field: str
    severity_by: Mapping[str, str] = field(default_factory=dict)
    reason: str
    detail_key: str = ""
    labels_zh: Mapping[str, str] = field(default_factory=dict)

    def event_types(self) -> set[str]:
        return {on.type for on in self.triggers}

    def placeholders(self) -> frozenset[str]:
        names = {"kind_zh", "trigger_zh", "trigger_date"}
        return super().placeholders() | names | self._trigger_fields()

    def templates(self) -> dict[str, tuple[str, frozenset[str]]]:
        return {**super().templates(), "reason": (self.reason, self._trigger_fields())}

    def _trigger_fields(self) -> frozenset[str]:
        return record_fields(on.type for on in self.triggers)

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        kind, key = person_of(entity)
        for trigger in facts:
            if not any(on.matches(trigger, params) for on in self.triggers):
                continue
            value = str(trigger.fields.get(self.kind_field))
            fields = {n: str(v) for n, v in trigger.fields.items() if isinstance(v, str | int)}
            yield Outcome(
                identity=(trigger.id,),
                state=OutcomeState.OPEN,
                trigger=trigger,
                subject_kind=kind,
                subject_key=key,
                finding=self.name,
                severity=self.severity_by.get(value, self.severity),
                reason=self.reason.format_map(fields),
                evidence=(trigger,),
                case_no=trigger.fields.get("case_no"),
                details={self.detail_key or self.kind_field: value},
                text={
                    **fields,
                    "kind_zh": self.labels_zh.get(value, value),
                    "trigger_zh": type_name_zh(trigger.type),
                    "trigger_date": local_date(trigger.at).isoformat(),
                },
            )
