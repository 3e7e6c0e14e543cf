"""A deadline renewed by each follow-up, with a lapse check (e.g. periodic medical reviews)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from jiandu.core.timeutil import DAY_MS, deadline_after, local_date
from jiandu.models.conditions import ALWAYS, Condition, Params
from jiandu.models.declarations import ModelInfo, On, Outcome, OutcomeState, by_time, person_of, type_name_zh
from jiandu.models.facts import Fact
from jiandu.models.shapes.deadline import CLOSING_EVIDENCE, NO_CLOSING_EVIDENCE, pending, premise_false

__all__ = ["RecurringDeadline"]


@dataclass(frozen=True, kw_only=True)
class RecurringDeadline(ModelInfo):
    """A chain of periods: an ``anchor`` opens the first, every renewing follow-up the next.

    Each period lasts ``interval_field`` days of its anchor (default: the ``interval_days``
    parameter) from the record that started it; any follow-up after that record and
    before the period's due instant satisfies it. An anchor's chain lasts until the next
    anchor; the first ``ends`` record in it ends the obligation (a period it precedes is
    closed, one already overdue stays open, later follow-ups start nothing: a lead one of them started before
    the end record arrived is withdrawn). A ``lapse`` follow-up (one that does
    not renew) starts no period but a check under ``lapse_finding``: one of
    ``lapse_follow_ups`` must occur within ``lapse_days`` (parameter). Identity: the
    record that started the period or the lapse check.
    """

    anchors: tuple[On, ...]
    follow_ups: tuple[On, ...]
    renews: Condition = ALWAYS
    interval_field: str
    ends: On
    ended_reason: str
    lapse: On
    lapse_finding: str
    lapse_follow_ups: tuple[On, ...]

    def event_types(self) -> set[str]:
        ons = (*self.anchors, *self.follow_ups, self.ends, self.lapse, *self.lapse_follow_ups)
        return {on.type for on in ons}

    def placeholders(self) -> frozenset[str]:
        names = {"finding", "trigger_zh", "trigger_date", "last_day", "days", "case_no"}
        return super().placeholders() | names

    def evaluate(self, entity: str, facts: Sequence[Fact], clock: int, params: Params) -> Iterator[Outcome]:
        anchors = by_time(f for f in facts if any(on.matches(f, params) for on in self.anchors))
        if not anchors:
            return
        reviews = by_time(f for f in facts if any(on.matches(f, params) for on in self.follow_ups))
        ends = by_time(f for f in facts if self.ends.matches(f, params))
        for anchor, chain_end in zip(anchors, [*(a.at for a in anchors[1:]), None], strict=True):
            yield from self._chain(entity, anchor, chain_end, reviews, ends, facts, clock, params)

    def _chain(
        self,
        entity: str,
        anchor: Fact,
        chain_end: int | None,
        reviews: Sequence[Fact],
        ends: Sequence[Fact],
        facts: Sequence[Fact],
        clock: int,
        params: Params,
    ) -> Iterator[Outcome]:
        """The periods and lapse checks of one anchor, until the next anchor starts its own chain.

        The first ``ends`` record in the chain ends the obligation: later follow-ups start nothing.
        """
        limit = chain_end if chain_end is not None else float("inf")
        ended = [e for e in ends if anchor.at <= e.at < limit][:1]
        obligation_end = ended[0].at if ended else limit
        in_chain = [r for r in reviews if anchor.at < r.at < obligation_end]
        starts = [anchor, *(r for r in in_chain if not self.lapse.matches(r, params) and self.renews(r, params))]
        for start in starts:
            yield self._period(entity, anchor, start, in_chain, ended, clock, params)
        for review in in_chain:
            if self.lapse.matches(review, params):
                yield self._lapse(entity, anchor, review, facts, clock, params)
        if ended:  # follow-ups after the end start nothing: what they started before the end was known is void
            after_end = [r for r in reviews if obligation_end <= r.at < limit]
            yield from self._void_after_end(entity, anchor, after_end, ended[0], params)

    def _void_after_end(
        self, entity: str, anchor: Fact, reviews: Sequence[Fact], end: Fact, params: Params
    ) -> Iterator[Outcome]:
        """The periods and lapse checks that follow-ups after the end of the obligation would have started."""
        for review in reviews:
            if self.lapse.matches(review, params):
                days = int(params["lapse_days"])
                finding = self.lapse_finding
            elif self.renews(review, params):
                days, finding = self._interval(anchor, params), self.name
            else:
                continue
            base = self._base(entity, finding, anchor, review, deadline_after(review.at, days), days)
            yield premise_false(base, end)

    def _interval(self, anchor: Fact, params: Params) -> int:
        value = anchor.fields.get(self.interval_field)
        return int(value if value is not None else params["interval_days"])

    def _period(
        self,
        entity: str,
        anchor: Fact,
        start: Fact,
        reviews: Sequence[Fact],
        ends: Sequence[Fact],
        clock: int,
        params: Params,
    ) -> Outcome:
        days = self._interval(anchor, params)
        due = deadline_after(start.at, days)
        satisfying = [r for r in reviews if start.at < r.at < due]
        ended = [e for e in ends if e.at < due]
        outcome = self._base(entity, self.name, anchor, start, due, days)
        if satisfying:
            return replace(
                outcome,
                state=OutcomeState.CLOSED,
                reason=CLOSING_EVIDENCE,
                closed_at=satisfying[0].at,
                evidence=(start, satisfying[0]),
            )
        if ended:
            first = min(ended, key=lambda f: (f.at, f.id))
            return replace(
                outcome,
                state=OutcomeState.CLOSED,
                reason=self.ended_reason,
                closed_at=first.at,
                evidence=(start, first),
            )
        return outcome if clock >= due else pending(outcome, due)

    def _lapse(
        self, entity: str, anchor: Fact, review: Fact, facts: Sequence[Fact], clock: int, params: Params
    ) -> Outcome:
        days = int(params["lapse_days"])
        due = deadline_after(review.at, days)
        closers = by_time(
            f for f in facts if review.at <= f.at < due and any(on.matches(f, params) for on in self.lapse_follow_ups)
        )
        outcome = self._base(entity, self.lapse_finding, anchor, review, due, days)
        if closers:
            return replace(
                outcome,
                state=OutcomeState.CLOSED,
                reason=CLOSING_EVIDENCE,
                closed_at=closers[0].at,
                evidence=(*outcome.evidence, *closers),
            )
        return outcome if clock >= due else pending(outcome, due)

    def _base(self, entity: str, finding: str, anchor: Fact, start: Fact, due: int, days: int) -> Outcome:
        kind, key = person_of(entity)
        case_no = anchor.fields.get("case_no")
        return Outcome(
            identity=(start.id,),
            state=OutcomeState.OPEN,
            trigger=start,
            subject_kind=kind,
            subject_key=key,
            finding=finding,
            severity=self.severity,
            reason=NO_CLOSING_EVIDENCE,
            evidence=(start,) if start is anchor else (start, anchor),
            case_no=case_no,
            due_at=due,
            details={self.interval_field if finding == self.name else "deadline_days": str(days)},
            text={
                "finding": finding,
                "trigger_zh": type_name_zh(start.type),
                "trigger_date": local_date(start.at).isoformat(),
                "last_day": local_date(due - DAY_MS).isoformat(),
                "days": str(days),
                "case_no": str(case_no or ""),
            },
        )
