"""One webhook delivery: a lead version's JSON, signed, POSTed with bounded exponential backoff."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from consumers.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from consumers.webhooks.store import FailedDelivery, FailedDeliveryStore
from consumers.webhooks.subscriptions import Subscription
from jiandu.core.leads import Lead
from jiandu.core.timeutil import utc_now_ms

__all__ = ["Delivery", "RedeliveryReport", "RetryPolicy", "attempt", "deliver", "redeliver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one delivery is tried before it is dead-lettered."""

    max_attempts: int = 8
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0

    def wait_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
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
        """Deterministic: a receiver can drop a delivery it has already processed."""
        text = f"{self.subscription.id}\x1f{self.lead_id}\x1f{self.version}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def failed(self, attempts: int, error: str) -> FailedDelivery:
        """The dead letter of this delivery."""
        return FailedDelivery(
            self.subscription.id, self.lead_id, self.version, self.delivery_id, self.body, attempts, error, utc_now_ms()
        )


async def attempt(client: httpx.AsyncClient, delivery: Delivery) -> str | None:
    """POST once; None on a 2xx answer, else what went wrong (never the secret)."""
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
        return f"{type(exc).__name__}: {exc}"
    return None if response.is_success else f"HTTP {response.status_code}"


async def deliver(client: httpx.AsyncClient, delivery: Delivery, policy: RetryPolicy) -> tuple[int, str | None]:
    """Try until success or ``policy.max_attempts``; (attempts made, last error or None)."""
    error: str | None = None
    for number in range(1, policy.max_attempts + 1):
        error = await attempt(client, delivery)
        if error is None:
            return number, None
        log.info("webhook %s lead %s attempt %d failed: %s", delivery.subscription.id, delivery.lead_id, number, error)
        if number < policy.max_attempts:
            await asyncio.sleep(policy.wait_after(number))
    return policy.max_attempts, error


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
