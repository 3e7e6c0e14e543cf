"""Batch evaluation: the declared models over a whole history at one clock.

This is today's "data collision" done right: no Kafka, no Faust. It shares the
declarations with the streaming engine, so the two must agree lead for lead.
"""

from __future__ import annotations

from collections.abc import Iterable

from jiandu.core.events import Event
from jiandu.core.leads import Lead
from jiandu.models.engine import ModelEngine
from jiandu.models.facts import EntityState, fact_of

__all__ = ["evaluate_history"]


def evaluate_history(engine: ModelEngine, events: Iterable[Event], clock_end: int, now: int) -> list[Lead]:
    """Every lead raised on ``events`` (in arrival order) when the hub clock is at ``clock_end``."""
    states: dict[str, EntityState] = {}
    for event in events:
        entities = engine.route(event)
        if entities:
            fact = fact_of(event)
            for entity in entities:
                states.setdefault(entity, EntityState()).add(fact)
    leads: list[Lead] = []
    for entity, state in states.items():
        leads.extend(engine.evaluate(entity, state, clock_end, now).leads)
    return leads
