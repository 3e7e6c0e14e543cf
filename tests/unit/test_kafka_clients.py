"""A kafka-python client that cannot reach its broker leaves no thread behind (kafka-python 3.0 starts
its IO thread before it bootstraps and does not stop it when the bootstrap fails)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from jiandu.broker import KafkaAdminClient, KafkaConsumer

pytestmark = pytest.mark.timeout(60)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def _io_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kafka-io-")}


@pytest.mark.parametrize("client", [KafkaConsumer, KafkaAdminClient], ids=["consumer", "admin"])
def test_a_client_that_cannot_connect_stops_its_io_thread(client: Callable[..., Any]) -> None:
    before = _io_threads()
    for _ in range(3):  # as a readiness probe retries
        with pytest.raises(Exception, match=r"(?i)timeout|timed out|NoBrokersAvailable"):
            client(bootstrap_servers=f"127.0.0.1:{_closed_port()}", bootstrap_timeout_ms=300, request_timeout_ms=1000)
    assert _io_threads() - before == set()
