"""Health of the adapters: the file drop, the REST poller and the push gateway."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from jiandu.observability.timestamps import TimestampGauge

__all__ = [
    "ADAPTER_CHECKPOINT",
    "ADAPTER_LAST_SUCCESS",
    "ADAPTER_RETRIES",
    "AGENCY_API_RESPONSES",
    "FILES_PROCESSED",
    "GATEWAY_REQUESTS",
    "GATEWAY_REQUEST_SECONDS",
    "GATEWAY_THROTTLED",
]

ADAPTER_LAST_SUCCESS = TimestampGauge(
    "jiandu_adapter_last_success",
    "When a source last delivered successfully (a page pulled, a file processed, a push accepted)",
    ["adapter", "source"],
)
ADAPTER_CHECKPOINT = TimestampGauge(
    "jiandu_adapter_checkpoint",
    "When a source's checkpoint last advanced (written after the broker confirmed the records before it)",
    ["adapter", "source"],
)
ADAPTER_RETRIES = Counter(
    "jiandu_adapter_retries_total",
    "Requests or files an adapter tried again after a failure.",
    ["adapter", "source"],
)
AGENCY_API_RESPONSES = Counter(
    "jiandu_agency_api_responses_total",
    "Answers of agency REST APIs by status class (error: no answer, e.g. a timeout).",
    ["source", "status_class"],
)
FILES_PROCESSED = Counter(
    "jiandu_files_processed_total",
    "Export files the file drop finished (done) or could not read (failed).",
    ["source", "outcome"],
)
GATEWAY_REQUESTS = Counter(
    "jiandu_gateway_requests_total",
    "Push API requests by agency and status class (agency unknown: the token was not recognised).",
    ["agency", "status_class"],
)
GATEWAY_REQUEST_SECONDS = Histogram(
    "jiandu_gateway_request_seconds",
    "Time to answer a push API request, including the broker's confirmation.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
GATEWAY_THROTTLED = Counter(
    "jiandu_gateway_throttled_total",
    "Push API requests answered 429 by an agency's rate limit, by agency and limit (requests or records).",
    ["agency", "limit"],
)
