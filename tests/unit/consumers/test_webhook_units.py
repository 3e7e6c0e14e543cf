"""Webhook pieces in plain values: signatures, subscription files and filters, committable offsets, backoff."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.webhooks import LeadFilter, RetryPolicy, Subscription, load_subscriptions, sign, verify_signature
from consumers.webhooks.delivery import Delivery, retry_after_seconds
from consumers.webhooks.progress import PartitionProgress
from consumers.webhooks.store import FailedDelivery
from jiandu.core.leads import DEPARTMENTS
from jiandu.errors import ConfigurationError
from jiandu.topics import DEPARTMENT_SLUGS, TopicCatalogue
from tests.lead_versions import lead_version

SECRET = "s" * 32
BODY = '{"lead_id":"M02-1","summary_zh":"线索"}'.encode()


def headers(timestamp: int, signature: str) -> dict[str, str]:
    return {"x-jiandu-timestamp": str(timestamp), "X-Jiandu-Signature": signature}


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_timestamp() -> None:
    now = 1_800_000_000
    good = sign(SECRET, now, BODY)
    assert good.startswith("v1=") and len(good) == 3 + 64
    assert verify_signature(SECRET, headers(now, good), BODY, now=now + 299)
    assert not verify_signature(SECRET, headers(now, good), BODY, now=now + 301)  # replayed too late
    assert not verify_signature("t" * 32, headers(now, good), BODY, now=now)
    assert not verify_signature(SECRET, headers(now, good), BODY + b" ", now=now)
    assert not verify_signature(SECRET, headers(now + 1, good), BODY, now=now)  # timestamp is signed
    assert not verify_signature(SECRET, {}, BODY, now=now)


def test_filters_match_every_non_empty_criterion() -> None:
    lead = lead_version(1, 1, "刑事执行检察", "HIGH", jurisdiction="210102")
    assert LeadFilter().matches(lead)
    assert LeadFilter(departments=("刑事执行检察",), jurisdictions=("2101", "2201"), severities=("HIGH",)).matches(lead)
    assert not LeadFilter(jurisdictions=("2102",)).matches(lead)
    assert not LeadFilter(models=("M05",)).matches(lead)
    assert not LeadFilter(statuses=("RESOLVED",)).matches(lead)


def test_subscriptions_load_with_secret_files_and_keep_the_secret_out_of_reprs(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    path = tmp_path / "subs.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - id: exec-high\n    url: https://hooks.example/x\n    secret_file: secret\n"
        "    filter: {departments: [刑事执行检察], severities: [HIGH]}\n"
        f"  - id: all\n    url: http://127.0.0.1:9/y\n    secret: {SECRET}\n",
        encoding="utf-8",
    )
    first, second = load_subscriptions(path)
    assert first.secret == SECRET and first.filter == LeadFilter(departments=("刑事执行检察",), severities=("HIGH",))
    assert second.filter == LeadFilter()
    assert SECRET not in repr(first)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("id: a b\n    url: http://x\n    secret: " + SECRET, "id 'a b'"),
        ("id: a\n    url: ftp://x\n    secret: " + SECRET, "must start with http"),
        ("id: a\n    url: http://x", "exactly one of secret or secret_file"),
        ("id: a\n    url: http://x\n    secret: short", "shorter than 16"),
        ("id: a\n    url: http://x\n    secret: " + SECRET + "\n    filter: {colour: [red]}", "filter takes only"),
    ],
)
def test_bad_subscriptions_are_configuration_errors(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text(f"subscriptions:\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_subscriptions(path)


def test_offsets_are_committable_only_up_to_the_first_unfinished_message() -> None:
    progress = PartitionProgress()
    progress.add(10, 2)
    progress.add(11, 0)
    progress.add(12, 1)
    assert progress.committable is None
    progress.done(12)  # a later lead finished first: nothing before it may be skipped
    assert progress.committable is None
    progress.done(10)
    assert progress.committable is None
    progress.done(10)
    assert progress.committable == 13 and progress.outstanding == 0


def test_a_dead_letter_reads_back_from_its_topic_value_with_its_body_byte_for_byte() -> None:
    failed = FailedDelivery("sub", "M02-1", 2, "d2", '{"summary_zh":"社区矫正"}'.encode(), 3, "HTTP 503", 1)
    assert FailedDelivery.from_json(failed.to_json()) == failed


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_seconds=0.5, backoff_max_seconds=3)
    assert [policy.wait_after(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_replaces_the_backoff_up_to_five_times_its_cap() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_seconds=0.5, backoff_max_seconds=3)
    assert policy.retry_after_max_seconds == 15
    assert [policy.wait_after(1, 2.0), policy.wait_after(5, 2.0), policy.wait_after(1, 3600)] == [2.0, 2.0, 15.0]
    assert [policy.wait_after(2, None), policy.wait_after(2, 0.0)] == [1.0, 1.0]  # nothing or 0 asked: backoff


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("2") == 2.0 and retry_after_seconds(" 120 ") == 120.0
    assert retry_after_seconds("Fri, 01 Mar 2024 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Fri, 01 Mar 2024 11:00:00 GMT", now=now) == 0.0
    assert [retry_after_seconds(v) for v in (None, "soon", "-1", "1.5", "²")] == [None] * 5


def test_every_department_has_an_alert_topic() -> None:
    catalogue = TopicCatalogue("p", 4)
    assert set(DEPARTMENT_SLUGS) == set(DEPARTMENTS)
    assert catalogue.department_alerts("公益诉讼") == "p.alerts.dept.public-interest"
    assert catalogue.severity_alerts("HIGH") == "p.alerts.severity.high"
    assert set(catalogue.alert_topics()) <= {spec.name for spec in catalogue.specs()}


def test_two_versions_of_a_lead_published_in_one_millisecond_are_two_deliveries() -> None:
    sub = Subscription("s", "http://127.0.0.1:9/hook", "secret-0123456789abcdef", LeadFilter())
    raised = lead_version(1, 1)
    withdrawn = dataclasses.replace(raised, status="WITHDRAWN")  # same updated_at
    first, second = Delivery.of(sub, raised), Delivery.of(sub, withdrawn)
    assert first.version == second.version and first.delivery_id != second.delivery_id
    assert Delivery.of(sub, raised).delivery_id == first.delivery_id  # the same on every attempt
