"""The shared intake every adapter uses: validate, pseudonymise, publish, dead-letter.

Validation and pseudonymisation happen here and only here; raw ID numbers never
leave this process except sealed inside a dead letter.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jiandu.core.identity import Pseudonymiser
from jiandu.core.sealing import PayloadSeal
from jiandu.core.timeutil import utc_now_ms
from jiandu.core.validation import to_event
from jiandu.errors import RecordError, SchemaError
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue
from producers.publisher import KafkaPublisher

__all__ = ["IntakeReport", "RecordIntake", "Rejection"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that went to the dead-letter topic."""

    origin: str
    reason: str
    source: str | None
    record_type: str | None
    source_record_id: str | None


@dataclass(slots=True)
class IntakeReport:
    """Counts of one intake run; ``accepted`` counts only broker-confirmed events."""

    accepted: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def reasons(self) -> collections.Counter[str]:
        """How many records were rejected for each reason."""
        return collections.Counter(r.reason for r in self.rejections)


class RecordIntake:
    """Turns agency records into events on Kafka; every adapter submits through one of these."""

    def __init__(
        self,
        publisher: KafkaPublisher,
        catalogue: TopicCatalogue,
        pseudonym_key: bytes,
        *,
        adapter: str,
        codec: AvroCodec | None = None,
    ) -> None:
        self._publisher = publisher
        self._topics = catalogue
        self._pseudonymiser = Pseudonymiser(pseudonym_key)
        self._seal = PayloadSeal(pseudonym_key)
        self._codec = codec or AvroCodec()
        self._adapter = adapter
        self.report = IntakeReport()

    def submit_bytes(self, raw: bytes, origin: str) -> None:
        """One JSON-lines record as received."""
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._reject(raw, origin, f"not valid JSON: {exc}", None)
            return
        self.submit(record, raw, origin)

    def submit(self, record: Mapping[str, Any], raw: bytes, origin: str) -> None:
        """One parsed record (``raw`` is what the agency sent, kept sealed for dead letters)."""
        try:
            event = to_event(record, self._pseudonymiser, utc_now_ms())
            value = self._codec.encode_event(event)
        except RecordError as exc:
            self._reject(raw, origin, exc.reason, record)
            return
        except SchemaError as exc:  # validation should have caught it; still, never crash on one record
            self._reject(raw, origin, f"cannot be encoded: {exc}", record)
            return
        self._publisher.send(self._topics.event_topic(event.type), event.key, value, on_success=self._count_accepted)

    def confirm(self) -> IntakeReport:
        """Wait for the broker to confirm everything submitted so far."""
        self._publisher.confirm()
        return self.report

    def _count_accepted(self) -> None:
        self.report.accepted += 1

    def _reject(self, raw: bytes, origin: str, reason: str, record: object) -> None:
        fields = record if isinstance(record, Mapping) else {}
        rejection = Rejection(
            origin,
            reason,
            _text(fields.get("source")),
            _text(fields.get("type")),
            _text(fields.get("source_record_id")),
        )
        letter = {
            "reason": reason,
            "source": rejection.source,
            "record_type": rejection.record_type,
            "source_record_id": rejection.source_record_id,
            "adapter": self._adapter,
            "origin": origin,
            "received_at": utc_now_ms(),
            "payload_sealed": self._seal.seal(raw),
        }
        key = rejection.source or "unknown"
        self._publisher.send(
            self._topics.dead_letters,
            key,
            self._codec.encode("dead_letter", letter),
            on_success=lambda: self._count_rejected(rejection),
        )

    def _count_rejected(self, rejection: Rejection) -> None:
        self.report.rejected += 1
        self.report.rejections.append(rejection)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
