"""At least N distinct records within a sliding window (e.g. a serial private-lending plaintiff)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from jiandu.core.timeutil import DAY_MS, local_date
from jiandu.models.conditions import Params
from jiandu.models.declarations import ModelInfo, On, Outcome, OutcomeState, by_time, person_of, type_name_zh
from jiandu.models.facts import Fact

__all__ = ["WindowedCount"]


@dataclass(frozen=True, kw_only=True)
class WindowedCount(ModelInfo):
    """One lead per entity once ``at_least`` distinct records fall within ``window_days`` × 24 hours.

    Records are counted once per ``distinct_by`` value (the earliest wins). The lead is
    raised as soon as the window fills, whatever the hub clock; its trigger is the
    record that filled the first full window, and every record of the entity (earlier
    and later) is evidence. ``reason`` is a template over ``count`` (all records),
    ``at_least`` and ``window_days``.
    """

    counted: On
    distinct_by: str
    reason: str
    count_detail: str = "count"

    def event_types(self) -> set[str]:
        return {self.counted.type}

    def placeholders(self) -> frozenset[str]:
        names = {"count", "at_least", "window_days", "trigger_zh", "first_date", "trigger_date"}
        return super().placeholders() | names

    def templates(self) -> dict[str, tuple[str, frozenset[str]]]:
        return {**super().templates(), "reason": (self.reason, frozenset({"count", "at_least", "window_days"}))}

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        records = _distinct(by_time(f for f in facts if self.counted.matches(f, params)), self.distinct_by)
        at_least, window = int(params["at_least"]), int(params["window_days"]) * DAY_MS
        first_full = next(
            (i for i in range(at_least - 1, len(records)) if records[i].at - records[i - at_least + 1].at <= window),
            None,
        )
        if first_full is None:
            return
        trigger = records[first_full]
        kind, key = person_of(entity)
        numbers = {"count": len(records), "at_least": at_least, "window_days": params["window_days"]}
        yield Outcome(
            identity=(key,),
            state=OutcomeState.OPEN,
            trigger=trigger,
            subject_kind=kind,
            subject_key=key,
            finding=self.name,
            severity=self.severity,
            reason=self.reason.format_map(numbers),
            evidence=(trigger, *(r for r in records if r is not trigger)),
            details={self.count_detail: str(len(records))},
            text={
                **{k: str(v) for k, v in numbers.items()},
                "trigger_zh": type_name_zh(trigger.type),
                "first_date": local_date(records[0].at).isoformat(),
                "trigger_date": local_date(trigger.at).isoformat(),
            },
        )


def _distinct(records: Sequence[Fact], field: str) -> list[Fact]:
    seen: set[object] = set()
    kept = []
    for r in records:
        value = r.fields.get(field)
        if value not in seen:
            seen.add(value)
            kept.append(r)
    return kept
