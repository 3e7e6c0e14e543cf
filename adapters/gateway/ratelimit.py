"""Per-agency rate limits of the push API: token buckets on requests and on records per second.

One agency pushing as fast as it can would otherwise take the broker's whole
throughput (requests are confirmed one at a time, ``batch.py``) and starve the
others. Each agency has two buckets of its own: requests (checked before the body
is read) and records (checked once the batch is parsed). A bucket holds up to
``burst`` tokens and refills at ``per_second``; a request that finds too few is
answered 429 with ``Retry-After``: the whole seconds until both buckets hold what
it needs, so a client that waits that long and sends the same request again gets
through (unless it sent others meanwhile). Nothing of a refused request is looked
at, so re-sending it is safe.

A rate of 0 turns that limit off. Buckets exist only for authenticated agencies
(the credentials file bounds them), so nothing here grows with traffic.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from jiandu.errors import ConfigurationError

__all__ = ["AgencyThrottle", "RateLimits", "Throttled", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The per-agency limits (JIANDU_GATEWAY_RATE_*); a rate of 0 turns that limit off."""

    requests_per_second: float = 0.0
    requests_burst: int = 1
    records_per_second: float = 0.0
    records_burst: int = 1

    def check(self, max_records: int) -> None:
        """ConfigurationError naming the setting when a limit could never be met or makes no sense."""
        for name, rate, burst in (
            ("REQUESTS", self.requests_per_second, self.requests_burst),
            ("RECORDS", self.records_per_second, self.records_burst),
        ):
            if rate < 0 or not math.isfinite(rate):
                raise ConfigurationError(f"JIANDU_GATEWAY_RATE_{name}_PER_SECOND={rate}: use 0 (no limit) or more")
            if rate and burst < 1:
                raise ConfigurationError(f"JIANDU_GATEWAY_RATE_{name}_BURST={burst}: use 1 or more")
        if self.records_per_second and self.records_burst < max_records:
            raise ConfigurationError(
                f"JIANDU_GATEWAY_RATE_RECORDS_BURST={self.records_burst} is below JIANDU_GATEWAY_MAX_RECORDS="
                f"{max_records}: a full batch could never pass; raise the burst or lower the batch size"
            )


class TokenBucket:
    """``burst`` tokens at most, refilled at ``per_second``; :meth:`take` takes n tokens or says how long to wait."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def wait_for(self, n: int) -> float:
        """Seconds until ``n`` tokens are there (0: now); takes nothing."""
        self._refill()
        return max(0.0, (n - self._tokens) / self._rate)

    def take(self, n: int) -> float:
        """Take ``n`` tokens and return 0, or take nothing and return the seconds to wait for them."""
        wait = self.wait_for(n)
        if wait == 0.0:
            self._tokens -= n
        return wait

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now


@dataclass(frozen=True, slots=True)
class Throttled:
    """A request refused by a rate limit: which one, and the whole seconds to wait (``Retry-After``)."""

    limit: str  # "requests" or "records"
    retry_after: int
    message: str


class AgencyThrottle:
    """The buckets of every agency; ``admit_request`` before reading a body, ``admit_records`` after parsing it."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._requests: dict[str, TokenBucket] = {}
        self._records: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def admit_request(self, agency_id: str) -> Throttled | None:
        """Take one request token for the agency, or say how long to wait."""
        limits = self.limits
        if not limits.requests_per_second:
            return None
        with self._lock:
            wait = self._bucket(self._requests, agency_id, limits.requests_per_second, limits.requests_burst).take(1)
        if not wait:
            return None
        rate = f"{limits.requests_per_second:g} requests per second (burst {limits.requests_burst})"
        return self._throttled("requests", wait, agency_id, rate, "send fewer, larger batches")

    def admit_records(self, agency_id: str, count: int) -> Throttled | None:
        """Take ``count`` record tokens for the agency, or say how long to wait (for a request token too)."""
        limits = self.limits
        if not limits.records_per_second or not count:
            return None
        with self._lock:
            wait = self._bucket(self._records, agency_id, limits.records_per_second, limits.records_burst).take(count)
            if wait and limits.requests_per_second:  # the retry needs a request token as well
                requests = self._bucket(self._requests, agency_id, limits.requests_per_second, limits.requests_burst)
                wait = max(wait, requests.wait_for(1))
        if not wait:
            return None
        rate = f"{limits.records_per_second:g} records per second (burst {limits.records_burst})"
        return self._throttled("records", wait, agency_id, rate, "spread the records more evenly over time")

    def _bucket(self, buckets: dict[str, TokenBucket], agency_id: str, rate: float, burst: int) -> TokenBucket:
        if agency_id not in buckets:
            buckets[agency_id] = TokenBucket(rate, burst, self._clock)
        return buckets[agency_id]

    @staticmethod
    def _throttled(limit: str, wait: float, agency_id: str, rate: str, advice: str) -> Throttled:
        seconds = max(1, math.ceil(wait))
        message = (
            f"agency {agency_id} is over its limit of {rate}; nothing of this request was accepted: "
            f"wait {seconds} s (Retry-After) and send it again, and {advice}"
        )
        return Throttled(limit, seconds, message)
