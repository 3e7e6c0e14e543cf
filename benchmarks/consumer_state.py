"""What the consumers' per-lead state costs (``python -m benchmarks consumer-state``): memory and restore.

- memory: the bytes a replica holds per lead (``tracemalloc`` over a table of JSON values as
  ``consumers.lead_versions.LeadLedger`` writes them: two versions seen, one severity);
- restore: that many lead states written to a changelog of 4 partitions on a fresh embedded broker,
  read back by :class:`consumers._changelog.ChangelogState` as a replica does when it is assigned
  every partition; then again after a rebalance that kept them (only the tail is read).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from kafka import KafkaProducer, TopicPartition

from consumers._changelog import ChangelogState
from jiandu.broker import EmbeddedBroker, ensure_topics, find_free_port
from jiandu.core.leads import lead_id_of
from jiandu.topics import TopicCatalogue

__all__ = ["run"]


def _value(n: int, versions: int) -> bytes:
    digests = [hashlib.sha256(f"{n}/{v}".encode()).hexdigest()[:32] for v in range(versions)]
    return json.dumps({"seen": {"": digests}, "sev": ["HIGH"]}, separators=(",", ":")).encode()


def _bytes_per_lead(leads: int) -> float:
    tracemalloc.start()
    table = {f"jiandu-alerts\x1f{lead_id_of('M02', f'e{n}')}".encode(): _value(n, 2) for n in range(leads)}
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(table) == leads
    return held / leads


def run(leads: int = 100_000) -> dict[str, float]:
    """Measure once; returns the figures."""
    figures = {"memory per lead, 2 versions seen (bytes)": _bytes_per_lead(leads)}
    with tempfile.TemporaryDirectory(prefix="jiandu-bench-state-", dir=".") as tmp:
        broker = EmbeddedBroker(find_free_port(), log_path=Path(tmp) / "tansu.log")
        broker.start()
        try:
            catalogue = TopicCatalogue("bench", 4)
            ensure_topics(broker.bootstrap, catalogue.specs())
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=20, batch_size=1 << 20)
            for n in range(leads):
                key = f"g\x1f{lead_id_of('M02', f'e{n}')}".encode()
                producer.send(catalogue.alerts_state, key=key, value=_value(n, 2), partition=n % 4)
            producer.flush()
            producer.close()
            config = {"bootstrap_servers": broker.bootstrap}
            state = ChangelogState(config, catalogue.alerts_state, input_topic=catalogue.leads, namespace="g")
            assigned = [TopicPartition(catalogue.leads, p) for p in range(4)]
            for label in ("restore, every partition (s)", "restore after a rebalance that kept them (s)"):
                state.on_partitions_revoked(assigned)
                state.on_partitions_assigned(assigned)
                started = time.monotonic()
                state.restore()
                figures[label] = time.monotonic() - started
            figures["lead states restored"] = float(sum(state.held().values()))
            state.close()
        finally:
            broker.stop()
    figures["restore rate (lead states/s)"] = leads / figures["restore, every partition (s)"]
    return figures
