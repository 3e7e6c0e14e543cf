"""Batch evaluation: the declared models over a whole history at one clock.

This is today's "data collision" done right: no Kafka, no Faust. It shares the
declarations with the streaming engine, so the two must agree lead for lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from jiandu.core.events import Event
from jiandu.core.identity import Pseudonymiser
from jiandu.core.leads import Lead
from jiandu.core.validation import to_event
from jiandu.errors import RecordError
from jiandu.models.engine import ModelEngine
from jiandu.models.facts import EntityState, fact_of

__all__ = ["evaluate_history", "valid_events"]


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


def valid_events(lines: Iterable[str], pseudonymiser: Pseudonymiser, ingested_at: int) -> Iterator[Event]:
    """The events of JSON lines as the intake would accept them: invalid lines and repeated event ids skipped."""
    seen: set[str] = set()
    for line in lines:
        try:
            event = to_event(orjson.loads(line), pseudonymiser, ingested_at)
        except (orjson.JSONDecodeError, RecordError):
            continue
        if event.event_id not in seen:
            seen.add(event.event_id)
            yield event
