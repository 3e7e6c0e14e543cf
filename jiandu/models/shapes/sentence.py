"""A release against the sentence end adjusted by rulings (early release, release without ruling, not released)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from jiandu.core.timeutil import DAY_MS, add_months, deadline_after, local_date, local_midnight_ms
from jiandu.models.conditions import Params, same
from jiandu.models.declarations import ModelInfo, On, Outcome, OutcomeState, by_time, person_of, type_name_zh
from jiandu.models.facts import Fact
from jiandu.models.shapes.deadline import CLOSING_EVIDENCE, NO_CLOSING_EVIDENCE, pending

__all__ = ["SentenceRelease"]


@dataclass(frozen=True, kw_only=True)
class SentenceRelease(ModelInfo):
    """Releases checked against admissions and court rulings of the same person and case.

    - A release for ``completed_reason`` earlier (by local date) than the admission's
      ``end_field`` minus the ``months_field`` of every ruling at or before the release,
      applied one at a time in the order they occurred: ``early_finding``.
    - A release whose reason needs a ruling (``ruling_for_reason``) without such a
      ruling at or before it: ``unruled_finding``.
    Both are evaluated when the hub clock reaches 00:00 CST of ``date(release) +
    evaluate_after_days + 1`` (parameter), so that late rulings count.
    - No release (any reason) from the admission until the adjusted end (all rulings)
      plus ``release_grace_days`` (parameter): ``not_released_finding``, triggered by the admission.
    """

    admissions: On
    end_field: str
    releases: On
    reason_field: str
    completed_reason: str
    rulings: On
    months_field: str
    ruling_for_reason: Mapping[str, On]
    early_finding: str
    unruled_finding: str
    not_released_finding: str

    def event_types(self) -> set[str]:
        ons = (self.admissions, self.releases, self.rulings, *self.ruling_for_reason.values())
        return {on.type for on in ons}

    def placeholders(self) -> frozenset[str]:
        return super().placeholders() | {"trigger_zh", "trigger_date", "last_day", "case_no", "finding"}

    def templates(self) -> dict[str, tuple[str, frozenset[str]]]:
        extra = {
            self.early_finding: {"release_reason", "adjusted_end"},
            self.unruled_finding: {"release_reason"},
            self.not_released_finding: {"adjusted_end"},
        }
        if isinstance(self.summary_zh, str):
            return {"summary_zh": (self.summary_zh, self.placeholders())}
        return {
            f"summary_zh[{finding!r}]": (text, self.placeholders() | extra.get(finding, set()))
            for finding, text in self.summary_zh.items()
        }

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        admissions = by_time(f for f in facts if self.admissions.matches(f, params) and f.fields.get(self.end_field))
        releases = by_time(f for f in facts if self.releases.matches(f, params))
        rulings = by_time(f for f in facts if self.rulings.matches(f, params))
        for release in releases:
            reason = str(release.fields.get(self.reason_field))
            if reason == self.completed_reason:
                outcome = self._early(entity, release, admissions, rulings, params)
            elif reason in self.ruling_for_reason:
                outcome = self._unruled(entity, release, self.ruling_for_reason[reason], facts, params)
            else:
                continue
            if outcome is not None:
                due = outcome.due_at or 0
                yield outcome if clock >= due else pending(outcome, due)
        for admission in admissions:
            yield self._not_released(entity, admission, releases, rulings, clock, params)

    def _adjusted_end(self, trigger: Fact, admission: Fact, rulings: Sequence[Fact]) -> tuple[date, list[Fact]]:
        applied = [r for r in rulings if same("case_no")(trigger, r, {})]
        end = date.fromisoformat(admission.fields[self.end_field])
        for ruling in applied:
            end = add_months(end, -int(ruling.fields[self.months_field]))
        return end, applied

    def _early(
        self, entity: str, release: Fact, admissions: Sequence[Fact], rulings: Sequence[Fact], params: Params
    ) -> Outcome | None:
        candidates = [a for a in admissions if a.at <= release.at and same("case_no")(release, a, params)]
        if not candidates:
            return None
        admission = candidates[-1]
        end, applied = self._adjusted_end(release, admission, [r for r in rulings if r.at <= release.at])
        released_on = local_date(release.at)
        outcome = self._base(entity, self.early_finding, release, (admission, *applied), params)
        outcome = replace(outcome, details={"adjusted_sentence_end": end.isoformat()})
        outcome = replace(outcome, text={**outcome.text, "adjusted_end": end.isoformat()})
        if released_on < end:
            return replace(outcome, reason=f"released {released_on} before adjusted sentence end {end}")
        # the rulings (or the admission) show the release was on time: a premise disproved, not a late follow-up
        return replace(outcome, state=OutcomeState.VOID, reason="released on or after the adjusted sentence end")

    def _unruled(self, entity: str, release: Fact, ruling: On, facts: Sequence[Fact], params: Params) -> Outcome:
        found = by_time(
            f for f in facts if ruling.matches(f, params) and f.at <= release.at and same("case_no")(release, f, params)
        )
        reason = f"{release.fields.get(self.reason_field)} release without {ruling.type}"
        outcome = self._base(entity, self.unruled_finding, release, tuple(found[:1]), params)
        if found:  # the ruling shows the release was lawful: the premise of a lead is disproved
            return replace(outcome, state=OutcomeState.VOID, reason=f"premise disproved by {ruling.type}")
        return replace(outcome, reason=reason)

    def _not_released(
        self,
        entity: str,
        admission: Fact,
        releases: Sequence[Fact],
        rulings: Sequence[Fact],
        clock: int,
        params: Params,
    ) -> Outcome:
        end, applied = self._adjusted_end(admission, admission, rulings)
        due = deadline_after(local_midnight_ms(end), int(params["release_grace_days"]))
        closers = [r for r in releases if admission.at <= r.at < due and same("case_no")(admission, r, params)]
        kind, key = person_of(entity)
        outcome = Outcome(
            identity=(admission.id,),
            state=OutcomeState.OPEN,
            trigger=admission,
            subject_kind=kind,
            subject_key=key,
            finding=self.not_released_finding,
            severity=self.severity,
            reason=NO_CLOSING_EVIDENCE,
            evidence=(admission, *applied),
            case_no=admission.fields.get("case_no"),
            due_at=due,
            details={"adjusted_sentence_end": end.isoformat()},
            text=_text(admission, due, finding=self.not_released_finding, adjusted_end=end.isoformat()),
        )
        if closers:
            return replace(
                outcome,
                state=OutcomeState.CLOSED,
                reason=CLOSING_EVIDENCE,
                closed_at=closers[0].at,
                evidence=(*outcome.evidence, closers[0]),
            )
        return outcome if clock >= due else pending(outcome, due)

    def _base(self, entity: str, finding: str, release: Fact, evidence: tuple[Fact, ...], params: Params) -> Outcome:
        kind, key = person_of(entity)
        due = deadline_after(release.at, int(params["evaluate_after_days"]))
        return Outcome(
            identity=(release.id,),
            state=OutcomeState.OPEN,
            trigger=release,
            subject_kind=kind,
            subject_key=key,
            finding=finding,
            severity=self.severity,
            reason="",
            evidence=(release, *evidence),
            case_no=release.fields.get("case_no"),
            due_at=due,
            text=_text(release, due, finding=finding, release_reason=str(release.fields.get(self.reason_field))),
        )


def _text(trigger: Fact, due: int, **extra: str) -> dict[str, str]:
    return {
        "trigger_zh": type_name_zh(trigger.type),
        "trigger_date": local_date(trigger.at).isoformat(),
        "last_day": local_date(due - DAY_MS).isoformat(),
        "case_no": str(trigger.fields.get("case_no") or ""),
        **extra,
    }
