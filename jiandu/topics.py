"""The topic catalogue: every topic the hub uses, declared once.

Topics are created idempotently at start-up from this catalogue, before anything
produces (the embedded broker acknowledges and loses messages sent to a missing
topic; see notes/tansu.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jiandu.core.records import RECORD_TYPES

__all__ = ["ADAPTER_LEASE_PARTITIONS", "DEPARTMENT_SLUGS", "SEVERITIES", "TopicCatalogue", "TopicSpec"]

#: The ASCII name of each department's alert topic (``<prefix>.alerts.dept.<slug>``), models.md's departments.
DEPARTMENT_SLUGS = {
    "侦查监督": "investigation",
    "刑事执行检察": "execution",
    "民事检察": "civil",
    "行政检察": "administrative",
    "公益诉讼": "public-interest",
    "案件管理": "case-management",
}
#: Lead severities, each with its alert topic (``<prefix>.alerts.severity.<high|medium|low>``).
SEVERITIES = ("HIGH", "MEDIUM", "LOW")

#: Partitions of the adapter checkpoint topic, which are also the adapters' leases: a REST source or drop
#: folder belongs to the partition its name hashes to, and so to the replica the group assigned it.
#: Fixed, not JIANDU_PARTITIONS: changing it would move every source to another lease at once.
ADAPTER_LEASE_PARTITIONS = 16

_COMPACT = {"cleanup.policy": "compact"}
_KEEP_FOREVER = {"retention.ms": "-1"}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: name, partition count and topic configs."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True, slots=True)
class TopicCatalogue:
    """All topic names for one deployment (a prefix) and their specs."""

    prefix: str
    partitions: int

    def event_topic(self, record_type: str) -> str:
        """``<prefix>.events.<type>``: one topic per event type, keyed by the event's person."""
        return f"{self.prefix}.events.{record_type}"

    @property
    def dead_letters(self) -> str:
        """Records that could not become events, with reason, source and sealed original bytes."""
        return f"{self.prefix}.deadletter"

    @property
    def leads(self) -> str:
        """Every version of every lead, keyed by ``lead_id`` (compacted: the last version wins)."""
        return f"{self.prefix}.leads"

    def department_alerts(self, department: str) -> str:
        """``<prefix>.alerts.dept.<slug>``: the lead versions of one department (KeyError if unknown)."""
        return f"{self.prefix}.alerts.dept.{DEPARTMENT_SLUGS[department]}"

    def severity_alerts(self, severity: str) -> str:
        """``<prefix>.alerts.severity.<high|medium|low>``: the lead versions of one severity."""
        if severity not in SEVERITIES:
            raise KeyError(severity)
        return f"{self.prefix}.alerts.severity.{severity.lower()}"

    def alert_topics(self) -> list[str]:
        """Every alert topic: one per department, then one per severity."""
        return [self.department_alerts(d) for d in DEPARTMENT_SLUGS] + [self.severity_alerts(s) for s in SEVERITIES]

    @property
    def outcomes(self) -> str:
        """Officers' actions on leads (acknowledge, assign, outcome, close), keyed by ``lead_id``, kept forever."""
        return f"{self.prefix}.outcomes"

    @property
    def identities(self) -> str:
        """ID numbers sealed for the console's reveal service, keyed by ``person_key`` (compacted).

        Only the reveal service's private key opens them; nothing else on Kafka carries a number."""
        return f"{self.prefix}.identities"

    @property
    def facts(self) -> str:
        """Internal: events re-keyed by the entity whose state they change (person, case, party)."""
        return f"{self.prefix}.internal.facts"

    @property
    def progress(self) -> str:
        """Internal: per-partition hub clock reports of the streams workers."""
        return f"{self.prefix}.internal.progress"

    @property
    def alerts_state(self) -> str:
        """Internal: what the alert router remembers per lead (versions routed, severities), partition-aligned
        with the lead topic, keyed by group and ``lead_id`` (compacted)."""
        return f"{self.prefix}.consumers.alerts-state"

    @property
    def webhooks_state(self) -> str:
        """Internal: the versions each webhook subscription was sent, per lead, partition-aligned with the lead
        topic, keyed by group and ``lead_id`` (compacted)."""
        return f"{self.prefix}.consumers.webhooks-state"

    @property
    def webhook_dead_letters(self) -> str:
        """Webhook deliveries that failed every attempt, keyed by group, subscription, lead and version
        (compacted; a tombstone once re-delivered)."""
        return f"{self.prefix}.consumers.webhook-dead-letters"

    def consumer_state_topics(self) -> list[str]:
        """The consumers' state topics: the last value of each key is all that matters (journal compaction)."""
        return [self.alerts_state, self.webhooks_state, self.webhook_dead_letters]

    @property
    def adapter_checkpoints(self) -> str:
        """Internal: where each REST source and drop folder stands, keyed by it (compacted: the last one wins).

        Its partitions are the adapters' leases (:func:`adapter_group`): a replica works the sources of the
        partitions its group assigned it."""
        return f"{self.prefix}.internal.adapter-checkpoints"

    def adapter_group(self, kind: str) -> str:
        """``<prefix>-adapters-<kind>``: the consumer group whose members share one kind of adapter's sources."""
        return f"{self.prefix}-adapters-{kind}"

    @property
    def streams_app_id(self) -> str:
        """Faust application id (consumer group and the prefix of Faust's own topics)."""
        return f"{self.prefix}-streams"

    @property
    def state_changelog(self) -> str:
        """Changelog of the workers' entity-state table (Faust names it after the app and table)."""
        return f"{self.streams_app_id}-entity_state-changelog"

    @property
    def assignor_topic(self) -> str:
        """Faust's partition-assignor leader topic."""
        return f"{self.streams_app_id}-__assignor-__leader"

    def event_topics(self) -> list[str]:
        """The event topic of every record type, in catalogue order."""
        return [self.event_topic(t) for t in RECORD_TYPES]

    def specs(self) -> list[TopicSpec]:
        """Every topic to create, with partitions and configs."""
        n = self.partitions
        events = [TopicSpec(self.event_topic(t), n, dict(_KEEP_FOREVER), f"events of type {t}") for t in RECORD_TYPES]
        return [
            *events,
            TopicSpec(self.dead_letters, n, dict(_KEEP_FOREVER), "dead letters"),
            TopicSpec(self.leads, n, dict(_COMPACT), "lead versions, keyed by lead_id"),
            *(TopicSpec(t, n, dict(_COMPACT), "lead versions routed by `jiandu alerts`") for t in self.alert_topics()),
            TopicSpec(self.outcomes, n, dict(_KEEP_FOREVER), "officers' actions on leads, keyed by lead_id"),
            TopicSpec(self.identities, n, dict(_COMPACT), "sealed ID numbers, keyed by person_key"),
            TopicSpec(self.facts, n, {}, "events re-keyed by entity"),
            TopicSpec(self.progress, 1, {}, "worker clock reports"),
            TopicSpec(self.alerts_state, n, dict(_COMPACT), "alert router state per lead"),
            TopicSpec(self.webhooks_state, n, dict(_COMPACT), "webhook deliverer state per lead"),
            TopicSpec(self.webhook_dead_letters, 1, dict(_COMPACT), "webhook dead letters"),
            TopicSpec(
                self.adapter_checkpoints, ADAPTER_LEASE_PARTITIONS, dict(_COMPACT), "adapter checkpoints and leases"
            ),
            TopicSpec(self.state_changelog, n, dict(_COMPACT), "entity state changelog"),
            TopicSpec(self.assignor_topic, 1, {}, "Faust assignor"),
        ]
