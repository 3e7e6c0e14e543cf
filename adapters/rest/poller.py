"""The REST poller of one agency source: pages → the shared intake → a checkpoint per confirmed page.

Delivery is **at-least-once, and exactly-once by event_id**. For each page the
poller submits every record to the intake, waits for ``intake.confirm()`` (the
broker has acknowledged every event and dead letter of the page), and only then
replaces the source's checkpoint with the page's end. A crash or kill at any
point before that leaves the checkpoint at the page's start, so the page is
fetched again after a restart: no record is ever skipped, some may be published
twice. Those duplicates are harmless because an event's id is a function of the
record (``<source>/<type>/<source_record_id>``, events.md) and the hub ignores a
record whose ``event_id`` it has already accepted; so at-least-once delivery plus
dedup by event_id is exactly-once in effect, per event_id. (An agency that
re-sends a record does the same, and is handled the same way.)

Each record is first checked against the feed's policy (``allowed_sources``,
``allowed_types``: :mod:`adapters.rest.policy`); one in another agency's name is
dead-lettered (``source_not_allowed`` / ``type_not_allowed``), never published,
and the page still moves the checkpoint: the refusal is on the dead-letter topic.

Metrics: the source's last success is the last usable page the agency served (an
empty one too: the source is alive); its checkpoint time, the last confirmed page.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

from adapters.rest.checkpoint import Checkpoint, CheckpointStore
from adapters.rest.client import ADAPTER, AgencyClient, AgencyPage, PollStopped, SourceRefused, SourceUnavailable
from adapters.rest.config import SourceConfig
from jiandu.core.jsoninput import MAX_DEPTH, nests_deeper_than
from jiandu.errors import DeliveryError
from jiandu.observability.labels import source_label
from jiandu.observability.metrics.adapters import ADAPTER_CHECKPOINT, ADAPTER_LAST_SUCCESS
from producers import IntakeReport

__all__ = ["Intake", "PollSummary", "SourcePoller", "origin_of", "raw_bytes"]

log = logging.getLogger(__name__)

_STALE_TOKEN_STATUSES = frozenset({400, 404, 410})


class Intake(Protocol):
    """What the poller needs of :class:`producers.RecordIntake` (tests pass their own)."""

    report: IntakeReport

    def submit(self, record: Mapping[str, Any], raw: bytes, origin: str) -> object:
        """Validate, pseudonymise, publish or dead-letter one record."""

    def reject(self, record: object, raw: bytes, origin: str, *, field: str | None, rule: str, message: str) -> object:
        """Dead-letter a record the feed may not deliver (its source or type is not the feed's)."""

    def confirm(self) -> IntakeReport:
        """Return once the broker has confirmed everything submitted; DeliveryError if it did not."""


@dataclass(slots=True)
class PollSummary:
    """What one poll (up to the end of the feed) did."""

    pages: int = 0
    records: int = 0
    accepted: int = 0
    rejected: int = 0

    def add(self, records: int, accepted: int, rejected: int) -> None:
        """Count one more confirmed page."""
        self.pages += 1
        self.records += records
        self.accepted += accepted
        self.rejected += rejected


def origin_of(source: str, page: int, index: int) -> str:
    """``rest:<source>:<page>:<index>``: page number in the source's checkpoint history (1-based), index in the page."""
    return f"rest:{source}:{page}:{index}"


_TOO_DEEP = b'{"unreadable":"nested too deeply"}'


def raw_bytes(record: object) -> bytes:
    """The bytes kept (sealed) with a dead letter: the record re-serialised as compact UTF-8 JSON.

    The page's own bytes for one record are not kept by a JSON parser; this is the
    same JSON value, which is what the agency sent.
    """
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


class SourcePoller:
    """Polls one source until it has caught up (``poll``), or again and again (``run``)."""

    def __init__(
        self,
        config: SourceConfig,
        intake: Intake,
        store: CheckpointStore,
        *,
        client: AgencyClient | None = None,
        stop: threading.Event | None = None,
        total: PollSummary | None = None,
    ) -> None:
        """``total``: where this poller's counts add up (a source polled again after its lease came back)."""
        self.config = config
        self._intake = intake
        self._store = store
        self._stop = stop or threading.Event()
        self._client = client or AgencyClient(config, stop=self._stop)
        self._source_label = source_label(config.source)
        self._policy = config.policy
        self.total = total if total is not None else PollSummary()  # every poll of this poller's life

    def poll(self) -> PollSummary:
        """Fetch, submit and checkpoint page after page until the agency has nothing more for now.

        Raises SourceUnavailable (the agency), DeliveryError (the broker) or
        PollStopped; the checkpoint then holds the last confirmed page.
        """
        checkpoint = self._store.load(self.config.source)
        summary = PollSummary()
        while not self._stop.is_set():
            request = self._request(checkpoint)
            try:
                page = self._client.fetch(**request)
            except SourceRefused as exc:
                if not request["page_token"] or exc.status not in _STALE_TOKEN_STATUSES:
                    raise
                checkpoint = self._forget_token(checkpoint, exc.status)
                continue
            ADAPTER_LAST_SUCCESS.mark(ADAPTER, self._source_label)
            following = self._following(checkpoint, page)
            if not page.records and following == (checkpoint.cursor, checkpoint.page_token):
                break  # nothing new: no checkpoint write
            checkpoint = self._take(checkpoint, page, following, summary)
            if following[1] is None and (page.next_page_token is None or not page.records):
                break
        return summary

    def run(self) -> None:
        """Poll, wait ``poll_interval_seconds``, poll… until stopped; agency and broker failures are logged."""
        while not self._stop.is_set():
            try:
                self.poll()
            except PollStopped:
                break
            except (SourceUnavailable, DeliveryError) as exc:
                log.error("rest %s: %s; next poll in %g s", self.config.source, exc, self.config.poll_interval_seconds)
            self._stop.wait(self.config.poll_interval_seconds)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _request(self, checkpoint: Checkpoint) -> dict[str, str | None]:
        if self.config.cursor == "page_token" and checkpoint.page_token:
            return {"since": None, "page_token": checkpoint.page_token}
        return {"since": checkpoint.cursor or self.config.start_since, "page_token": None}

    def _forget_token(self, checkpoint: Checkpoint, status: int) -> Checkpoint:
        """Drop an expired page token: the cursor kept beside it leads to the same or earlier records.

        Re-reading those is harmless (dedup by event_id).
        """
        log.warning(
            "rest %s: the agency refused page token %s (HTTP %d), expired perhaps; reading again from cursor %s",
            self.config.source,
            checkpoint.page_token,
            status,
            checkpoint.cursor or self.config.start_since,
        )
        return replace(checkpoint, page_token=None)

    def _submit(self, record: object, origin: str) -> bool:
        """Submit one record, or dead-letter it if the feed may not deliver it; True when refused."""
        if nests_deeper_than(record, MAX_DEPTH):  # not even serialised again: it could exhaust the stack
            envelope = {k: v for k, v in record.items() if isinstance(v, str)} if isinstance(record, Mapping) else {}
            message = f"not valid JSON: arrays and objects nested deeper than {MAX_DEPTH} levels (payload not kept)"
            self._intake.reject(envelope, _TOO_DEEP, origin, field=None, rule="json", message=message)
            return False
        raw = raw_bytes(record)
        refusal = self._policy.refusal(record)
        if refusal is None:
            # a record that is not a JSON object still goes in: the intake dead-letters it with the reason
            self._intake.submit(cast(Mapping[str, Any], record), raw, origin)
            return False
        self._intake.reject(record, raw, origin, field=refusal.field, rule=refusal.rule, message=refusal.message)
        return True

    def _following(self, checkpoint: Checkpoint, page: AgencyPage) -> tuple[str | None, str | None]:
        """(cursor, page token) the checkpoint holds once this page is confirmed."""
        cursor = page.cursor or checkpoint.cursor
        token = page.next_page_token if self.config.cursor == "page_token" and page.records else None
        return cursor, token

    def _take(
        self, checkpoint: Checkpoint, page: AgencyPage, following: tuple[str | None, str | None], summary: PollSummary
    ) -> Checkpoint:
        """Submit a page, wait for the broker, then (only then) move the checkpoint past it."""
        if page.records and following == (checkpoint.cursor, checkpoint.page_token):
            raise SourceUnavailable(
                f"source {self.config.source}: the agency returned records without moving its cursor "
                f"({checkpoint.cursor!r}); polling it again would loop, so this poll ends here"
            )
        number = checkpoint.pages + 1
        before = (self._intake.report.accepted, self._intake.report.rejected)
        refused = sum(
            self._submit(record, origin_of(self.config.source, number, index))
            for index, record in enumerate(page.records)
        )
        if refused:
            log.warning(
                "rest %s: page %d: %d records outside the feed's allowed sources or types were dead-lettered; "
                "ask the agency why its API returns them, or widen allowed_sources / allowed_types if they are its own",
                self.config.source,
                number,
                refused,
            )
        report = self._intake.confirm()
        advanced = checkpoint.advanced(cursor=following[0], page_token=following[1], records=len(page.records))
        self._store.save(advanced)
        ADAPTER_CHECKPOINT.mark(ADAPTER, self._source_label)
        accepted, rejected = report.accepted - before[0], report.rejected - before[1]
        for counts in (summary, self.total):
            counts.add(len(page.records), accepted, rejected)
        position = f"page_token {following[1]}" if following[1] else f"cursor {following[0]}"
        log.info(
            "rest %s: page %d: %d records (%d accepted, %d dead-lettered) confirmed; checkpoint → %s",
            self.config.source,
            number,
            len(page.records),
            accepted,
            rejected,
            position,
        )
        return advanced
