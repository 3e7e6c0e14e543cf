"""The model engine: routes events to entities and turns model outcomes into lead versions.

Plain Python, no Kafka: the streams worker calls it per entity and batch, the
batch evaluator over a whole history, the tests on hand-written facts.

A lead is a pure function of the entity's facts and the hub clock; the engine
remembers what it last published per lead (``EntityState.emitted``) and
publishes only changes, so reprocessing the same events is harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jiandu.core.events import Event
from jiandu.core.leads import Evidence, Lead, lead_id_of
from jiandu.core.timeutil import format_cst, local_date
from jiandu.models.declarations import EntityKind, Model, Outcome, OutcomeState, type_name_zh
from jiandu.models.facts import EmittedLead, EntityState, Fact

__all__ = ["Evaluation", "ModelEngine", "entities_of"]

_LATE = "closing evidence arrived late"
#: Distinct (prefix, record types) selections remembered; entities' type mixes beyond this are looked up each time.
_MOST_TYPE_SETS = 4096


def entities_of(event: Event, kind: EntityKind) -> list[str]:
    """The entity keys of an event for models keyed by ``kind``."""
    body: Mapping[str, Any] = event.body
    if kind is EntityKind.PERSON:
        keys = [body["person_key"]] if "person_key" in body else list(body.get("suspects") or ())
        return [f"P:{k}" for k in keys]
    if kind is EntityKind.PLAINTIFF:
        return [f"{'P' if p['kind'] == 'PERSON' else 'O'}:{p['key']}" for p in body.get("plaintiffs") or ()]
    ref = body.get("admin_case_no") or body.get("admin_case_ref")
    return [f"A:{ref}"] if ref else []


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Lead versions to publish for one entity, and when to look at it again.

    ``wakes`` holds, for each model evaluated, its earliest pending wake-up (None: nothing pending):
    the worker counts pending deadlines per model from it. ``previous`` holds, per lead version, the
    status the lead had before it (None: a new lead), so that status changes can be counted.
    """

    leads: list[Lead]
    wake_at: int | None
    wakes: dict[str, int | None]
    previous: list[str | None]


class ModelEngine:
    """A set of compiled models with their parameters."""

    def __init__(self, models: Sequence[Model], overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.models = list(models)
        self._params = {m.id: {**m.params, **(overrides or {}).get(m.id, {})} for m in self.models}
        self._routes: dict[str, set[EntityKind]] = {}
        # (entity prefix, record type) → positions in ``models`` of the models that read it: an evaluation
        # looks up the types that changed instead of testing every model (≈ a quarter of the engine's own time)
        self._readers: dict[tuple[str, str], tuple[int, ...]] = {}
        self._selected: dict[tuple[str, frozenset[str]], tuple[Model, ...]] = {}
        for position, m in enumerate(self.models):
            types = frozenset(m.event_types())
            for prefix in ("A",) if m.entity is EntityKind.ADMIN_CASE else ("P", "O"):
                for t in types:
                    self._readers[(prefix, t)] = (*self._readers.get((prefix, t), ()), position)
            for t in types:
                self._routes.setdefault(t, set()).add(m.entity)

    def event_types(self) -> set[str]:
        """Record types some model reads."""
        return set(self._routes)

    def route(self, event: Event) -> list[str]:
        """The entities whose state an event changes (empty: no model reads it)."""
        kinds = self._routes.get(event.type, ())
        return sorted({e for kind in kinds for e in entities_of(event, kind)})

    def evaluate(
        self, entity: str, state: EntityState, clock: int, now: int, changed: Iterable[str] | None = None
    ) -> Evaluation:
        """Evaluate the models on the entity; update ``state.emitted`` with what to publish.

        ``changed`` (record types of newly added facts) limits the work to the models
        that read them: the others' outcomes cannot have changed, except by the clock,
        and their ``wake_at`` was scheduled when they were last evaluated.
        """
        leads: list[Lead] = []
        previous: list[str | None] = []
        wakes: dict[str, int | None] = {}
        types = frozenset(changed) if changed is not None else frozenset(f.type for f in state.facts)
        for model in self._models_reading(entity.split(":", 1)[0], types):
            model_wake: int | None = None
            for outcome in model.evaluate(entity, state.facts, clock, self._params[model.id]):
                if outcome.wake_at is not None:
                    model_wake = outcome.wake_at if model_wake is None else min(model_wake, outcome.wake_at)
                lead, before = self._reconcile(model, outcome, state, clock, now)
                if lead is not None:
                    leads.append(lead)
                    previous.append(before)
            wakes[model.id] = model_wake
        pending = [w for w in wakes.values() if w is not None]
        return Evaluation(leads, min(pending) if pending else None, wakes, previous)

    def _models_reading(self, prefix: str, types: frozenset[str]) -> tuple[Model, ...]:
        """The models that read any of ``types`` on entities of ``prefix``, in catalogue order."""
        key = (prefix, types)
        selected = self._selected.get(key)
        if selected is None:
            positions = sorted({p for t in types for p in self._readers.get((prefix, t), ())})
            selected = tuple(self.models[p] for p in positions)
            if len(self._selected) < _MOST_TYPE_SETS:
                self._selected[key] = selected
        return selected

    def _reconcile(
        self, model: Model, outcome: Outcome, state: EntityState, clock: int, now: int
    ) -> tuple[Lead | None, str | None]:
        """The lead version to publish (None: nothing changed), and the lead's status before it."""
        lead_id = lead_id_of(model.id, *outcome.identity)
        emitted = state.emitted.get(lead_id)
        before = emitted.status if emitted else None
        status, reason = _status(outcome, emitted)
        if status is None:
            return None, before
        digest = _digest(status, reason, outcome)
        if emitted is not None and emitted.digest == digest:
            return None, before
        raised_at, detected_at = (emitted.raised_at, emitted.detected_at) if emitted else (clock, now)
        # strictly later than the lead's previous version, so that (lead_id, updated_at) names a version
        # even when a worker publishes two of them within one millisecond
        updated_at = max(now, emitted.updated_at + 1) if emitted else now
        state.emitted[lead_id] = EmittedLead(status, digest, raised_at, detected_at, updated_at)
        return _lead(model, lead_id, outcome, status, reason, raised_at, detected_at, updated_at), before


def _status(outcome: Outcome, emitted: EmittedLead | None) -> tuple[str | None, str]:
    was_raised = emitted is not None
    if outcome.state is OutcomeState.OPEN:
        return "OPEN", outcome.reason
    if not was_raised:
        return None, ""
    if outcome.state is OutcomeState.CLOSED:
        return "RESOLVED", _LATE
    return "WITHDRAWN", outcome.reason


def _digest(status: str, reason: str, o: Outcome) -> str:
    parts = [
        status,
        reason,
        o.finding,
        o.severity,
        str(o.due_at),
        str(o.closed_at),
        *(f.id for f in o.evidence),
        *sorted(f"{k}={v}" for k, v in o.details.items()),
    ]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _evidence(facts: Iterable[Fact]) -> tuple[Evidence, ...]:
    return tuple(Evidence(f.id, f.type, f.source, f.at) for f in facts)


def _summary(model: Model, o: Outcome, status: str, reason: str) -> str:
    text = dict(o.text)
    text.setdefault("due_at", format_cst(o.due_at) if o.due_at else "")
    template = model.summary_zh if isinstance(model.summary_zh, str) else model.summary_zh[o.finding]
    summary = template.format_map(_Blanks(text))
    if status == "RESOLVED":
        when = local_date(o.closed_at).isoformat() if o.closed_at else ""
        summary += f"（{when}的记录表明已按期履行，线索已核销）"
    elif status == "WITHDRAWN" and o.state is OutcomeState.VOID and len(o.evidence) > 1:
        disproof = o.evidence[-1]  # the record that shows the premise was false comes last
        when, kind = local_date(disproof.at).isoformat(), type_name_zh(disproof.type)
        summary += f"（{when}的{kind}记录表明线索前提不成立，线索已撤回）"
    elif status == "WITHDRAWN":
        summary += "（期限已变更、尚未届满，线索已撤回）" if o.state is OutcomeState.PENDING else "（线索已撤回）"
    return summary


class _Blanks(dict[str, str]):
    """Template values; a field the record left out reads as a dash instead of failing the worker."""

    def __missing__(self, key: str) -> str:
        return "—"


def _lead(
    model: Model, lead_id: str, o: Outcome, status: str, reason: str, raised_at: int, detected_at: int, now: int
) -> Lead:
    return Lead(
        lead_id=lead_id,
        model_id=model.id,
        model_version=model.version,
        finding=o.finding,
        severity=o.severity,
        department=model.department,
        jurisdiction=o.trigger.jurisdiction,
        subject_kind=o.subject_kind,
        subject_key=o.subject_key,
        case_no=o.case_no,
        trigger_event_id=o.trigger.id,
        evidence=_evidence(o.evidence),
        due_at=o.due_at,
        raised_at=raised_at,
        detected_at=detected_at,
        status=status,
        status_reason=reason,
        closed_at=o.closed_at if status == "RESOLVED" else None,
        summary_zh=_summary(model, o, status, reason),
        legal_basis_zh=model.legal_basis_zh,
        updated_at=now,
        details=dict(o.details),
    )
