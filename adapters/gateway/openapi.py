"""The OpenAPI 3.1 description of the push API, derived from the record catalogue (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from adapters.gateway.ratelimit import RateLimits
from jiandu.core.records import CATEGORIES, RECORD_TYPES
from producers.rules import RULES

__all__ = ["BATCH_PATH", "POLICY_RULES", "openapi_document"]

BATCH_PATH = "/api/v1/records:batch"
#: Rules of the gateway's own policy, besides the validation rules of :data:`producers.rules.RULES`.
POLICY_RULES = ("source_not_allowed", "type_not_allowed", "jurisdiction_not_allowed")

_REF = "#/components/schemas/"


def openapi_document(
    *, max_records: int, max_request_bytes: int, rates: RateLimits | None = None, version: str = "1.0.0"
) -> dict[str, Any]:
    """The whole document; limits are the configured ones so that clients can split and pace batches to fit."""
    rates = rates or RateLimits()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Jiandu Hub push API (监督数据共享中心 数据推送接口)",
            "version": version,
            "description": (
                "Partner agencies push canonical records (shared/spec/events.md). Every record is answered "
                "individually: accepted (published and confirmed by the broker), duplicate (its event_id was "
                "accepted before) or rejected (with the field and rule, and sent to the dead-letter topic). "
                f"At most {max_records} records and {max_request_bytes} bytes per request. {_rates_text(rates)}"
            ),
        },
        "paths": {BATCH_PATH: {"post": _batch_operation(max_request_bytes, rates)}, **_service_paths()},
        "components": {
            "securitySchemes": {
                "agencyToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The agency's token, `<agency id>.<secret>`, issued by the hub's operators.",
                }
            },
            "schemas": {
                "Record": _record_schema(),
                "BatchRequest": _batch_request(max_records),
                "RecordResult": _record_result(),
                "BatchResponse": _batch_response(),
                "Error": _error_schema(),
                "RateLimited": _rate_limited_schema(),
                "TooManyFailures": _too_many_failures_schema(),
            },
        },
    }


def _rates_text(rates: RateLimits) -> str:
    limits = [
        f"{rate:g} {what} per second (burst {burst})"
        for what, rate, burst in (
            ("requests", rates.requests_per_second, rates.requests_burst),
            ("records", rates.records_per_second, rates.records_burst),
        )
        if rate
    ]
    if not limits:
        return "No rate limit is configured."
    return (
        f"Each agency may send at most {' and '.join(limits)}; above that the answer is 429 with Retry-After "
        "(seconds): wait that long, then send the same request again."
    )


def _batch_operation(max_request_bytes: int, rates: RateLimits) -> dict[str, Any]:
    return {
        "operationId": "pushRecords",
        "summary": "Push a batch of canonical records",
        "security": [{"agencyToken": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"{_REF}BatchRequest"}}},
        },
        "responses": {
            "200": {
                "description": "Every record answered; accepted ones are on Kafka (broker-confirmed).",
                "content": {"application/json": {"schema": {"$ref": f"{_REF}BatchResponse"}}},
            },
            "400": _error(
                "The body is not strict JSON (no NaN or Infinity, no lone surrogates, at most 32 levels of "
                "nesting) or not an object with a `records` array; it is dead-lettered, nothing is accepted."
            ),
            "401": _error(
                "Missing, malformed or unknown bearer token; after repeated wrong tokens from one address, 429 "
                "with Retry-After before any token is checked."
            ),
            "413": _error(f"More than {max_request_bytes} bytes or more records than allowed: split the batch."),
            "415": _error("The body is not application/json."),
            "429": _rate_limited(rates),
            "503": _error(
                "The broker did not confirm the records in time: nothing counts as accepted; wait Retry-After "
                "seconds and send them again."
            ),
        },
    }


def _service_paths() -> dict[str, Any]:
    health = {"type": "object", "properties": {"status": {"const": "ok"}, "agencies": {"type": "integer"}}}
    return {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "responses": {"200": {"description": "Serving", "content": _json(health)}},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": _json({"type": "object"})}},
            }
        },
    }


def _record_schema() -> dict[str, Any]:
    categories = "|".join(CATEGORIES)
    return {
        "type": "object",
        "description": "A canonical record of events.md: the common fields below plus the fields of its type.",
        "required": ["type", "source", "source_record_id", "occurred_at", "jurisdiction"],
        "properties": {
            "type": {"type": "string", "enum": sorted(RECORD_TYPES), "description": "the record type"},
            "source": {
                "type": "string",
                "pattern": rf"^({categories}):\d{{6}}(:[^/\s]+)?$",
                "description": "producing agency unit, one the agency is allowed to submit",
            },
            "source_record_id": {"type": "string", "description": "the record's id in the source system"},
            "occurred_at": {"type": "string", "format": "date-time", "description": "ISO 8601, +08:00 if no offset"},
            "recorded_at": {"type": ["string", "null"], "format": "date-time"},
            "jurisdiction": {"type": "string", "pattern": r"^\d{6}$", "description": "6-digit division code"},
        },
        "additionalProperties": True,
    }


def _batch_request(max_records: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["records"],
        "properties": {"records": {"type": "array", "maxItems": max_records, "items": {"$ref": f"{_REF}Record"}}},
    }


def _record_result() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["index", "event_id", "status"],
        "properties": {
            "index": {"type": "integer", "description": "position of the record in the request"},
            "event_id": {"type": ["string", "null"], "description": "<source>/<type>/<source_record_id>"},
            "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected"]},
            "field": {"type": ["string", "null"], "description": "the field that failed, e.g. suspects[0].id_number"},
            "rule": {"type": "string", "enum": [*RULES, *POLICY_RULES], "description": "the rule it broke"},
            "message": {"type": "string", "description": "what is wrong, for people (never a raw ID number)"},
        },
    }


def _batch_response() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "required": ["request_id", "results", "accepted", "duplicate", "rejected"],
        "properties": {
            "request_id": {"type": "string", "description": "quote it when asking about this request"},
            "results": {"type": "array", "items": {"$ref": f"{_REF}RecordResult"}},
            "accepted": count,
            "duplicate": count,
            "rejected": count,
        },
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    }


def _rate_limited_schema() -> dict[str, Any]:
    return {
        "allOf": [{"$ref": f"{_REF}Error"}],
        "type": "object",
        "required": ["error", "message", "limit", "retry_after_seconds"],
        "properties": {
            "error": {"const": "rate_limited"},
            "limit": {"type": "string", "enum": ["requests", "records"], "description": "the limit exceeded"},
            "retry_after_seconds": {"type": "integer", "minimum": 1, "description": "as the Retry-After header"},
        },
    }


def _too_many_failures_schema() -> dict[str, Any]:
    return {
        "allOf": [{"$ref": f"{_REF}Error"}],
        "type": "object",
        "required": ["error", "message", "retry_after_seconds"],
        "properties": {
            "error": {"const": "too_many_failures"},
            "retry_after_seconds": {"type": "integer", "minimum": 1, "description": "as the Retry-After header"},
        },
    }


def _rate_limited(rates: RateLimits) -> dict[str, Any]:
    return {
        "description": (
            f"The agency is over its rate limit (`rate_limited`), or its address sent too many wrong tokens "
            f"(`too_many_failures`); nothing of the request was accepted. {_rates_text(rates)}"
        ),
        "headers": {
            "Retry-After": {
                "description": "Whole seconds to wait before sending the request again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": _json({"oneOf": [{"$ref": f"{_REF}RateLimited"}, {"$ref": f"{_REF}TooManyFailures"}]}),
    }


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json({"$ref": f"{_REF}Error"})}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
