"""Where a lead's latency goes, hop by hop, from the timestamps the pipeline leaves on its topics.

For each trigger whose lead arrived: the intake's acceptance (``ingested_at``, carried
with the routed fact), the router's producer timestamp on the facts message that
carried it, the evaluator's producer timestamp on the lead, and the moment the
benchmark's tail received the lead. Hops:

* ``route``: intake accepted → facts message produced (intake linger and send, the
  router's fetch wait on the event topic, decoding and routing the batch);
* ``evaluate``: facts message produced → lead produced (router linger, the evaluator's
  fetch wait on the facts topic, queueing behind earlier messages, evaluation);
* ``tail``: lead produced → received by the benchmark (evaluator linger, the tail's fetch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.topic_scan import scan_topics
from jiandu.serde import AvroCodec
from streams.routing import ROUTED_BATCH_SCHEMA

__all__ = ["HOPS", "HopLatency", "hop_latencies"]

HOPS = ("route", "evaluate", "tail")


@dataclass(frozen=True, slots=True)
class HopLatency:
    """Per hop, the milliseconds each lead spent there (in no particular order)."""

    samples: Mapping[str, Sequence[float]]


def hop_latencies(
    bootstrap: str, facts_topic: str, arrivals: Mapping[str, tuple[float, int]], *, timeout: float
) -> HopLatency:
    """Hop times of the leads in ``arrivals`` (trigger event id → (received epoch s, lead produced ms))."""
    routed = _routed_times(bootstrap, facts_topic, set(arrivals), timeout=timeout)
    samples: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for event_id, (ingested_ms, facts_ms) in routed.items():
        received, lead_ms = arrivals[event_id]
        samples["route"].append(facts_ms - ingested_ms)
        samples["evaluate"].append(lead_ms - facts_ms)
        samples["tail"].append(received * 1000 - lead_ms)
    return HopLatency(samples)


def _routed_times(bootstrap: str, facts_topic: str, wanted: set[str], *, timeout: float) -> dict[str, tuple[int, int]]:
    """Trigger event id → (ingested at, facts message produced at), epoch ms, first routing only."""
    codec = AvroCodec()
    codec.register("routed_batch", ROUTED_BATCH_SCHEMA)
    found: dict[str, tuple[int, int]] = {}

    def visit(_: str, records: Sequence[Any]) -> None:
        for record in records:
            name, value = codec.decode(record.value)
            if name != "routed_batch":
                continue  # a clock tick
            for entry in value["facts"]:
                if entry["fact"] and entry["ingested_at"]:
                    event_id = _event_id(entry["fact"])
                    if event_id in wanted:
                        found.setdefault(event_id, (entry["ingested_at"], record.timestamp))

    scan_topics(bootstrap, [facts_topic], visit, timeout=timeout)
    return found


def _event_id(fact: bytes) -> str:
    """The event id of a routed fact (a JSON row that starts with it) without parsing the whole row."""
    return fact[2 : fact.index(b'"', 2)].decode()
