"""Property-based requests generated from the push API's own OpenAPI document, against the real gateway.

Every operation of ``/openapi.json`` is called with bodies generated from its schema (valid and
not), with the agency's token; asserted: never a 5xx, every answer one the document declares.
The schema-driven run complements ``test_security_fuzz.py``, whose records are mutated by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from adapters.gateway.openapi import openapi_document
from jiandu.broker import EmbeddedBroker
from jiandu.cli.gateway import open_gateway
from tests.integration.test_gateway import write_agencies
from tests.pipeline import settings_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

SCHEMA = schemathesis.openapi.from_dict(openapi_document(max_records=50, max_request_bytes=64 * 1024))


@pytest.fixture(scope="module")
def gateway(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp("schema-fuzz")
    tokens = write_agencies(work / "agencies.yaml")
    settings_ = settings_for(
        broker.bootstrap,
        f"h{uuid4().hex[:10]}",
        data_dir=work / "data",
        gateway_agencies=str(work / "agencies.yaml"),
        gateway_max_request_bytes=64 * 1024,
        gateway_max_records=50,
        gateway_rate_requests_per_second=0.0,
        gateway_rate_records_per_second=0.0,
    )
    server, publisher, receipts = open_gateway(settings_, 0)
    try:
        yield server.url, tokens["shenyang-court"]
    finally:
        server.stop()
        publisher.close()
        receipts.close()


@SCHEMA.parametrize()
@settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_without_a_server_error(case: schemathesis.Case, gateway: tuple[str, str]) -> None:
    url, token = gateway
    response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code < 500, response.text
    # negative_data_rejection is left out on purpose: a record breaking the schema is answered per record
    # (200, status rejected, with field and rule) so that one bad record never costs an agency its batch
    checks = schemathesis.checks
    case.validate_response(
        response,
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
            checks.response_headers_conformance,
        ],
    )
