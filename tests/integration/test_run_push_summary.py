"""`jiandu run`'s push API line counts every answer: a batch sent twice reads as duplicates.

The line summed only accepted and rejected, so a run whose twenty pushed records had
all been sent before printed ``0 accepted, 0 rejected``. The development agencies and
the gateway are the ones ``jiandu run`` opens, on the session's broker.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from adapters.gateway import BATCH_PATH
from jiandu.broker import EmbeddedBroker
from jiandu.cli.gateway import open_gateway, write_development_agencies
from jiandu.cli.hub import create_topics
from jiandu.cli.run_summary import PushTotals
from jiandu.core.identity import make_id_number
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

PERSON = make_id_number("210102", date(1985, 3, 17), 241)


def _execution(number: int, **changes: str) -> dict[str, object]:
    record: dict[str, object] = {
        "type": "court.execution_filed",
        "source": "court:210100",
        "source_record_id": f"E-{number}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "jurisdiction": "210100",
        "execution_no": f"E-{number}",
        "case_no": f"(2024)辽01刑初{number}号",
        "id_number": PERSON,
    }
    record.update(changes)
    return record


def test_the_push_line_counts_accepted_duplicates_and_rejected(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    agencies = tmp_path / "agencies.yaml"
    tokens = write_development_agencies(agencies, ["court:210100"])
    settings = settings_for(broker.bootstrap, topic_prefix, data_dir=tmp_path / "data", gateway_agencies=str(agencies))
    create_topics(settings)
    batch = [_execution(n) for n in range(3)] + [_execution(9, id_number=PERSON[:-1] + "0" + "0")]
    server, publisher, receipts = open_gateway(settings, 0)
    first, again = PushTotals(), PushTotals()
    try:
        headers = {"Authorization": f"Bearer {tokens['court']}"}
        for totals in (first, again):
            answer = httpx.post(f"{server.url}{BATCH_PATH}", json={"records": batch}, headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text
            totals.add(answer.json())
    finally:
        server.stop()
        publisher.close()
        receipts.close()
    assert first.line() == "push API: 3 accepted, 0 duplicates (already sent), 1 rejected (dead-lettered)"
    assert again.line().startswith("push API: 0 accepted, 3 duplicates (already sent), "), again.line()
