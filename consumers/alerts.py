"""Route every lead version to its department's and its severity's alert topic (``jiandu alerts``).

A downstream team subscribes to ``<prefix>.alerts.dept.execution`` or
``<prefix>.alerts.severity.high`` instead of filtering the whole lead topic.
The router copies the message as it is: same key (``lead_id``), same value
bytes (Avro single-object encoding), so the versions of one lead stay in order
(one key, one partition) and a consumer decodes them exactly like the lead
topic. Offsets on the lead topic are committed only after the broker confirmed
every copy (acks=all): a crash re-routes versions, it never skips one; a lead
version is idempotent by ``(lead_id, updated_at)``.

A lead that changes severity (an escalation) is also copied, from then on, to the
topics of the severities it had before: a severity topic holds every version of every
lead that was ever of that severity, so its subscribers see the escalation and the
lead's end. (M01: MEDIUM, then HIGH when an administrative penalty replaced prosecution;
without this the MEDIUM topic would keep the lead's last MEDIUM version, OPEN, for ever.)

A version that is no news (``consumers.lead_versions``: re-emitted by a worker that
reprocessed its events, equal but for wall-clock fields) is not routed.

What the router remembers per lead (severities routed, versions seen) is in
``<prefix>.consumers.alerts-state`` (:mod:`consumers._changelog`), partition-aligned with
the lead topic and written before the offsets are committed, so the replicas of one
group (``jiandu alerts`` on several hosts) hand partitions over with their memory.

Each copy the broker confirmed counts in ``jiandu_alerts_routed_total{kind}``
(``department`` or ``severity``; severity counts more than department when leads
changed severity, one copy per severity topic); :attr:`AlertRouter.membership` tells a readiness
probe whether the router has joined its group.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from consumers._group import GroupMembership, GroupOptions, group_consumer
from consumers.lead_versions import LeadLedger
from jiandu.broker import Outgoing, send_confirmed
from jiandu.core.leads import Lead
from jiandu.errors import BrokerError, DeliveryError, SchemaError
from jiandu.journal import JournalWriter
from jiandu.observability.metrics.consumers import ALERTS_ROUTED
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue

__all__ = ["AlertRouter", "alert_group"]

log = logging.getLogger(__name__)
_BATCH = 5000
_KINDS = ("department", "severity")
# exported at 0 as soon as the module is imported, before the metrics endpoint opens: a series that
# appears already holding a count hides that count from rate() and increase()
_ROUTED = {kind: ALERTS_ROUTED.labels(kind) for kind in _KINDS}


def alert_group(catalogue: TopicCatalogue) -> str:
    """The router's consumer group on the lead topic."""
    return f"{catalogue.prefix}-alerts"


class AlertRouter:
    """Consumes ``<prefix>.leads`` in a group and copies each version to its alert topics."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        catalogue: TopicCatalogue,
        *,
        group: str | None = None,
        options: GroupOptions | None = None,
        membership: GroupMembership | None = None,
        journal: JournalWriter | None = None,
    ) -> None:
        """``journal``: where the state's writes are also kept (the embedded broker forgets them on a restart)."""
        self.catalogue = catalogue
        self.group = group or alert_group(catalogue)
        self.routed = 0
        self.membership = membership or GroupMembership(self.group)
        options = options or GroupOptions()
        self._codec = AvroCodec()
        self._ledger = LeadLedger.on_changelog(
            client_config,
            catalogue.alerts_state,
            catalogue.leads,
            self.group,
            journal=journal,
            fetch_max_wait_ms=options.fetch_max_wait_ms,
        )
        self.state = self._ledger.state
        self.repeats = 0  # versions not routed: no news
        self._routed = _ROUTED
        try:
            self._producer = KafkaProducer(
                **client_config, acks="all", enable_idempotence=True, linger_ms=5, retries=2_147_483_647
            )
        except KafkaError as exc:
            self.state.close()
            raise BrokerError(f"cannot connect the alert router's producer: {exc}") from exc
        self._consumer = group_consumer(
            client_config, catalogue.leads, self.group, options, self.membership, self.state
        )

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Route until ``should_stop()``; each batch is committed once its copies are confirmed."""
        while not should_stop():
            self.route_batch()

    def route_batch(self, timeout_ms: int = 500) -> int:
        """Poll once, copy what arrived, wait for the broker, commit; returns the versions routed."""
        batch = self._consumer.poll(timeout_ms=timeout_ms, max_records=_BATCH)
        self.state.restore()
        copies_out: list[Outgoing] = []
        copies: Counter[str] = Counter()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, records in batch.items():
            for record in records:
                for kind, topic in self._targets(record):
                    copies_out.append(Outgoing(topic, record.key, record.value))
                    copies[kind] += 1
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if not offsets:
            return 0
        try:
            send_confirmed(
                self._producer,
                copies_out,
                timeout=120,
                unconfirmed="nothing was committed: restart `jiandu alerts` to route the batch again",
            )
        except DeliveryError:
            self.state.discard()
            raise
        self.state.flush()  # what was routed is remembered before the offsets move past it
        for kind, n in copies.items():
            self._routed[kind].inc(n)
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as exc:  # a rebalance took the partitions: their versions are routed again
            log.warning("alert router commit failed, versions will be routed again: %r", exc)
        routed = sum(len(records) for records in batch.values())
        self.routed += routed
        return routed

    def _targets(self, record: Any) -> list[tuple[str, str]]:
        """(kind, alert topic) of one lead-topic message (none for a tombstone or an unreadable message)."""
        where = f'topic "{record.topic}" partition {record.partition} offset {record.offset}'
        if record.value is None:
            return []  # a tombstone names no department: nothing to route
        try:
            _, lead = self._codec.decode(record.value)
        except SchemaError as exc:
            log.error("%s: not routed, cannot decode the lead: %s", where, exc)
            return []
        try:
            version = Lead.from_avro(lead)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("%s: not routed, not a lead version: %r", where, exc)
            return []
        if self._ledger.is_repeat(record.partition, "", version):
            self.repeats += 1
            return []  # re-emitted by reprocessing: routed before
        self._ledger.record(record.partition, "", version)
        topics: list[tuple[str, str]] = []
        routes: tuple[tuple[str, str, Callable[[str], str]], ...] = (
            ("department", str(lead.get("department")), self.catalogue.department_alerts),
            ("severity", str(lead.get("severity")), self.catalogue.severity_alerts),
        )
        for kind, value, topic_of in routes:
            try:
                topics.append((kind, topic_of(value)))
            except KeyError:
                log.warning("%s: lead %s has %s %r, which has no alert topic", where, lead.get("lead_id"), kind, value)
        if any(kind == "severity" for kind, _ in topics):  # the topics of its earlier severities get the version too
            earlier = self._ledger.earlier_severities(record.partition, version.lead_id, version.severity)
            topics.extend(("severity", self.catalogue.severity_alerts(s)) for s in earlier)
        return topics

    def close(self) -> None:
        """Leave the group and close the clients."""
        try:
            self._producer.close(timeout=10)
        finally:
            self._consumer.close()
            self.state.close()

    def __enter__(self) -> AlertRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
