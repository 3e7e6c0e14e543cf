"""The consuming side: alert routing, webhooks, the archive and the officers' console."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "AGENCY_DELAY",
    "AGENCY_LAST_ARRIVAL",
    "AGENCY_LEADS_REVERSED",
    "AGENCY_RECORDS",
    "ALERTS_ROUTED",
    "ARCHIVE_WRITES",
    "CONSOLE_DENIED",
    "CONSOLE_REQUESTS",
    "CONSOLE_REVEALS",
    "CONSOLE_SIGNINS",
    "WEBHOOK_ATTEMPT_SECONDS",
    "WEBHOOK_BACKLOG",
    "WEBHOOK_DEAD_LETTERS",
    "WEBHOOK_DELIVERIES",
]

ALERTS_ROUTED = Counter(
    "jiandu_alerts_routed_total",
    "Lead versions copied to alert topics, by kind of topic (department, severity). severity can exceed "
    "department: a lead that changed severity is copied to the topics of its current and earlier severities "
    "(one department copy, several severity copies).",
    ["kind"],
)
WEBHOOK_DELIVERIES = Counter(
    "jiandu_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, failed: will retry, dead_lettered: gave up).",
    ["subscription", "outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "jiandu_webhook_attempt_seconds",
    "Duration of one webhook HTTP request.",
    ["subscription"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WEBHOOK_BACKLOG = Gauge(
    "jiandu_webhook_backlog",
    "Lead versions waiting for delivery to a subscription (retrying or queued behind a retry).",
    ["subscription"],
)
WEBHOOK_DEAD_LETTERS = Gauge(
    "jiandu_webhook_dead_letters",
    "Deliveries given up after the last attempt, waiting for `jiandu webhooks redeliver`.",
    ["subscription"],
)
ARCHIVE_WRITES = Counter(
    "jiandu_archive_writes_total",
    "Rows the archiver stored, by kind (lead_version, action).",
    ["kind"],
)
CONSOLE_SIGNINS = Counter(
    "jiandu_console_signins_total",
    "Console sign-in attempts by result (ok, failed).",
    ["result"],
)
CONSOLE_DENIED = Counter(
    "jiandu_console_denied_total",
    "Console requests refused (403), by reason (scope: outside the officer's jurisdiction or departments; role; csrf).",
    ["reason"],
)
CONSOLE_REVEALS = Counter(
    "jiandu_console_reveals_total",
    "Identity reveals asked for in the console, by result (revealed; refused: scope, role, limited, unavailable).",
    ["result"],
)
AGENCY_RECORDS = Counter(
    "jiandu_agency_records_total",
    "Events the archiver counted for the data-quality scorecard, by source, type and result (accepted, duplicate).",
    ["source", "type", "result"],
)
AGENCY_DELAY = Histogram(
    "jiandu_agency_delay_seconds",
    "Per source: recording delay (recorded_at - occurred_at) and upload delay (arrival - recorded_at).",
    ["source", "stage"],
    buckets=(3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400),
)
AGENCY_LAST_ARRIVAL = Gauge(
    "jiandu_agency_last_arrival_timestamp_seconds",
    "When the last record (event or dead letter) of a source reached the hub; time() minus it: time silent.",
    ["source"],
)
AGENCY_LEADS_REVERSED = Counter(
    "jiandu_agency_leads_reversed_total",
    "Leads that became RESOLVED (closing evidence arrived late) or WITHDRAWN (premise disproved), by the source "
    "of the late record that did it (the lead's last evidence).",
    ["source", "status"],
)
CONSOLE_REQUESTS = Counter(
    "jiandu_console_requests_total",
    "Console HTTP requests by status class.",
    ["status_class"],
)
