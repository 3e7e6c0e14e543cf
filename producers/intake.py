"""The shared intake every adapter uses: validate, pseudonymise, publish, dead-letter.

Validation and pseudonymisation happen here and only here; raw ID numbers never
leave this process except sealed inside a dead letter. Every record handed in is
counted received; accepted and rejected are counted when the broker confirms the
event or the dead letter, as the report counts them (``producers.counting``).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jiandu.core.events import Event, event_id_of
from jiandu.core.identity import Pseudonymiser
from jiandu.core.idscan import ID_NUMBER_MASK, mask_id_numbers
from jiandu.core.jsoninput import JsonInputError, parse_json
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

_log = logging.getLogger(__name__)

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_SEALED_PAYLOAD_BYTES",
    "IntakeReport",
    "Prepared",
    "RecordIntake",
    "Rejection",
    "Submission",
]

#: The largest encoded event the intake publishes; a larger record is dead-lettered. Kafka's default
#: message limit is 1 MiB, and one oversized message once stopped an adapter (MessageSizeTooLargeError).
MAX_EVENT_BYTES = 512 * 1024
#: The most bytes of an agency's original a dead letter seals; a longer original is cut, and its reason says so.
MAX_SEALED_PAYLOAD_BYTES = 512 * 1024


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


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record validated, pseudonymised and encoded (``event``, ``value``) or refused (``rejection``); not sent."""

    origin: str
    raw: bytes
    record: object
    event: Event | None = None
    value: bytes | None = None
    rejection: Rejection | None = None
    numbers: dict[str, str] = field(default_factory=dict, repr=False)  # person_key → raw ID number, to seal

    @property
    def event_id(self) -> str | None:
        """The event id of an accepted record (a refused one's is in its Submission once published)."""
        return self.event.event_id if self.event is not None else None


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
        return self.publish(self.prepare_bytes(raw, origin))

    def submit(self, record: Mapping[str, Any], raw: bytes, origin: str) -> Submission:
        """One parsed record (``raw`` is what the agency sent, kept sealed for dead letters)."""
        return self.publish(self.prepare(record, raw, origin))

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
        return self.publish(self.refuse(record, raw, origin, field=field, rule=rule, message=message))

    def prepare_bytes(self, raw: bytes, origin: str) -> Prepared:
        """:meth:`prepare` for one JSON-lines record as received."""
        try:
            record = parse_json(raw)
        except JsonInputError as exc:
            return Prepared(origin, raw, None, rejection=_rejection(origin, str(exc), None))
        return self.prepare(record, raw, origin)  # type: ignore[arg-type]  # a non-object is rejected by validation

    def prepare(self, record: Mapping[str, Any], raw: bytes, origin: str) -> Prepared:
        """Validate, pseudonymise and encode one record without sending anything (:meth:`publish` sends).

        A request that must succeed or fail as a whole (a push batch) prepares every record first.
        """
        if self._recording is not None:
            self._recording.seen.clear()
        try:
            event = to_event(record, self._pseudonymiser, utc_now_ms())
            value = self._codec.encode_event(event)
        except RecordError as exc:
            return Prepared(origin, raw, record, rejection=_rejection(origin, exc.reason, record))
        except SchemaError as exc:  # validation should have caught it; still, never crash on one record
            return Prepared(origin, raw, record, rejection=_rejection(origin, f"cannot be encoded: {exc}", record))
        except Exception as exc:  # a defect of ours must not stop an adapter: dead-lettered, and logged to be fixed
            _log.exception("%s: validation failed unexpectedly (a defect): dead-lettered", mask_id_numbers(origin))
            reason = f"cannot be processed: {type(exc).__name__} (a defect of the hub, reported; re-submit after a fix)"
            return Prepared(origin, raw, record, rejection=_rejection(origin, reason, record))
        if len(value) > MAX_EVENT_BYTES:
            reason = f"record: too large when encoded ({len(value)} bytes, at most {MAX_EVENT_BYTES}): split it"
            return Prepared(origin, raw, record, rejection=_rejection(origin, reason, record))
        numbers = dict(self._recording.seen) if self._recording is not None else {}
        return Prepared(origin, raw, record, event=event, value=value, numbers=numbers)

    def refuse(
        self, record: object, raw: bytes, origin: str, *, field: str | None, rule: str, message: str
    ) -> Prepared:
        """:meth:`reject` without sending: the record prepared as refused by the adapter's policy."""
        reason = f"{field}: {message}" if field else message
        return Prepared(origin, raw, record, rejection=_rejection(origin, reason, record, (field, rule)))

    def publish(self, prepared: Prepared) -> Submission:
        """Hand a prepared record to the producer: its event, or its dead letter."""
        flow = self._received(prepared.record)
        rejection = prepared.rejection
        if rejection is not None:
            return self._dead_letter(prepared.raw, rejection, flow)
        event, value = prepared.event, prepared.value
        assert event is not None and value is not None
        stamps = {"headers": self._sequence.stamp(event)} if self._sequence else {}  # backtests: input order
        self._publisher.send(
            self._topics.event_topic(event.type),
            event.key,
            value,
            on_success=lambda: self._count_accepted(flow),
            **stamps,
        )
        if prepared.numbers:
            self._send_seals(prepared.numbers)
        return Submission(prepared.origin, event.event_id)

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

    def _dead_letter(self, raw: bytes, rejection: Rejection, flow: Flow) -> Submission:
        if len(raw) > MAX_SEALED_PAYLOAD_BYTES:  # a dead letter must fit into a Kafka message too
            cut = f" (sealed payload cut to its first {MAX_SEALED_PAYLOAD_BYTES} of {len(raw)} bytes)"
            raw, rejection = raw[:MAX_SEALED_PAYLOAD_BYTES], replace(rejection, reason=rejection.reason + cut)
        letter = {
            "reason": rejection.reason,
            "source": rejection.source,
            "record_type": rejection.record_type,
            "source_record_id": rejection.source_record_id,
            "adapter": self._adapter,
            "origin": rejection.origin,
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
        return Submission(rejection.origin, _event_id(rejection), rejection)

    def _count_rejected(self, rejection: Rejection, flow: Flow) -> None:
        self.report.rejected += 1
        self.report.rejections.append(rejection)
        self._counters.rejected(flow, rejection.field, rejection.rule)


def _rejection(origin: str, reason: str, record: object, field_rule: tuple[str | None, str] | None = None) -> Rejection:
    """What a dead letter keeps in clear about a record: reason, origin, source, type and record id.

    All of it is agency text and may hold an ID number (a validator quoting a bad value, a record id
    that is one): every ID number in it is masked, never kept in clear.
    """
    fields = record if isinstance(record, Mapping) else {}
    reason = mask_id_numbers(reason)
    return Rejection(
        mask_id_numbers(origin),
        reason,
        _masked(fields.get("source")),
        _masked(fields.get("type")),
        _masked(fields.get("source_record_id")),
        *(field_rule or field_and_rule(reason)),
    )


def _masked(value: object) -> str | None:
    return mask_id_numbers(value) if isinstance(value, str) else None


def _event_id(rejection: Rejection) -> str | None:
    """The rejected record's event id, unless a part of it held an ID number (then none: it would carry it)."""
    parts = (rejection.source, rejection.record_type, rejection.source_record_id)
    if not all(parts) or any(ID_NUMBER_MASK in str(part) for part in parts):
        return None
    return event_id_of(*parts)  # type: ignore[arg-type]
