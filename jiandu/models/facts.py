"""Facts: the compact form in which the engine keeps events per entity.

An entity is what a model's state is keyed by: a person (``P:<person_key>``), an
organisation (``O:<credit code>``) or an administrative case (``A:<case no>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from jiandu.core.events import Event

__all__ = ["EmittedLead", "EntityState", "Fact", "fact_of"]


@dataclass(frozen=True, slots=True)
class Fact:
    """One event as a model sees it: type, time, provenance and JSON-able fields."""

    id: str
    type: str
    at: int
    source: str
    jurisdiction: str
    fields: Mapping[str, Any]

    def get(self, name: str) -> Any:
        """A field of the record (``None`` when absent)."""
        return self.fields.get(name)

    def row(self) -> list[Any]:
        """The fact as a JSON-able row (how the worker's state and routed facts carry it); ``Fact(*row)`` inverts it."""
        return [self.id, self.type, self.at, self.source, self.jurisdiction, self.fields]


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def fact_of(event: Event) -> Fact:
    """The fact of an event: decimals become strings and dates ISO strings."""
    fields = {k: _plain(v) for k, v in event.body.items()}
    return Fact(event.event_id, event.type, event.occurred_at, event.source, event.jurisdiction, fields)


@dataclass(slots=True)
class EmittedLead:
    """What the engine last published for a lead, to publish only changes."""

    status: str
    digest: str
    raised_at: int
    detected_at: int
    updated_at: int = 0  # of the last version: the next one's is later, even within the same millisecond


@dataclass(slots=True)
class EntityState:
    """Everything the engine keeps for one entity: its facts (first wins) and its leads."""

    facts: list[Fact] = field(default_factory=list)
    emitted: dict[str, EmittedLead] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set, repr=False)

    def add(self, fact: Fact) -> bool:
        """Add a fact unless one with its event id is already known (duplicates are ignored)."""
        if not self._ids:
            self._ids.update(f.id for f in self.facts)
        if fact.id in self._ids:
            return False
        self._ids.add(fact.id)
        self.facts.append(fact)
        return True

    def add_all(self, facts: Iterable[Fact]) -> bool:
        """Add several facts; True if any was new."""
        return any([self.add(f) for f in facts])

    def dumps(self) -> bytes:
        """Serialised state (the worker's changelog value)."""
        return orjson.dumps(
            {
                "f": [[f.id, f.type, f.at, f.source, f.jurisdiction, f.fields] for f in self.facts],
                "e": {
                    k: [e.status, e.digest, e.raised_at, e.detected_at, e.updated_at] for k, e in self.emitted.items()
                },
            }
        )

    @classmethod
    def loads(cls, data: bytes | None) -> EntityState:
        """Inverse of :meth:`dumps`; ``None`` is a new, empty state."""
        if not data:
            return cls()
        raw = orjson.loads(data)
        return cls(
            facts=[Fact(*f) for f in raw["f"]],
            emitted={k: EmittedLead(*v) for k, v in raw["e"].items()},
        )
