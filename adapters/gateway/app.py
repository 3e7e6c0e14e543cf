"""The push API over HTTP (Starlette): authenticate, limit, parse, then hand the records to :class:`PushIntake`.

Status codes: 200 when every record was answered (whatever each answer is — a
foreign source or a bad ID number is a per-record ``rejected``, so one bad record
never costs an agency the rest of its batch); 401 for a missing or wrong token;
413 beyond the byte or record limit; 415 for a body that is not JSON; 400 for
JSON that is not ``{"records": [...]}``; 429 with ``Retry-After`` when the agency
is over its rate limit (``ratelimit.py``; nothing of the request was looked at);
503 with ``Retry-After`` when the broker did not confirm or the accepted ids could
not be recorded (nothing of the request counts as accepted, and re-sending is safe).

Each push request is counted by agency (``unknown`` until a token is recognised)
and status class, and timed (a 429 also by the limit it hit, in
``jiandu_gateway_throttled_total``); /healthz and /openapi.json are not. The hub's
/metrics is served on the gateway's metrics port, never on this agency-facing one.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.gateway.batch import PushIntake
from adapters.gateway.credentials import Agency, AgencyRegistry
from adapters.gateway.openapi import BATCH_PATH, openapi_document
from adapters.gateway.ratelimit import AgencyThrottle, RateLimits, Throttled
from jiandu.core.jsoninput import JsonInputError, parse_json
from jiandu.errors import BrokerError, DeliveryError
from jiandu.observability.labels import status_class
from jiandu.observability.metrics.adapters import GATEWAY_REQUEST_SECONDS, GATEWAY_REQUESTS, GATEWAY_THROTTLED
from jiandu.security import FailureThrottle, SecurityHeaders

__all__ = ["API_HEADERS", "UNKNOWN_AGENCY", "Limits", "auth_failures", "create_app", "declare_requests"]

#: The security headers of every answer of the push API (JSON only: nothing may load or frame it).
API_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def auth_failures() -> FailureThrottle:
    """Wrong tokens from one address: 10 free, then waits doubling from 1 s to 60 s; after 50, 15 minutes out."""
    return FailureThrottle(free_failures=10, max_seconds=60.0, lockout_failures=50, lockout_seconds=900.0)


#: The agency label of a request whose token was missing or not recognised.
UNKNOWN_AGENCY = "unknown"

_log = logging.getLogger("jiandu.gateway")
_JSON_TYPES = ("application/json", "text/json")


@dataclass(frozen=True, slots=True)
class Limits:
    """Request size limits (JIANDU_GATEWAY_MAX_REQUEST_BYTES, JIANDU_GATEWAY_MAX_RECORDS)."""

    max_request_bytes: int
    max_records: int


class _Refused(Exception):
    """A request answered with an error status before any record was looked at."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.body = body  # a malformed body: dead-lettered (sealed) once the agency is known
        self.response = JSONResponse({"error": error, "message": message, **extra}, status, headers=headers)


def create_app(
    push: PushIntake,
    agencies: AgencyRegistry,
    limits: Limits,
    throttle: AgencyThrottle | None = None,
    failures: FailureThrottle | None = None,
) -> Starlette:
    """The ASGI application: the batch endpoint, /openapi.json and /healthz.

    ``throttle``: the per-agency rate limits (None: no limit); ``failures``: the backoff and lockout of
    a client address after wrong tokens (None: :func:`auth_failures`).
    """
    throttle = throttle or AgencyThrottle(RateLimits())
    declare_requests(agencies)
    failures = failures or auth_failures()
    document = openapi_document(
        max_records=limits.max_records, max_request_bytes=limits.max_request_bytes, rates=throttle.limits
    )

    async def push_records(request: Request) -> Response:
        started, status = time.perf_counter(), 500  # 500 unless answered: an unexpected error
        request.state.agency = UNKNOWN_AGENCY
        try:
            response = await answer(request)
            status = response.status_code
            return response
        finally:
            GATEWAY_REQUESTS.labels(request.state.agency, status_class(status)).inc()
            GATEWAY_REQUEST_SECONDS.observe(time.perf_counter() - started)

    async def answer(request: Request) -> Response:
        request_id = uuid.uuid4().hex[:16]
        try:
            agency = await _authenticate(request, agencies, failures)
            request.state.agency = agency.id
            _admit(agency.id, throttle.admit_request(agency.id))
            records = await _records(request, limits)
            _admit(agency.id, throttle.admit_records(agency.id, len(records)))
        except _Refused as refused:
            if refused.body is not None and request.state.agency != UNKNOWN_AGENCY:
                await run_in_threadpool(push.dead_letter_body, agency, refused.body, refused.message, request_id)
            return refused.response
        try:
            result = await run_in_threadpool(push.submit_batch, agency, records, request_id)
        except (DeliveryError, BrokerError) as exc:
            _log.error("request %s of %s: not confirmed: %s", request_id, agency.id, exc)
            message = f"the records were not confirmed ({exc}); nothing was accepted, send them again"
            retry = str(push.retry_after)
            return JSONResponse({"error": "broker_unavailable", "message": message}, 503, {"Retry-After": retry})
        body = result.to_json()
        _log.info(
            "request %s of %s: %d accepted, %d duplicate, %d rejected",
            request_id, agency.id, body["accepted"], body["duplicate"], body["rejected"],
        )  # fmt: skip
        return JSONResponse(body, headers={"X-Request-Id": request_id})

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "agencies": len(agencies)})

    routes = [
        Route(BATCH_PATH, push_records, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, headers=API_HEADERS)],
        exception_handlers={Exception: _internal_error},
    )
    app.state.agencies = agencies  # what the process's readiness checks look at
    return app


def declare_requests(agencies: AgencyRegistry) -> None:
    """Export every agency's request counts at 0: a series that first appears holding a count hides that
    count from rate() and increase(). An unknown agency only ever gets 4xx."""
    for agency_id in agencies.ids:
        for status in ("2xx", "4xx", "5xx"):
            GATEWAY_REQUESTS.labels(agency_id, status)
    GATEWAY_REQUESTS.labels(UNKNOWN_AGENCY, "4xx")


async def _authenticate(request: Request, agencies: AgencyRegistry, failures: FailureThrottle) -> Agency:
    """The agency of the request's bearer token. A token seen before is a lookup; a client that sent wrong
    tokens waits (429) before its next one is even hashed, so a flood cannot slow the others down."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    agency = agencies.remembered(token) if token else None
    if agency is not None:
        return agency
    client = request.client.host if request.client else "unknown"
    verdict = failures.check(client)
    if verdict is not None:
        GATEWAY_THROTTLED.labels(UNKNOWN_AGENCY, "auth_failures").inc()
        raise _Refused(
            429,
            "too_many_failures",
            f"too many wrong credentials from this address; wait {verdict.retry_after} s (Retry-After)",
            headers={"Retry-After": str(verdict.retry_after)},
            retry_after_seconds=verdict.retry_after,
        )
    if token:
        agency = await run_in_threadpool(agencies.authenticate, token)  # an old scrypt hash: keep the loop free
    if agency is None:
        verdict = failures.failed(client)
        _log.warning(
            "refused a push from %s: missing or wrong bearer token%s",
            client,
            f" (locked out for {verdict.retry_after} s)" if verdict and verdict.locked else "",
        )
        raise _Refused(
            401,
            "unauthorized",
            "missing or wrong credentials: send `Authorization: Bearer <agency token>`",
            headers={"WWW-Authenticate": 'Bearer realm="jiandu"'},
        )
    failures.succeeded(client)
    return agency


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A defect: logged, answered as JSON with the headers of every answer, nothing of the request accepted."""
    _log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    message = "an unexpected error of the hub; nothing of this request was accepted: send it again later"
    return JSONResponse({"error": "internal_error", "message": message}, 500, headers=dict(API_HEADERS))


def _admit(agency_id: str, throttled: Throttled | None) -> None:
    """Raise the 429 of a request over the agency's rate limit."""
    if throttled is None:
        return
    GATEWAY_THROTTLED.labels(agency_id, throttled.limit).inc()
    _log.warning(
        "throttled a push of %s: over its %s limit; Retry-After %d s", agency_id, throttled.limit, throttled.retry_after
    )
    raise _Refused(
        429,
        "rate_limited",
        throttled.message,
        headers={"Retry-After": str(throttled.retry_after)},
        limit=throttled.limit,
        retry_after_seconds=throttled.retry_after,
    )


async def _records(request: Request, limits: Limits) -> list[Any]:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise _Refused(415, "unsupported_media_type", f"send application/json, not {content_type}")
    body = await _body(request, limits.max_request_bytes)
    try:
        document = parse_json(body)
    except JsonInputError as exc:
        raise _Refused(400, "invalid_json", f"the body is not strict UTF-8 JSON: {exc}", body=body) from None
    records = document.get("records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        message = 'the body must be a JSON object {"records": [ ... ]}'
        raise _Refused(400, "invalid_request", message, body=body)
    if len(records) > limits.max_records:
        raise _Refused(
            413,
            "too_many_records",
            f"{len(records)} records in one request; at most {limits.max_records} are allowed: split the batch",
        )
    return records


async def _body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes (the declared length is checked first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(413, "request_too_large", _too_large(f"{int(declared)} bytes", limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, "request_too_large", _too_large(f"more than {limit} bytes", limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, limit: int) -> str:
    return f"the request body has {what}; at most {limit} bytes are allowed: split the batch"
