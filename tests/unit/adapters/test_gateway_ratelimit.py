"""Per-agency token buckets on a controlled clock: bursts, refills, Retry-After, independence, settings checks."""

from __future__ import annotations

import pytest

from adapters.gateway import AgencyThrottle, RateLimits
from adapters.gateway.ratelimit import TokenBucket
from jiandu.errors import ConfigurationError


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 3, clock)
    assert [bucket.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(1) == pytest.approx(0.5), "one token comes back in 1/2 s"
    assert bucket.take(3) == pytest.approx(1.5)
    clock.now += 0.5
    assert bucket.take(1) == 0.0
    clock.now += 60
    assert bucket.wait_for(3) == 0.0 and bucket.wait_for(4) == pytest.approx(0.5), "never more than the burst"


def test_an_agency_over_its_request_rate_waits_retry_after_and_the_others_do_not() -> None:
    clock = Clock()
    throttle = AgencyThrottle(RateLimits(requests_per_second=0.5, requests_burst=2), clock)
    assert throttle.admit_request("court") is None and throttle.admit_request("court") is None
    refused = throttle.admit_request("court")
    assert refused is not None and (refused.limit, refused.retry_after) == ("requests", 2)
    assert "court" in refused.message and "wait 2 s (Retry-After)" in refused.message
    assert "0.5 requests per second (burst 2)" in refused.message
    assert throttle.admit_request("police") is None, "each agency has its own bucket"
    clock.now += refused.retry_after
    assert throttle.admit_request("court") is None, "after Retry-After the request goes through"


def test_records_are_counted_per_record_and_retry_after_covers_a_request_token_too() -> None:
    clock = Clock()
    limits = RateLimits(requests_per_second=0.25, requests_burst=1, records_per_second=100, records_burst=100)
    throttle = AgencyThrottle(limits, clock)
    assert throttle.admit_request("court") is None and throttle.admit_records("court", 100) is None
    refused = throttle.admit_records("court", 50)
    assert refused is not None and refused.limit == "records"
    assert refused.retry_after == 4, "0.5 s for the records, 4 s for the next request token"
    clock.now += 0.25
    assert throttle.admit_records("court", 50) is not None, "nothing was taken by the refusal; still short"
    clock.now += 3.75
    assert throttle.admit_request("court") is None and throttle.admit_records("court", 50) is None


def test_a_rate_of_zero_is_no_limit() -> None:
    throttle = AgencyThrottle(RateLimits())
    assert all(throttle.admit_request("a") is None for _ in range(1000))
    assert throttle.admit_records("a", 10**9) is None


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (RateLimits(records_per_second=100, records_burst=50), "JIANDU_GATEWAY_RATE_RECORDS_BURST=50 is below"),
        (RateLimits(requests_per_second=-1), "JIANDU_GATEWAY_RATE_REQUESTS_PER_SECOND=-1"),
        (RateLimits(requests_per_second=1, requests_burst=0), "JIANDU_GATEWAY_RATE_REQUESTS_BURST=0"),
    ],
)
def test_limits_that_cannot_work_are_refused_naming_the_setting(limits: RateLimits, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        limits.check(max_records=100)
    RateLimits(records_per_second=100, records_burst=100).check(max_records=100)
