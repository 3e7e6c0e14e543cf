"""Avro encode/decode: fastavro (the hub's hot path) against the reference ``avro`` package.

Both encode and decode the same events (the conformance records) with the same
schemas in one run; the figure reported is the ratio of their throughputs.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import avro.io
import avro.schema

from jiandu.core.identity import Pseudonymiser
from jiandu.core.validation import to_event
from jiandu.serde import AvroCodec

__all__ = ["run"]

_RECORDS = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "records.jsonl"


def _events() -> list:
    out = []
    for line in _RECORDS.read_text().splitlines():
        try:
            out.append(to_event(json.loads(line), Pseudonymiser(b"bench"), 0))
        except Exception:
            continue
    return out


def _reference_encode(codec: AvroCodec, events: list) -> float:
    schemas = {name: avro.schema.parse(json.dumps(s)) for name, s in _schemas().items()}
    started = time.perf_counter()
    for event in events:
        datum = _avro_datum(event)
        buf = io.BytesIO()
        avro.io.DatumWriter(schemas[event.type]).write(datum, avro.io.BinaryEncoder(buf))
    return time.perf_counter() - started


def _schemas() -> dict:
    from jiandu.avro_schemas import all_schemas

    return all_schemas()


def _avro_datum(event) -> dict:
    from jiandu.core.timeutil import from_ms

    datum = {
        "event_id": event.event_id,
        "source": event.source,
        "source_record_id": event.source_record_id,
        "jurisdiction": event.jurisdiction,
        "occurred_at": from_ms(event.occurred_at),
        "recorded_at": from_ms(event.recorded_at),
        "ingested_at": from_ms(event.ingested_at),
    }
    datum.update(event.body)
    return datum


def run() -> dict[str, float]:
    """Events per second of both libraries and their ratio."""
    events = _events() * 4
    codec = AvroCodec()
    started = time.perf_counter()
    encoded = [codec.encode_event(e) for e in events]
    fast_encode = time.perf_counter() - started
    started = time.perf_counter()
    for data in encoded:
        codec.decode_event(data)
    fast_decode = time.perf_counter() - started
    reference = _reference_encode(codec, events)
    return {
        "events": len(events),
        "fastavro_encode_per_s": len(events) / fast_encode,
        "fastavro_decode_per_s": len(events) / fast_decode,
        "avro_encode_per_s": len(events) / reference,
        "encode_speedup_fastavro_over_avro": reference / fast_encode,
    }
