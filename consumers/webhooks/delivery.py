"""One webhook delivery: a lead version's JSON, signed, POSTed with bounded exponential backoff.

A receiver that answers 429 (too many requests) or 503 (unavailable) with ``Retry-After``
(seconds or an HTTP date) gets the next attempt of that delivery no sooner than it asked, instead
of after the exponential backoff, up to :attr:`RetryPolicy.retry_after_max_seconds` (five times
``JIANDU_WEBHOOK_BACKOFF_MAX_SECONDS``: 5 minutes by default). The cap keeps one receiver's header
from holding a lead's later versions, and the lead topic's offsets, for hours: a longer outage
ends, as any other, in the dead letters after ``JIANDU_WEBHOOK_MAX_ATTEMPTS``, for
``jiandu webhooks redeliver``. A ``Retry-After`` of 0, in the past or unreadable is ignored (backoff).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from consumers.webhooks.metrics import outcome_of, record_attempt
from consumers.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from consumers.webhooks.store import FailedDelivery, FailedDeliveryStore
from consumers.webhooks.subscriptions import Subscription
from jiandu.core.leads import Lead
from jiandu.core.timeutil import utc_now_ms

__all__ = [
    "RETRY_AFTER_STATUSES",
    "AttemptResult",
    "Delivery",
    "RedeliveryReport",
    "RetryPolicy",
    "attempt",
    "deliver",
    "redeliver",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

#: Answers whose ``Retry-After`` the deliverer honours.
RETRY_AFTER_STATUSES = frozenset({429, 503})
_RETRY_AFTER_CAP_FACTOR = 5


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one delivery is tried before it is dead-lettered."""

    max_attempts: int = 8
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0

    @property
    def retry_after_max_seconds(self) -> float:
        """The longest ``Retry-After`` honoured: five times the longest backoff."""
        return _RETRY_AFTER_CAP_FACTOR * self.backoff_max_seconds

    def wait_after(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): what the receiver asked for
        (``retry_after`` seconds, capped), else the backoff, doubling from ``backoff_seconds``, capped."""
        if retry_after is not None and retry_after > 0:
            return float(min(retry_after, self.retry_after_max_seconds))
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.backoff_max_seconds))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One lead version for one subscription. Its id is the same on every attempt and re-delivery."""

    subscription: Subscription
    lead_id: str
    version: int
    body: bytes = field(repr=False)

    @classmethod
    def of(cls, subscription: Subscription, lead: Lead) -> Delivery:
        """The delivery of ``lead`` (its JSON form, ``Lead.to_json()``) to ``subscription``."""
        body = json.dumps(lead.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        return cls(subscription, lead.lead_id, lead.updated_at, body)

    @property
    def delivery_id(self) -> str:
        """Deterministic: a receiver can drop a delivery it has already processed.

        The body is part of it: a worker moving its clock through a batch can publish two versions of a
        lead in one millisecond, and the second must not pass for the first (settled, not sent).
        """
        body = hashlib.sha256(self.body).hexdigest()
        text = f"{self.subscription.id}\x1f{self.lead_id}\x1f{self.version}\x1f{body}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def failed(self, attempts: int, error: str) -> FailedDelivery:
        """The dead letter of this delivery."""
        return FailedDelivery(
            self.subscription.id, self.lead_id, self.version, self.delivery_id, self.body, attempts, error, utc_now_ms()
        )


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one POST went: ``error`` None on a 2xx answer, else what went wrong (never the secret);
    ``retry_after`` the seconds a 429 or 503 answer asked to wait, if it said."""

    error: str | None
    retry_after: float | None = None


async def attempt(client: httpx.AsyncClient, delivery: Delivery) -> AttemptResult:
    """POST once."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        DELIVERY_HEADER: delivery.delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(delivery.subscription.secret, timestamp, delivery.body),
    }
    try:
        response = await client.post(delivery.subscription.url, content=delivery.body, headers=headers)
    except httpx.HTTPError as exc:
        return AttemptResult(f"{type(exc).__name__}: {exc}")
    if response.is_success:
        return AttemptResult(None)
    asked = response.headers.get("Retry-After") if response.status_code in RETRY_AFTER_STATUSES else None
    return AttemptResult(f"HTTP {response.status_code}", retry_after_seconds(asked))


async def deliver(
    client: httpx.AsyncClient,
    delivery: Delivery,
    policy: RetryPolicy,
    on_retry: Callable[[], None] | None = None,
) -> tuple[int, str | None]:
    """Try until success or ``policy.max_attempts``; (attempts made, last error or None).

    Each attempt is counted by outcome and timed (``jiandu_webhook_deliveries_total``,
    ``jiandu_webhook_attempt_seconds``); ``on_retry`` is called after each failed attempt
    that another will follow.
    """
    error: str | None = None
    for number in range(1, policy.max_attempts + 1):
        result = await _counted_attempt(client, delivery, last=number == policy.max_attempts)
        error = result.error
        if error is None:
            return number, None
        if number < policy.max_attempts:
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(_wait_before_retry(delivery, policy, number, result))
    return policy.max_attempts, error


async def _counted_attempt(client: httpx.AsyncClient, delivery: Delivery, *, last: bool) -> AttemptResult:
    """One attempt, counted by outcome and timed."""
    started = time.perf_counter()
    result = await attempt(client, delivery)
    record_attempt(delivery.subscription.id, time.perf_counter() - started, outcome_of(result.error, last))
    return result


def _wait_before_retry(delivery: Delivery, policy: RetryPolicy, number: int, result: AttemptResult) -> float:
    """Seconds until the next attempt after failed attempt ``number`` (logged)."""
    wait = policy.wait_after(number, result.retry_after)
    log.info(
        "webhook %s lead %s attempt %d failed: %s; next attempt in %.2f s%s",
        delivery.subscription.id,
        delivery.lead_id,
        number,
        result.error,
        wait,
        " as Retry-After asks" if result.retry_after else "",
    )
    return wait


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None when absent or unreadable.

    The same reading as the REST poller's (adapters/rest/client.py), which consumers may not import.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RedeliveryReport:
    """What ``jiandu webhooks redeliver`` did."""

    delivered: int
    failed: int
    held: int
    unknown_subscription: int


async def redeliver(
    client: httpx.AsyncClient,
    store: FailedDeliveryStore,
    subscriptions: Mapping[str, Subscription],
    policy: RetryPolicy,
    *,
    subscription: str | None = None,
    lead_id: str | None = None,
) -> RedeliveryReport:
    """Send dead-lettered deliveries again, oldest version first per lead, with today's URL and secret.

    A version that fails again stays stored and holds back the later versions of
    its lead (they are not sent before it), like the deliverer does.
    """
    delivered = failed = held = unknown = 0
    blocked: set[tuple[str, str]] = set()
    for row in store.failed(subscription=subscription, lead_id=lead_id):
        target = subscriptions.get(row.subscription)
        if target is None:
            unknown += 1
            continue
        if (row.subscription, row.lead_id) in blocked:
            held += 1
            continue
        attempts, error = await deliver(client, Delivery(target, row.lead_id, row.version, row.body), policy)
        if error is None:
            store.remove(row)
            delivered += 1
        else:
            store.add(Delivery(target, row.lead_id, row.version, row.body).failed(attempts, error))
            blocked.add((row.subscription, row.lead_id))
            failed += 1
    return RedeliveryReport(delivered, failed, held, unknown)
