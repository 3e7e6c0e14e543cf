"""Which start of the embedded broker a client talks to, and whether its journal replay has finished.

A restarted embedded broker is an empty cluster that listens before the journal is
replayed into it (``jiandu.broker.replay`` needs it running). In that window a
producer that reconnects by itself is acknowledged for messages to topics that do
not exist yet, and they are lost (notes/tansu.md); a message the old broker
confirmed just before it died may also be journaled only after the new broker's
replay read the journal. Either way "accepted" would be ahead of what is durable.

So :class:`jiandu.broker.EmbeddedBroker` creates :data:`READY_TOPIC` once the replay
is complete (:func:`mark_ready`), and a journaling client (:class:`BrokerGeneration`)

- waits for that topic before it produces anything to a broker, and remembers its
  topic id: a new one is created by every start, so it names the broker's generation;
- after the broker confirmed and the journal fsynced a batch, checks that the same
  generation still serves. If it does, every message of the batch is on that broker
  and in the journal a later start replays; if not, nothing of the batch counts as
  accepted, and the caller sends it again (a duplicate at worst: outputs are idempotent).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from jiandu.broker.clients import KafkaAdminClient
from jiandu.errors import BrokerError, DeliveryError

__all__ = ["READY_TOPIC", "BrokerGeneration", "SameGeneration", "mark_ready"]

#: Created by the embedded broker after its journal replay; never written to. Outside every topic prefix.
READY_TOPIC = "__jiandu.broker-ready"
_POLL_SECONDS = 0.1


def mark_ready(bootstrap: str, client_config: Mapping[str, Any] | None = None) -> str:
    """Create :data:`READY_TOPIC` on a broker that now holds everything the journal accepted; returns its id."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))
    except KafkaError as exc:
        raise BrokerError(f"cannot connect to {bootstrap} to mark the broker ready: {exc}") from exc
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(READY_TOPIC, 1, 1)])
        generation = _generation(admin)
    except KafkaError as exc:
        raise BrokerError(f"cannot mark the broker on {bootstrap} ready: {exc}") from exc
    finally:
        admin.close()
    if generation is None:
        raise BrokerError(f"the broker on {bootstrap} does not show {READY_TOPIC} after creating it")
    return generation


class BrokerGeneration:
    """Asks the broker at ``bootstrap`` which replayed start of it serves (one small metadata request).

    Not thread-safe: one per producer.
    """

    def __init__(self, bootstrap: str, client_config: Mapping[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self._config = {k: v for k, v in (client_config or {}).items() if k != "bootstrap_servers"}
        self._admin: KafkaAdminClient | None = None

    def current(self) -> str | None:
        """The generation serving now, or None: still replaying its journal, or unreachable."""
        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    request_timeout_ms=5000,
                    bootstrap_timeout_ms=5000,  # a broker that is away: ask again soon, not after 30 s
                    reconnect_backoff_max_ms=1000,
                    **self._config,
                )
            return _generation(self._admin)
        except KafkaError:
            self.close()  # a connection to a broker that died: connect afresh next time
            return None

    def wait(self, timeout: float) -> str:
        """The generation serving, once its replay is complete; BrokerError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            generation = self.current()
            if generation is not None:
                return generation
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"the embedded broker on {self.bootstrap} is not ready: it is away or still replaying its "
                    f"journal (no {READY_TOPIC} topic after {timeout:.0f} s); nothing was accepted, send it again"
                )
            time.sleep(_POLL_SECONDS)

    def close(self) -> None:
        """Drop the connection (the next :meth:`current` connects again)."""
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(KafkaError):
                admin.close()


class SameGeneration:
    """A journal's check (``jiandu.journal.AppendCheck``) for a process that restarts with the broker
    (a consumer keeping state, the console): the broker generation it started against still serves."""

    def __init__(self, generation: BrokerGeneration, timeout: float) -> None:
        self._generation = generation
        self._serving = generation.wait(timeout)

    def __call__(self) -> None:
        if self._generation.current() != self._serving:
            raise DeliveryError(
                f"the embedded broker on {self._generation.bootstrap} restarted since this process connected: "
                "what it confirmed last may not be on the new one, so it was not counted; restart this process"
            )

    def close(self) -> None:
        self._generation.close()


def _generation(admin: KafkaAdminClient) -> str | None:
    """The ready topic's id (a metadata request that never creates topics), or None while it does not exist."""
    for topic in admin.describe_topics([READY_TOPIC]):
        if topic.get("name") == READY_TOPIC and not topic.get("error_code") and topic.get("topic_id"):
            return str(topic["topic_id"])
    return None
