"""Events: valid, pseudonymised records as they travel on Kafka."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Event", "event_id_of", "partition_key"]


def event_id_of(source: str, record_type: str, source_record_id: str) -> str:
    """``<source>/<type>/<source_record_id>``: the idempotency key of a record."""
    return f"{source}/{record_type}/{source_record_id}"


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted record. Times are epoch milliseconds (UTC).

    ``body`` holds the type's own fields in their Kafka form: ``person_key``
    instead of ``id_number``, lists of keys, parties as ``{"kind", "key"}``,
    dates as :class:`datetime.date`, decimals as :class:`decimal.Decimal`.
    """

    type: str
    event_id: str
    source: str
    source_record_id: str
    jurisdiction: str
    occurred_at: int
    recorded_at: int
    ingested_at: int
    body: Mapping[str, object]

    @property
    def key(self) -> str:
        """The Kafka message key: the event's (first) party, so one person's events share a partition."""
        return partition_key(self.type, self.body)


def partition_key(record_type: str, body: Mapping[str, object]) -> str:
    """The first party an event is about; events without one are keyed by their case number."""
    if "person_key" in body:
        return str(body["person_key"])
    for name in ("suspects", "plaintiffs"):
        people = body.get(name)
        if isinstance(people, list) and people:
            first = people[0]
            return str(first["key"] if isinstance(first, dict) else first)
    party = body.get("party")
    if isinstance(party, dict):
        return str(party["key"])
    return str(body.get("admin_case_no") or body.get("case_no") or record_type)
