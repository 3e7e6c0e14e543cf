"""One push request's records through the shared intake: policy, idempotency, validation, confirmation.

Plain synchronous code, no HTTP: the web layer (``app.py``) authenticates, limits
and parses, then hands the records here. Each record gets exactly one answer:

- ``rejected`` — the agency may not send it (``source_not_allowed``,
  ``type_not_allowed``) or it fails validation (field and rule, e.g.
  ``id_number`` / ``check_character``); it goes to the dead-letter topic with the
  reason, the source, adapter ``gateway``, its origin and its sealed bytes;
- ``duplicate`` — its event id was accepted before (or earlier in the same
  request); it is not published again. Also a record another gateway replica
  accepted while this one published it: claimed first there (``receipts.py``);
- ``accepted`` — published, the broker confirmed it, and then this request
  claimed its event id: accepted once across every replica.

Once the broker confirmed a request, each source with an accepted record is marked
as delivering (``jiandu_adapter_last_success_*{adapter="gateway"}``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.gateway.credentials import Agency
from adapters.gateway.receipts import AcceptedEventIds
from jiandu.core.events import event_id_of
from jiandu.errors import DeliveryError
from jiandu.observability.labels import source_label
from jiandu.observability.metrics.adapters import ADAPTER_LAST_SUCCESS
from producers import Prepared, RecordIntake, Submission

__all__ = ["ACCEPTED", "DUPLICATE", "REJECTED", "BatchResult", "PushIntake", "RecordResult"]

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
_log = logging.getLogger("jiandu.gateway")
_ADAPTER = "gateway"  # the intake's adapter name, so the gateway's and the intake's series join
_DUPLICATE_MESSAGE = "event_id was accepted before; not published again"


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The answer for one record of a push request."""

    index: int
    event_id: str | None
    status: str
    field: str | None = None
    rule: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record's entry in the response (``field``/``rule``/``message`` only when there is one)."""
        out: dict[str, Any] = {"index": self.index, "event_id": self.event_id, "status": self.status}
        if self.status == REJECTED:
            out.update(field=self.field, rule=self.rule)
        if self.message is not None:
            out["message"] = self.message
        return out


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The answers for every record of one push request, in request order."""

    request_id: str
    results: tuple[RecordResult, ...]

    def count(self, status: str) -> int:
        """How many records got this status."""
        return sum(1 for r in self.results if r.status == status)

    def to_json(self) -> dict[str, Any]:
        """The response body."""
        return {
            "request_id": self.request_id,
            "results": [r.to_json() for r in self.results],
            "accepted": self.count(ACCEPTED),
            "duplicate": self.count(DUPLICATE),
            "rejected": self.count(REJECTED),
        }


class PushIntake:
    """Submits push requests through one :class:`RecordIntake`, one request at a time.

    The intake and its producer are not thread-safe, and ``confirm`` waits for
    everything queued; serialising requests keeps each answer about its own
    records. A request's records are confirmed in one flush, so throughput comes
    from batch size, not from concurrent requests.
    """

    def __init__(
        self,
        intake: RecordIntake,
        receipts: AcceptedEventIds,
        *,
        outage_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``outage_seconds``: after the broker failed to confirm, how long requests are answered
        DeliveryError at once (a prompt 503) instead of each waiting for the broker again."""
        self._intake = intake
        self._receipts = receipts
        self._lock = threading.Lock()
        self._outage_seconds = outage_seconds
        self._clock = clock
        self._outage_until = float("-inf")

    @property
    def retry_after(self) -> int:
        """Seconds an agency should wait after a 503 before sending again."""
        remaining = self._outage_until - self._clock()
        return max(1, math.ceil(remaining if remaining > 0 else self._outage_seconds))

    def submit_batch(self, agency: Agency, records: Sequence[object], request_id: str) -> BatchResult:
        """Answer every record; raises DeliveryError (nothing counted accepted) if the broker did not confirm.

        All or nothing up to the broker: every record is checked, validated and encoded first, and only
        when all of them are prepared is anything sent, so an error while preparing leaves no trace.
        """
        with self._lock:
            if self._clock() < self._outage_until:
                raise DeliveryError(f"the broker did not confirm a request moments ago; retry in {self.retry_after} s")
            known = self._receipts.accepted_among({i for i in map(_event_id, records) if i is not None})
            prepared = self._prepare(agency, records, request_id, known)
            try:
                results = [self._publish(index, item) for index, item in enumerate(prepared)]
                self._intake.confirm()
            except DeliveryError:
                self._outage_until = self._clock() + self._outage_seconds
                raise
            finally:
                self._intake.new_report()  # per-request answers come from the results, not the running report
            results = self._claim(agency, results)
            _mark_delivering(records, results)
            return BatchResult(request_id, tuple(results))

    def _claim(self, agency: Agency, results: list[RecordResult]) -> list[RecordResult]:
        """Claim the ids of the confirmed records: one another replica claimed first is answered duplicate.

        Its event is then on the topic twice, which the streams worker ignores by event id; what must
        not happen, a record answered ``accepted`` twice, cannot (``receipts.py``).
        """
        confirmed = {r.event_id for r in results if r.status == ACCEPTED and r.event_id}
        claimed = self._receipts.claim(agency.id, confirmed)
        if len(claimed) < len(confirmed):
            _log.info("%s: %d records were accepted by another gateway first", agency.id, len(confirmed) - len(claimed))
        return [
            RecordResult(r.index, r.event_id, DUPLICATE, message=_DUPLICATE_MESSAGE)
            if r.status == ACCEPTED and r.event_id and r.event_id not in claimed
            else r
            for r in results
        ]

    def dead_letter_body(self, agency: Agency, body: bytes, message: str, request_id: str) -> None:
        """Dead-letter a request body that is not a batch at all (answered 400): nothing is silently dropped.

        Best effort: the agency has its 400 either way, so a broker that does not confirm is only logged.
        """
        with self._lock:
            self._intake.reject(None, body, f"{agency.id}/{request_id}", field=None, rule="json", message=message)
            try:
                self._intake.confirm()
            except DeliveryError as exc:
                _log.warning("request %s of %s: its dead letter was not confirmed: %s", request_id, agency.id, exc)
            finally:
                self._intake.new_report()

    def _prepare(
        self, agency: Agency, records: Sequence[object], request_id: str, known: set[str]
    ) -> list[Prepared | RecordResult]:
        """Each record prepared (or answered duplicate); nothing is sent yet."""
        seen: set[str] = set(known)
        prepared: list[Prepared | RecordResult] = []
        for index, record in enumerate(records):
            item = self._prepare_one(agency, index, record, f"{agency.id}/{request_id}#{index}", seen)
            if isinstance(item, Prepared) and item.event_id is not None:
                seen.add(item.event_id)
            prepared.append(item)
        return prepared

    def _prepare_one(
        self, agency: Agency, index: int, record: object, origin: str, known: set[str]
    ) -> Prepared | RecordResult:
        raw = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        refusal = agency.refusal(record)
        if refusal is not None:
            return self._intake.refuse(
                record, raw, origin, field=refusal.field, rule=refusal.rule, message=refusal.message
            )
        event_id = _event_id(record)
        if event_id is not None and event_id in known:
            return RecordResult(index, event_id, DUPLICATE, message=_DUPLICATE_MESSAGE)
        return self._intake.prepare(record, raw, origin)  # type: ignore[arg-type]

    def _publish(self, index: int, item: Prepared | RecordResult) -> RecordResult:
        if isinstance(item, RecordResult):
            return item
        return _result(index, self._intake.publish(item))


def _result(index: int, submitted: Submission) -> RecordResult:
    rejection = submitted.rejection
    if rejection is None:
        return RecordResult(index, submitted.event_id, ACCEPTED)
    return RecordResult(index, submitted.event_id, REJECTED, rejection.field, rejection.rule, rejection.reason)


def _mark_delivering(records: Sequence[object], results: Sequence[RecordResult]) -> None:
    """The last success of every source with a record accepted (and confirmed) in this request."""
    accepted = (records[r.index] for r in results if r.status == ACCEPTED)
    for source in {r.get("source") for r in accepted if isinstance(r, Mapping)}:
        ADAPTER_LAST_SUCCESS.mark(_ADAPTER, source_label(source))


def _event_id(record: object) -> str | None:
    if not isinstance(record, Mapping):
        return None
    parts = (record.get("source"), record.get("type"), record.get("source_record_id"))
    if all(isinstance(p, str) and p for p in parts):
        return event_id_of(*parts)  # type: ignore[arg-type]
    return None
