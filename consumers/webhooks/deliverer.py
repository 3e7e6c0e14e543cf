"""The webhook deliverer (``jiandu webhooks``): lead versions → signed HTTP POSTs, in order per lead.

A consumer group on ``<prefix>.leads``. Each lead version that a subscription's
filter selects becomes a :class:`~consumers.webhooks.delivery.Delivery` queued
in a *lane*, one lane per (subscription, lead): a lane sends its deliveries one
after the other, each retried with backoff until it succeeds or is
dead-lettered, so a later version of a lead never overtakes an earlier one,
while the lanes of other leads go on independently (one asyncio task each).

Offsets are committed only up to the first message with a delivery still under
way (:class:`~consumers.webhooks.progress.PartitionProgress`): a restart reads
again what was not finished and never skips a delivery (at least once). What each
subscription was sent, per lead, is written the moment a delivery settles (answered
2xx, or dead-lettered) to ``<prefix>.consumers.webhooks-state``
(:mod:`consumers._changelog`: partition-aligned with the lead topic, confirmed by the
broker before the lane sends the lead's next version), and a message read again skips
what was sent: after a crash, or when another replica of the group takes a partition
over on another host, only the deliveries in flight (at most one per lane) are sent
again, which the ``X-Jiandu-Delivery`` id lets a receiver drop. A version that is no news
for a subscription (``consumers.lead_versions``: re-emitted by a worker that
reprocessed its events, equal but for wall-clock fields) is not delivered either.
Dead letters go to a compacted topic every replica sees (:mod:`consumers.webhooks.store`).

Metrics (:mod:`consumers.webhooks.metrics`): each attempt by outcome and its duration, the
backlog per subscription (versions waiting behind a failing delivery) and the dead letters per
subscription; :attr:`WebhookDeliverer.membership` tells a readiness probe whether it joined its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from kafka import TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from consumers._group import GroupMembership, GroupOptions, group_consumer
from consumers.lead_versions import LeadLedger
from consumers.webhooks.delivery import Delivery, RetryPolicy, deliver
from consumers.webhooks.metrics import Backlog, DeadLetterGauge
from consumers.webhooks.progress import PartitionProgress
from consumers.webhooks.store import FailedDeliveryStore
from consumers.webhooks.subscriptions import Subscription
from jiandu.core.leads import Lead
from jiandu.errors import SchemaError
from jiandu.journal import JournalWriter
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue

__all__ = ["DeliveryCounts", "WebhookDeliverer", "webhook_group"]

log = logging.getLogger(__name__)
_POLL_MS = 200
_DEAD_LETTER_REFRESH_SECONDS = 10.0  # `jiandu webhooks redeliver` removes rows from another process


def webhook_group(catalogue: TopicCatalogue) -> str:
    """The default consumer group of a deliverer on the lead topic."""
    return f"{catalogue.prefix}-webhooks"


@dataclass(slots=True)
class DeliveryCounts:
    """What a deliverer has done so far."""

    delivered: int = 0
    dead_lettered: int = 0
    repeats: int = 0  # versions sent before (read again after a restart or a takeover, or re-emitted): not sent


class WebhookDeliverer:
    """Consumes the lead topic and delivers each selected version to its subscriptions."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        catalogue: TopicCatalogue,
        subscriptions: Sequence[Subscription],
        store: FailedDeliveryStore,
        *,
        policy: RetryPolicy | None = None,
        group: str | None = None,
        options: GroupOptions | None = None,
        timeout_seconds: float = 10.0,
        max_outstanding: int = 10_000,
        membership: GroupMembership | None = None,
        journal: JournalWriter | None = None,
    ) -> None:
        """``store``: the group's dead letters; ``journal``: where the state's writes are also kept (the
        embedded broker forgets them on a restart)."""
        self.subscriptions = tuple(subscriptions)
        self.store = store
        self.policy = policy or RetryPolicy()
        self.group = group or webhook_group(catalogue)
        self.counts = DeliveryCounts()
        self.committed: dict[TopicPartition, int] = {}
        self._timeout = timeout_seconds
        self._max_outstanding = max_outstanding
        self.membership = membership or GroupMembership(self.group)
        options = options or GroupOptions()
        self._codec = AvroCodec()
        self._ledger = LeadLedger.on_changelog(
            client_config,
            catalogue.webhooks_state,
            catalogue.leads,
            self.group,
            journal=journal,
            fetch_max_wait_ms=options.fetch_max_wait_ms,
        )
        self.state = self._ledger.state
        self._flush_lock = asyncio.Lock()
        self._consumer = group_consumer(
            client_config, catalogue.leads, self.group, options, self.membership, self.state
        )
        self._backlog = Backlog(s.id for s in self.subscriptions)
        self._dead_letters = DeadLetterGauge(store, (s.id for s in self.subscriptions))
        self._dead_letters_refreshed = 0.0
        self._progress: dict[TopicPartition, PartitionProgress] = {}
        self._lanes: dict[tuple[str, str], deque[tuple[TopicPartition, int, Delivery, Lead]]] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def run(self, should_stop: Callable[[], bool]) -> None:
        """Deliver until ``should_stop()``; then commit what is done and leave the group.

        Deliveries still under way are abandoned uncommitted: the next run sends them again.
        """
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            try:
                while not should_stop():
                    await self._refresh_dead_letters()
                    batch = await asyncio.to_thread(self._consumer.poll, timeout_ms=_POLL_MS, max_records=1000)
                    await asyncio.to_thread(self.state.restore)
                    self._forget_revoked()
                    for tp, records in batch.items():
                        for record in records:
                            self._dispatch(client, tp, record)
                    self._flow_control()
                    await self._commit()
            finally:
                await self._abandon_lanes()
                await self._flush_state()
                await self._commit()
                await asyncio.to_thread(self._consumer.close)
                self.state.close()

    def _dispatch(self, client: httpx.AsyncClient, tp: TopicPartition, record: Any) -> None:
        selected = [(s, lead) for lead in self._lead(record) for s in self.subscriptions if s.filter.matches(lead)]
        news = [(s, lead) for s, lead in selected if not self._ledger.is_repeat(tp.partition, s.id, lead)]
        self.counts.repeats += len(selected) - len(news)
        self._progress.setdefault(tp, PartitionProgress()).add(record.offset, len(news))
        for delivery, lead in ((Delivery.of(s, lead), lead) for s, lead in news):
            key = (delivery.subscription.id, delivery.lead_id)
            lane = self._lanes.get(key)
            if lane is not None:
                lane.append((tp, record.offset, delivery, lead))
                self._backlog.queued(key)
                continue
            self._lanes[key] = deque([(tp, record.offset, delivery, lead)])
            self._tasks[key] = asyncio.create_task(self._drain(client, key))

    def _lead(self, record: Any) -> list[Lead]:
        """The lead version of a message; none for a tombstone or an unreadable message (logged, skipped)."""
        if record.value is None:
            return []
        try:
            return [Lead.from_avro(self._codec.decode(record.value)[1])]
        except SchemaError as exc:
            log.error(
                'topic "%s" partition %d offset %d: not delivered: %s',
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            return []

    async def _drain(self, client: httpx.AsyncClient, key: tuple[str, str]) -> None:
        """Send a lane's deliveries in order; each ends delivered or dead-lettered before the next starts."""
        lane = self._lanes[key]
        try:
            while lane:
                tp, offset, delivery, lead = lane[0]
                if self._ledger.is_repeat(tp.partition, key[0], lead):  # queued behind the version it repeats
                    self.counts.repeats += 1
                else:
                    await self._send(client, key, tp, offset, delivery, lead, lane)
                self._backlog.settled(key, len(lane))
                lane.popleft()
                progress = self._progress.get(tp)
                if progress is not None:
                    progress.done(offset)
        finally:
            if self._lanes.get(key) is lane:  # not a lane started after this one was cancelled
                del self._lanes[key]
                self._tasks.pop(key, None)

    async def _send(
        self,
        client: httpx.AsyncClient,
        key: tuple[str, str],
        tp: TopicPartition,
        offset: int,
        delivery: Delivery,
        lead: Lead,
        lane: deque[Any],
    ) -> None:
        attempts, error = await deliver(
            client, delivery, self.policy, on_retry=lambda: self._backlog.retrying(key, len(lane))
        )
        if error is not None:  # kept before it counts as settled: the offset never passes a lost dead letter
            await asyncio.to_thread(self.store.add, delivery.failed(attempts, error))
        self._ledger.record(tp.partition, key[0], lead)
        await self._flush_state()  # settled: a restart, or another replica, does not send it again
        if error is None:
            self.counts.delivered += 1
        else:
            self.counts.dead_lettered += 1
            log.warning("webhook %s lead %s dead-lettered after %d attempts: %s", *key, attempts, error)
            await self._refresh_dead_letters(now=True)

    async def _flush_state(self) -> None:
        """Write what settled to the changelog; lanes settling meanwhile share the next flush."""
        async with self._flush_lock:
            await asyncio.to_thread(self.state.flush)

    async def _refresh_dead_letters(self, *, now: bool = False) -> None:
        """The dead-letter gauge: on a change (``now``), else every few seconds (any replica's, and
        ``jiandu webhooks redeliver``'s, changes are on the topic)."""
        if now or time.monotonic() - self._dead_letters_refreshed >= _DEAD_LETTER_REFRESH_SECONDS:
            self._dead_letters_refreshed = time.monotonic()
            await asyncio.to_thread(self._dead_letters.refresh)

    def _forget_revoked(self) -> None:
        """Partitions taken by a rebalance: their unfinished messages are the new owner's to deliver."""
        assigned = self._consumer.assignment()
        for tp in [tp for tp in self._progress if tp not in assigned]:
            del self._progress[tp]
            self.committed.pop(tp, None)
        for key, lane in list(self._lanes.items()):
            if lane and lane[0][0] not in assigned:
                self._tasks[key].cancel()  # its versions are the new owner's (what it sent is in the changelog)

    def _flow_control(self) -> None:
        """Stop fetching while too many messages wait for their deliveries (the group stays joined)."""
        outstanding = sum(p.outstanding for p in self._progress.values())
        assigned = list(self._consumer.assignment())
        if outstanding > self._max_outstanding:
            self._consumer.pause(*assigned)
        elif self._consumer.paused():
            self._consumer.resume(*assigned)

    async def _commit(self) -> None:
        offsets = {
            tp: OffsetAndMetadata(p.committable, "", -1)
            for tp, p in self._progress.items()
            if p.committable is not None and p.committable != self.committed.get(tp)
        }
        if not offsets:
            return
        await self._flush_state()
        try:
            await asyncio.to_thread(self._consumer.commit, offsets)
        except CommitFailedError as exc:  # a rebalance took the partitions: the new owner delivers again
            log.warning("webhook commit failed, deliveries will be repeated: %r", exc)
            return
        self.committed.update({tp: o.offset for tp, o in offsets.items()})

    async def _abandon_lanes(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        self._backlog.clear()
