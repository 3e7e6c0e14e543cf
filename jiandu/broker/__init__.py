"""The Kafka side of the hub's core: the embedded broker, topic administration, Tansu shims.

Other layers import from here, not from the submodules.
"""

from __future__ import annotations

from jiandu.broker.admin import (
    delete_topics,
    ensure_topics,
    group_offsets,
    high_watermarks,
    require_reachable,
    unreachable,
)
from jiandu.broker.clients import KafkaAdminClient, KafkaConsumer
from jiandu.broker.confirmed import Outgoing, send_confirmed
from jiandu.broker.embedded import EmbeddedBroker, find_free_port
from jiandu.broker.ready import READY_TOPIC, BrokerGeneration, SameGeneration, mark_ready
from jiandu.broker.replay import ReplayReport, replay_journal
from jiandu.broker.tansu_compat import (
    faust_shims_installed,
    install_faust_shims,
    uninstall_faust_shims,
)

__all__ = [
    "READY_TOPIC",
    "BrokerGeneration",
    "EmbeddedBroker",
    "KafkaAdminClient",
    "KafkaConsumer",
    "Outgoing",
    "ReplayReport",
    "SameGeneration",
    "delete_topics",
    "ensure_topics",
    "faust_shims_installed",
    "find_free_port",
    "group_offsets",
    "high_watermarks",
    "install_faust_shims",
    "mark_ready",
    "replay_journal",
    "require_reachable",
    "send_confirmed",
    "uninstall_faust_shims",
    "unreachable",
]
