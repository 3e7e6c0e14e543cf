"""Records after an anchor record, joined in either order (e.g. pension paid after death)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from jiandu.models.conditions import Params, Relation
from jiandu.models.declarations import ModelInfo, On, Outcome, OutcomeState, by_time, person_of, type_name_zh
from jiandu.models.facts import Fact

__all__ = ["JoinAfterAnchor"]


@dataclass(frozen=True, kw_only=True)
class JoinAfterAnchor(ModelInfo):
    """One lead per entity as soon as an ``anchor`` and an ``item`` related ``after`` it are both present.

    Arrival order does not matter: the lead appears when the second half of the join
    arrives and grows with every further item. With several anchors, the one with the
    earliest ``anchor_field`` value counts. The trigger is the earliest item; the
    ``amount_field`` of every item is summed into ``total_detail``. ``reason`` is a
    template over ``count`` and ``anchor_month``; ``label_field`` names an item in the summary.
    """

    anchor: On
    anchor_field: str
    item: On
    after: Relation
    amount_field: str
    total_detail: str
    reason: str
    label_field: str = ""
    count_detail: str = "count"

    def event_types(self) -> set[str]:
        return {self.anchor.type, self.item.type}

    def placeholders(self) -> frozenset[str]:
        names = {"count", "anchor_month", "total", "anchor_zh", "anchor_value", "first_item", "last_item"}
        return super().placeholders() | names

    def templates(self) -> dict[str, tuple[str, frozenset[str]]]:
        return {**super().templates(), "reason": (self.reason, frozenset({"count", "anchor_month"}))}

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        anchors = [f for f in facts if self.anchor.matches(f, params)]
        if not anchors:
            return
        anchor = min(anchors, key=lambda f: (str(f.fields.get(self.anchor_field)), f.at, f.id))
        items = by_time(f for f in facts if self.item.matches(f, params) and self.after(anchor, f, params))
        if not items:
            return
        kind, key = person_of(entity)
        total = sum((Decimal(str(f.fields[self.amount_field])) for f in items), Decimal(0))
        anchor_value = str(anchor.fields.get(self.anchor_field))
        numbers = {"count": str(len(items)), "anchor_month": anchor_value[:7]}
        yield Outcome(
            identity=(key,),
            state=OutcomeState.OPEN,
            trigger=items[0],
            subject_kind=kind,
            subject_key=key,
            finding=self.name,
            severity=self.severity,
            reason=self.reason.format_map(numbers),
            evidence=(items[0], anchor, *items[1:]),
            details={
                self.total_detail: str(total),
                self.count_detail: str(len(items)),
                self.anchor_field: anchor_value,
            },
            text={
                **numbers,
                "total": str(total),
                "anchor_zh": type_name_zh(anchor.type),
                "anchor_value": anchor_value,
                "first_item": str(items[0].fields.get(self.label_field, "")),
                "last_item": str(items[-1].fields.get(self.label_field, "")),
            },
        )
