"""kafka-python clients that stop their IO thread when they cannot connect.

kafka-python 3.0 starts a client's IO thread before it bootstraps: a ``KafkaConsumer`` or
``KafkaAdminClient`` whose bootstrap fails raises from its constructor and leaves that thread
running, reconnecting and logging for the life of the process. A readiness probe retrying
against a stopped broker leaked one thread per probe. The hub builds them from here only
(ruff's banned-api rule points every other import here).
"""

from __future__ import annotations

import contextlib
from typing import Any

import kafka

__all__ = ["KafkaAdminClient", "KafkaConsumer"]

_STOP_TIMEOUT_MS = 2000


class KafkaConsumer(kafka.KafkaConsumer):
    """``kafka.KafkaConsumer`` that leaves no thread behind when its constructor fails."""

    def __init__(self, *topics: str, **configs: Any) -> None:
        try:
            super().__init__(*topics, **configs)
        except BaseException:
            _stop_io(self)
            raise


class KafkaAdminClient(kafka.KafkaAdminClient):
    """``kafka.KafkaAdminClient`` that leaves no thread behind when its constructor fails."""

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            _stop_io(self)
            raise


def _stop_io(client: Any) -> None:
    """Close the half-built client's connections and stop its IO thread (best effort: it failed already)."""
    inner = getattr(client, "_client", None)
    if inner is not None:
        with contextlib.suppress(Exception):
            inner.close()
    net = getattr(client, "_net", None)
    if net is not None:
        with contextlib.suppress(Exception):
            net.stop(timeout_ms=_STOP_TIMEOUT_MS)
