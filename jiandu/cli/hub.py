"""Pieces the commands share: the broker to use, topics, the intake, clock ticks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from jiandu.broker import EmbeddedBroker, ensure_topics, find_free_port
from jiandu.core.identity_seal import IdentitySealer
from jiandu.core.ordering import InputSequence
from jiandu.settings import Settings, kafka_client_config
from jiandu.topics import TopicCatalogue
from producers import IdentitySealing, KafkaPublisher, RecordIntake

__all__ = ["broker_for", "catalogue_of", "create_topics", "identity_sealing", "new_intake"]


@contextlib.contextmanager
def broker_for(settings: Settings, *, log_dir: Path, fresh_port: bool = False) -> Iterator[Settings]:
    """Yield settings pointing at a running broker: the configured Kafka, or an embedded one started here.

    The embedded broker is stopped (by pid) when the block ends.
    """
    if not settings.embedded:
        yield settings
        return
    port = find_free_port() if fresh_port else settings.broker_port
    broker = EmbeddedBroker(port, log_path=log_dir / f"tansu-{port}.log")
    broker.start()
    try:
        yield settings.replace(broker_port=port)
    finally:
        broker.stop()


def catalogue_of(settings: Settings) -> TopicCatalogue:
    """The topic catalogue of these settings."""
    return TopicCatalogue(settings.topic_prefix, settings.partitions)


def create_topics(settings: Settings) -> list[str]:
    """Create every topic of the catalogue that is missing (idempotent)."""
    return ensure_topics(
        settings.bootstrap,
        catalogue_of(settings).specs(),
        replication_factor=settings.replication_factor,
        client_config=kafka_client_config(settings, with_bootstrap=False),
    )


def new_intake(
    settings: Settings, *, adapter: str, in_input_order: bool = False, confirm_timeout: float | None = None
) -> tuple[KafkaPublisher, RecordIntake]:
    """A publisher and the shared intake on it. ``in_input_order``: events stamped with their input position
    and backtest clock (``jiandu.core.ordering``), as a backtest needs; ``confirm_timeout``: see
    :class:`KafkaPublisher`."""
    publisher = KafkaPublisher(kafka_client_config(settings), confirm_timeout=confirm_timeout)
    sequence = InputSequence(settings.backtest_lateness_seconds * 1000) if in_input_order else None
    intake = RecordIntake(
        publisher,
        catalogue_of(settings),
        settings.pseudonym_key_bytes,
        adapter=adapter,
        sequence=sequence,
        sealing=None if in_input_order else identity_sealing(settings),  # a backtest's topics are thrown away
    )
    return publisher, intake


def identity_sealing(settings: Settings) -> IdentitySealing | None:
    """Sealing of raw ID numbers for the console's reveal service, when JIANDU_REVEAL_PUBLIC_KEY names its key."""
    if not settings.reveal_public_key:
        return None
    return IdentitySealing(IdentitySealer.from_file(Path(settings.reveal_public_key)))
