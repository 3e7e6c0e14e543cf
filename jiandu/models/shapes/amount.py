"""A required amount against the sum paid by the trigger's time (e.g. an unpaid fine at a commutation proposal)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from jiandu.core.timeutil import deadline_after, local_date
from jiandu.models.conditions import Params, same
from jiandu.models.declarations import ModelInfo, On, Outcome, OutcomeState, by_time, person_of, type_name_zh
from jiandu.models.facts import Fact
from jiandu.models.shapes.deadline import pending

__all__ = ["ShortfallAtTrigger"]


@dataclass(frozen=True, kw_only=True)
class ShortfallAtTrigger(ModelInfo):
    """A lead when the amount a ``required`` record demands exceeds what ``payments`` paid by the trigger.

    The required record and the payments relate to the trigger by the ``same`` fields;
    only payments that occurred at or before the trigger count. The check is made once
    the hub clock reaches 00:00 CST of ``date(T) + evaluate_after_days + 1`` (parameter),
    so that late-arriving payment records are taken into account. ``reasons`` holds the
    texts for ``no_requirement``, ``nothing_required``, ``paid_in_full`` and ``shortfall`` (a template over
    ``required`` and ``paid``).
    """

    triggers: tuple[On, ...]
    required: On
    required_field: str
    payments: On
    paid_field: str
    same: tuple[str, ...]
    reasons: Mapping[str, str]
    paid_detail: str = "paid"

    def event_types(self) -> set[str]:
        return {on.type for on in self.triggers} | {self.required.type, self.payments.type}

    def placeholders(self) -> frozenset[str]:
        return super().placeholders() | {"trigger_zh", "trigger_date", "case_no", "required", "paid"}

    def templates(self) -> dict[str, tuple[str, frozenset[str]]]:
        amounts = frozenset({"required", "paid"})
        reasons = {f"reasons[{k!r}]": (v, amounts) for k, v in self.reasons.items()}
        return {**super().templates(), **reasons}

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        for trigger in facts:
            if any(on.matches(trigger, params) for on in self.triggers):
                yield self._outcome(entity, trigger, facts, clock, params)

    def _outcome(self, entity: str, trigger: Fact, facts: Sequence[Fact], clock: int, params: Params) -> Outcome:
        related = same(*self.same)
        due = deadline_after(trigger.at, int(params["evaluate_after_days"]))
        kind, key = person_of(entity)
        requirements = by_time(f for f in facts if self.required.matches(f, params) and related(trigger, f, params))
        paid_by_trigger = by_time(
            f for f in facts if self.payments.matches(f, params) and f.at <= trigger.at and related(trigger, f, params)
        )
        required = Decimal(str(requirements[0].fields[self.required_field])) if requirements else None
        paid = sum((Decimal(str(f.fields[self.paid_field])) for f in paid_by_trigger), Decimal(0))
        outcome = Outcome(
            identity=(trigger.id,),
            state=OutcomeState.OPEN,
            trigger=trigger,
            subject_kind=kind,
            subject_key=key,
            finding=self.name,
            severity=self.severity,
            reason=self.reasons["shortfall"].format(required=required, paid=paid),
            evidence=(trigger, *requirements[:1], *paid_by_trigger),
            case_no=trigger.fields.get("case_no"),
            due_at=due,
            details={self.required_field: str(required), self.paid_detail: str(paid)},
            text={
                "trigger_zh": type_name_zh(trigger.type),
                "trigger_date": local_date(trigger.at).isoformat(),
                "case_no": str(trigger.fields.get("case_no") or ""),
                "required": str(required),
                "paid": str(paid),
            },
        )
        if clock < due:
            return pending(outcome, due)
        if required is None:
            return replace(outcome, state=OutcomeState.VOID, reason=self.reasons["no_requirement"])
        if required == 0:
            closed = requirements[0].at
            return replace(
                outcome, state=OutcomeState.CLOSED, reason=self.reasons["nothing_required"], closed_at=closed
            )
        if paid >= required:
            closed = max(f.at for f in paid_by_trigger)
            return replace(outcome, state=OutcomeState.CLOSED, reason=self.reasons["paid_in_full"], closed_at=closed)
        return outcome
