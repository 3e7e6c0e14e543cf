"""The shared intake every adapter uses: validate, pseudonymise, publish, dead-letter.

Validation and pseudonymisation happen here and only here; raw ID numbers never
leave this process except sealed inside a dead letter. Every record handed in is
counted received; accepted and rejected are counted when the broker confirms the
event or the dead letter, as the report counts them (``producers.counting``).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jiandu.core.events import event_id_of
from jiandu.core.identity import Pseudonymiser
from jiandu.core.ordering import InputSequence
from jiandu.core.sealing import PayloadSeal
from jiandu.core.timeutil import utc_now_ms
from jiandu.core.validation import to_event
from jiandu.errors import RecordError, SchemaError
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue
from producers.counting import Flow, IntakeCounters
from producers.identities import IdentitySealing, RecordingPseudonymiser
from producers.publisher import KafkaPublisher
from producers.rules import field_and_rule

__all__ = ["IntakeReport", "RecordIntake", "Rejection", "Submission"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that went to the dead-letter topic; ``field`` and ``rule`` say what it broke."""

    origin: str
    reason: str
    source: str | None
    record_type: str | None
    source_record_id: str | None
    field: str | None = None
    rule: str = "invalid"


@dataclass(frozen=True, slots=True)
class Submission:
    """What :meth:`RecordIntake.submit` did with one record.

    Either queued for publishing (``rejection`` is None) — it counts as accepted
    only once :meth:`RecordIntake.confirm` has returned — or rejected and
    dead-lettered for the reason in ``rejection``. ``event_id`` is known whenever
    the record names its source, type and source record id.
    """

    origin: str
    event_id: str | None
    rejection: Rejection | None = None

    @property
    def queued(self) -> bool:
        """True when the record became an event handed to the producer."""
        return self.rejection is None


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
        sequence: InputSequence | None = None,
        sealing: IdentitySealing | None = None,
    ) -> None:
        """``sequence``: stamp every accepted event with its input position and backtest clock (backtests).
        ``sealing``: seal each raw ID number for the console's reveal service (``producers.identities``)."""
        self._publisher = publisher
        self._topics = catalogue
        self._sealing = sealing
        self._recording = RecordingPseudonymiser(pseudonym_key) if sealing else None
        self._pseudonymiser = self._recording or Pseudonymiser(pseudonym_key)
        self._seal = PayloadSeal(pseudonym_key)
        self._codec = codec or AvroCodec()
        self._adapter = adapter
        self._sequence = sequence
        self._counters = IntakeCounters(adapter)
        self.report = IntakeReport()

    def submit_bytes(self, raw: bytes, origin: str) -> Submission:
        """One JSON-lines record as received."""
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._reject(raw, origin, f"not valid JSON: {exc}", None, self._received(None))
        return self.submit(record, raw, origin)

    def submit(self, record: Mapping[str, Any], raw: bytes, origin: str) -> Submission:
        """One parsed record (``raw`` is what the agency sent, kept sealed for dead letters)."""
        flow = self._received(record)
        if self._recording is not None:
            self._recording.seen.clear()
        try:
            event = to_event(record, self._pseudonymiser, utc_now_ms())
            value = self._codec.encode_event(event)
        except RecordError as exc:
            return self._reject(raw, origin, exc.reason, record, flow)
        except SchemaError as exc:  # validation should have caught it; still, never crash on one record
            return self._reject(raw, origin, f"cannot be encoded: {exc}", record, flow)
        stamps = {"headers": self._sequence.stamp(event)} if self._sequence else {}
        self._publisher.send(
            self._topics.event_topic(event.type),
            event.key,
            value,
            on_success=lambda: self._count_accepted(flow),
            **stamps,
        )
        if self._recording is not None and self._recording.seen:
            self._send_seals(self._recording.seen)
        return Submission(origin, event.event_id)

    def _send_seals(self, numbers: dict[str, str]) -> None:
        """The sealed numbers of the persons of an accepted event, on the identities topic."""
        assert self._sealing is not None
        sealing, now = self._sealing, utc_now_ms()
        for person_key, sealed in sealing.seals(numbers):
            value = {"person_key": person_key, "key_id": sealing.key_id, "sealed": sealed, "sealed_at": now}
            self._publisher.send(
                self._topics.identities,
                person_key,
                self._codec.encode("sealed_identity", value),
                on_success=lambda k=person_key: sealing.confirmed(k),  # type: ignore[misc]
            )

    def reject(
        self, record: object, raw: bytes, origin: str, *, field: str | None, rule: str, message: str
    ) -> Submission:
        """Dead-letter a record the adapter refused by its own policy (e.g. a source the agency may not use).

        The reason on the dead-letter topic is ``<field>: <message>``, as validation writes them.
        """
        reason = f"{field}: {message}" if field else message
        return self._reject(raw, origin, reason, record, self._received(record), field_rule=(field, rule))

    def confirm(self) -> IntakeReport:
        """Wait for the broker to confirm everything submitted so far."""
        self._publisher.confirm()
        return self.report

    def new_report(self) -> IntakeReport:
        """Start counting afresh (a long-running adapter reports per batch); returns the report so far."""
        finished, self.report = self.report, IntakeReport()
        return finished

    def _received(self, record: object) -> Flow:
        flow = self._counters.flow(record)
        flow.received.inc()
        return flow

    def _count_accepted(self, flow: Flow) -> None:
        self.report.accepted += 1
        flow.accepted.inc()

    def _reject(
        self,
        raw: bytes,
        origin: str,
        reason: str,
        record: object,
        flow: Flow,
        field_rule: tuple[str | None, str] | None = None,
    ) -> Submission:
        fields = record if isinstance(record, Mapping) else {}
        rejection = Rejection(
            origin,
            reason,
            _text(fields.get("source")),
            _text(fields.get("type")),
            _text(fields.get("source_record_id")),
            *(field_rule or field_and_rule(reason)),
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
            on_success=lambda: self._count_rejected(rejection, flow),
        )
        return Submission(origin, _event_id(rejection), rejection)

    def _count_rejected(self, rejection: Rejection, flow: Flow) -> None:
        self.report.rejected += 1
        self.report.rejections.append(rejection)
        self._counters.rejected(flow, rejection.field, rejection.rule)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _event_id(rejection: Rejection) -> str | None:
    if rejection.source and rejection.record_type and rejection.source_record_id:
        return event_id_of(rejection.source, rejection.record_type, rejection.source_record_id)
    return None
