"""Pieces the commands share: the broker to use, topics, the intake, clock ticks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from jiandu.broker import BrokerGeneration, EmbeddedBroker, SameGeneration, ensure_topics, find_free_port
from jiandu.core.identity_seal import IdentitySealer
from jiandu.core.ordering import InputSequence
from jiandu.journal import JournalWriter
from jiandu.settings import Settings, kafka_client_config
from jiandu.topics import ADAPTER_LEASE_PARTITIONS, TopicCatalogue
from producers import IdentitySealing, KafkaPublisher, RecordIntake
from producers.leases import LeasedCheckpoints, SourceLease

__all__ = [
    "adapter_lease",
    "broker_for",
    "broker_generation",
    "catalogue_of",
    "create_topics",
    "identity_sealing",
    "journal_for",
    "leased_checkpoints",
    "new_intake",
    "running_broker",
]

#: How long a journaling process waits at start for the embedded broker's journal replay.
_READY_TIMEOUT = 120.0


@contextlib.contextmanager
def broker_for(settings: Settings, *, log_dir: Path, fresh_port: bool = False) -> Iterator[Settings]:
    """Yield settings pointing at a running broker: the configured Kafka, or an embedded one started here.

    The embedded broker is stopped (by pid) when the block ends. It holds everything
    journaled in the data directory before this yields (JIANDU_JOURNAL).
    """
    with running_broker(settings, log_dir=log_dir, fresh_port=fresh_port) as (settings, _):
        yield settings


@contextlib.contextmanager
def running_broker(
    settings: Settings, *, log_dir: Path, fresh_port: bool = False
) -> Iterator[tuple[Settings, EmbeddedBroker | None]]:
    """:func:`broker_for`, also yielding the embedded broker (None with JIANDU_KAFKA_BOOTSTRAP), for supervision."""
    if not settings.embedded:
        yield settings, None
        return
    port = find_free_port() if fresh_port else settings.broker_port
    journal = settings.journal_dir if settings.journal_enabled else None
    broker = EmbeddedBroker(port, log_path=log_dir / f"tansu-{port}.log", journal_dir=journal)
    broker.start(timeout=120)
    if broker.replayed is not None and broker.replayed.messages:
        print(f"journal: {broker.replayed}", flush=True)
    try:
        yield settings.replace(broker_port=port), broker
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


def journal_for(settings: Settings, writer: str, *, reconnects: bool = False) -> JournalWriter | None:
    """This process's journal writer (its own segment files), or None when JIANDU_JOURNAL is off.

    On the embedded broker an append also checks that the broker generation this process started
    against still serves (``jiandu.broker.ready``), else it raises DeliveryError: a process that
    restarts with the broker (a consumer keeping state, the console). ``reconnects``: the caller
    checks per producer instead (the intake's publisher, which outlives broker restarts).
    """
    if not settings.journal_enabled:
        return None
    catalogue = catalogue_of(settings)
    accepted = [
        *catalogue.event_topics(),
        catalogue.dead_letters,
        catalogue.outcomes,
        catalogue.identities,
        catalogue.adapter_checkpoints,  # where the adapters stand: a restarted embedded broker gets them back
    ]
    accepted += catalogue.consumer_state_topics()  # no other record of what was routed and delivered
    generation = None if reconnects else broker_generation(settings)
    return JournalWriter(
        settings.journal_dir,
        writer=writer,
        topic_prefix=settings.topic_prefix,
        partitions=settings.partitions,
        topics=accepted,
        check=SameGeneration(generation, timeout=_READY_TIMEOUT) if generation is not None else None,
    )


def broker_generation(settings: Settings) -> BrokerGeneration | None:
    """For a journaling client of the embedded broker: which replayed start of it serves (``jiandu.broker.ready``).

    None with JIANDU_KAFKA_BOOTSTRAP (a replicated Kafka keeps what it confirmed) or with the journal off.
    """
    if not (settings.embedded and settings.journal_enabled):
        return None
    return BrokerGeneration(settings.bootstrap, kafka_client_config(settings, with_bootstrap=False))


def new_intake(
    settings: Settings, *, adapter: str, in_input_order: bool = False, timeout: float = 120.0
) -> tuple[KafkaPublisher, RecordIntake]:
    """A publisher (journaling what it confirms, when the journal is on) and the shared intake on it.

    ``in_input_order``: events stamped with their input position and backtest clock
    (``jiandu.core.ordering``), as a backtest needs; ``timeout`` bounds one confirm: short for a
    caller that answers requests (the push API).
    """
    publisher = KafkaPublisher(
        kafka_client_config(settings),
        compression=settings.kafka_compression,
        journal=journal_for(settings, adapter, reconnects=True),
        timeout=timeout,
        generation=broker_generation(settings),
    )
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


def adapter_lease(settings: Settings, kind: str) -> SourceLease:
    """This replica's share of one adapter kind's sources (``rest`` or ``filedrop``), a consumer-group lease."""
    catalogue = catalogue_of(settings)
    return SourceLease(
        kafka_client_config(settings),
        catalogue.adapter_checkpoints,
        catalogue.adapter_group(kind),
        partitions=ADAPTER_LEASE_PARTITIONS,
        session_timeout_seconds=settings.session_timeout_seconds,
    )


def leased_checkpoints(lease: SourceLease, publisher: KafkaPublisher) -> LeasedCheckpoints:
    """The checkpoints of the sources ``lease`` holds, written through ``publisher`` after its events."""
    return LeasedCheckpoints(lease, publisher, partitions=ADAPTER_LEASE_PARTITIONS)
