"""The streams workers: routing, evaluation, the hub clock, deadlines, state and leads."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONSUMER_LAG",
    "DEAD_LETTER_MESSAGES",
    "EVENTS_PROCESSED",
    "FACTS_APPLIED",
    "FACTS_MESSAGES_APPLIED",
    "HUB_CLOCK",
    "HUB_CLOCK_BEHIND",
    "LEADS",
    "LEAD_LATENCY",
    "PENDING_DEADLINES",
    "PENDING_DEADLINES_OVERDUE",
    "PROCESSING_SECONDS",
    "STATE_BYTES",
    "STATE_ENTITIES",
]

EVENTS_PROCESSED = Counter(
    "jiandu_stream_events_processed_total",
    "Events the router read, by record type.",
    ["type"],
)
FACTS_APPLIED = Counter(
    "jiandu_stream_facts_applied_total",
    "Facts the evaluator added to entity states.",
)
FACTS_MESSAGES_APPLIED = Counter(
    "jiandu_stream_facts_messages_applied_total",
    "Facts messages the evaluator applied: handed over by this worker's router once the broker confirmed "
    "them (no fetch to wait for), or fetched from the facts topic.",
    ["via"],
)
PROCESSING_SECONDS = Histogram(
    "jiandu_stream_processing_seconds",
    "Time to process one batch: route (a fetched batch of events) or evaluate (one facts message).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "jiandu_consumer_lag_messages",
    "Messages between a consumer's position and the partition's end.",
    ["group", "topic", "partition"],
)
HUB_CLOCK = Gauge(
    "jiandu_hub_clock_timestamp_seconds",
    "The hub clock of a facts partition owned by this worker (Unix time).",
    ["partition"],
)
HUB_CLOCK_BEHIND = Gauge(
    "jiandu_hub_clock_behind_seconds",
    "How far a partition's hub clock trails wall-clock time (live: about JIANDU_CLOCK_GRACE_SECONDS).",
    ["partition"],
)
PENDING_DEADLINES = Gauge(
    "jiandu_pending_deadlines",
    "Entities with a deadline a model is waiting for.",
    ["model"],
)
PENDING_DEADLINES_OVERDUE = Gauge(
    "jiandu_pending_deadlines_overdue",
    "Pending deadlines that wall-clock time minus the grace has passed but the hub clock has not fired.",
    ["model"],
)
STATE_ENTITIES = Gauge("jiandu_state_entities", "Keys of the entity state store (RocksDB estimate).")
STATE_BYTES = Gauge("jiandu_state_bytes", "Size of the entity state store (RocksDB estimate, memtables included).")
LEADS = Counter(
    "jiandu_leads_total",
    "Lead versions published, by the status they moved to (OPEN: raised; RESOLVED; WITHDRAWN).",
    ["model", "severity", "jurisdiction", "status"],
)
LEAD_LATENCY = Histogram(
    "jiandu_lead_latency_seconds",
    "From the ingestion of the record that raised a lead to the lead's publication.",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
DEAD_LETTER_MESSAGES = Gauge(
    "jiandu_dead_letter_messages",
    "Messages on the dead-letter topic (its end offsets; the topic is kept, never compacted).",
)
