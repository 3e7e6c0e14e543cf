"""One push request through the real RecordIntake on an in-memory publisher: every record answered."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.gateway import Agency, PushIntake, open_receipts
from jiandu.core.identity import make_id_number
from jiandu.core.sealing import PayloadSeal
from jiandu.errors import DeliveryError
from jiandu.serde import AvroCodec
from jiandu.topics import TopicCatalogue
from producers import RecordIntake

KEY = b"unit-test-key"
COURT = Agency("shenyang-court", "court", ("court:210100",), ())
PERSON = make_id_number("210102", date(1985, 3, 17), 241)


class MemoryPublisher:
    """Keeps messages in a list; ``confirm`` acknowledges them all, or fails when told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self._pending: list[Callable[[], None]] = []
        self.fail_next_confirm = False

    def send(self, topic: str, key: str, value: bytes, on_success: Callable[[], None] | None = None) -> None:
        self.sent.append((topic, key, value))
        self._pending.append(on_success or (lambda: None))

    def confirm(self) -> None:
        pending, self._pending = self._pending, []
        if self.fail_next_confirm:
            self.fail_next_confirm = False
            raise DeliveryError(f"0 of {len(pending)} messages were acknowledged")
        for callback in pending:
            callback()


def record(number: str, **changes: Any) -> dict[str, Any]:
    """A valid court.execution_filed record."""
    values: dict[str, Any] = {
        "type": "court.execution_filed",
        "source": "court:210100",
        "source_record_id": f"E-{number}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "jurisdiction": "210100",
        "execution_no": f"E-{number}",
        "case_no": f"(2024)辽01刑初{number}号",
        "id_number": PERSON,
    }
    values.update(changes)
    return values


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def push(publisher: MemoryPublisher, tmp_path: Path) -> PushIntake:
    intake = RecordIntake(publisher, TopicCatalogue("unit", 1), KEY, adapter="gateway")  # type: ignore[arg-type]
    return PushIntake(intake, open_receipts("", tmp_path / "accepted.sqlite3", namespace="test"))


def test_each_record_is_answered_with_field_and_rule(push: PushIntake, publisher: MemoryPublisher) -> None:
    bad_check = PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")
    records: list[object] = [
        record("1"),
        record("2", id_number=bad_check),
        record("3", source="court:210200"),
        record("4", type="police.arrest_requested"),
        record("5", case_no=None),
        "not an object",
    ]
    result = push.submit_batch(COURT, records, "req1")
    answers = [(r.status, r.field, r.rule) for r in result.results]
    assert answers == [
        ("accepted", None, None),
        ("rejected", "id_number", "check_character"),
        ("rejected", "source", "source_not_allowed"),
        ("rejected", "type", "type_not_allowed"),
        ("rejected", "case_no", "required"),
        ("rejected", None, "json_object"),
    ]
    body = result.to_json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 0, 5)
    assert body["results"][0] == {
        "index": 0,
        "event_id": "court:210100/court.execution_filed/E-1",
        "status": "accepted",
    }
    assert bad_check not in json.dumps(body) and PERSON not in json.dumps(body), "no raw ID number in an answer"
    topics = [topic for topic, _, _ in publisher.sent]
    assert topics.count("unit.events.court.execution_filed") == 1 and topics.count("unit.deadletter") == 5


def test_dead_letters_name_the_adapter_origin_and_seal_the_record(push: PushIntake, publisher: MemoryPublisher) -> None:
    push.submit_batch(COURT, [record("1", source="court:210200")], "req7")
    ((_, key, value),) = publisher.sent
    name, letter = AvroCodec().decode(value)
    assert name == "dead_letter" and key == "court:210200"
    assert (letter["adapter"], letter["origin"]) == ("gateway", "shenyang-court/req7#0")
    assert letter["reason"].startswith("source: not allowed for agency shenyang-court")
    assert json.loads(PayloadSeal(KEY).open(letter["payload_sealed"])) == record("1", source="court:210200")


def test_an_accepted_event_id_is_a_duplicate_afterwards_and_within_a_request(
    push: PushIntake, publisher: MemoryPublisher
) -> None:
    first = push.submit_batch(COURT, [record("1"), record("1")], "a")
    assert [r.status for r in first.results] == ["accepted", "duplicate"]
    again = push.submit_batch(COURT, [record("1"), record("2")], "b")
    assert [r.status for r in again.results] == ["duplicate", "accepted"]
    assert again.results[0].message and "not published again" in again.results[0].message
    assert len(publisher.sent) == 2, "a duplicate is never published"


def test_a_rejected_event_id_may_be_sent_again_corrected(push: PushIntake) -> None:
    assert push.submit_batch(COURT, [record("1", case_no=None)], "a").results[0].status == "rejected"
    assert push.submit_batch(COURT, [record("1")], "b").results[0].status == "accepted"


def test_nothing_counts_as_accepted_when_the_broker_does_not_confirm(
    publisher: MemoryPublisher, tmp_path: Path
) -> None:
    now = [100.0]
    intake = RecordIntake(publisher, TopicCatalogue("unit", 1), KEY, adapter="gateway")  # type: ignore[arg-type]
    push = PushIntake(
        intake, open_receipts("", tmp_path / "a.sqlite3", namespace="test"), outage_seconds=5, clock=lambda: now[0]
    )
    publisher.fail_next_confirm = True
    with pytest.raises(DeliveryError):
        push.submit_batch(COURT, [record("1")], "a")
    sent = len(publisher.sent)
    with pytest.raises(DeliveryError, match="retry in 5 s"):  # at once, without waiting for the broker again
        push.submit_batch(COURT, [record("1")], "b")
    assert len(publisher.sent) == sent and push.retry_after == 5
    now[0] += 5
    assert push.submit_batch(COURT, [record("1")], "c").results[0].status == "accepted", "the retry is not a duplicate"


def test_a_request_failing_part_way_sends_nothing(push: PushIntake, publisher: MemoryPublisher) -> None:
    class Unprintable:  # a value the request's own encoding cannot take: the request fails while preparing
        pass

    with pytest.raises(TypeError):
        push.submit_batch(COURT, [record("p1"), {**record("p2"), "extra": Unprintable()}], "a")
    assert publisher.sent == []
    answers = push.submit_batch(COURT, [record("p1")], "b").results
    assert [a.status for a in answers] == ["accepted"] and len(publisher.sent) == 1
