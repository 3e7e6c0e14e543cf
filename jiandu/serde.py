"""Avro single-object encoding (0xC3 0x01 + CRC-64-AVRO fingerprint + body).

Any consumer can find the writer's schema by the fingerprint in the first ten
bytes. fastavro carries the hot path (measured: benchmarks/serde.py); the
reference ``avro`` package checks compatibility of schema changes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import avro.compatibility
import avro.schema
import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from jiandu.avro_schemas import all_schemas
from jiandu.core.events import Event
from jiandu.core.timeutil import to_ms
from jiandu.errors import SchemaError

__all__ = [
    "MAGIC",
    "AvroCodec",
    "check_backward_compatible",
    "schema_fingerprint",
]

MAGIC = b"\xc3\x01"
_HEADER = len(MAGIC) + 8
_EVENT_COMMON = ("event_id", "source", "source_record_id", "jurisdiction")
_EVENT_TIMES = ("occurred_at", "recorded_at", "ingested_at")


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """CRC-64-AVRO fingerprint of the schema's parsing canonical form, as written on the wire."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(dict(schema)), "CRC-64-AVRO"))


def check_backward_compatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Raise SchemaError unless a reader on ``new`` can read data written with ``old``."""
    reader = avro.schema.parse(json.dumps(new))
    writer = avro.schema.parse(json.dumps(old))
    result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if result.compatibility is not avro.compatibility.SchemaCompatibilityType.compatible:
        raise SchemaError(
            f"schema {new.get('name')!r} cannot read data written with its previous version: "
            f"{'; '.join(result.messages)} at {', '.join(result.locations)}. "
            "Add new fields with a default, never remove or retype a field."
        )


class AvroCodec:
    """Encodes and decodes every schema of the hub, by name and by fingerprint."""

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        # each schema parsed twice: as it is, and with the event times as plain longs (epoch ms) for
        # decode_event: fastavro makes a datetime of each, which the event turned back into ms (≈ 40 % of
        # decoding an event)
        self._by_name: dict[str, tuple[bytes, Any, Any]] = {}  # name → fingerprint, parsed, times as ms
        self._by_fingerprint: dict[bytes, tuple[str, Any, Any]] = {}  # fingerprint → name, parsed, times as ms
        for name, schema in (schemas or all_schemas()).items():
            self.register(name, schema)

    def register(self, name: str, schema: Mapping[str, Any]) -> bytes:
        """Add a schema (e.g. an older version, for reading old data); returns its fingerprint."""
        parsed = fastavro.parse_schema(dict(schema), named_schemas={})
        times_as_ms = fastavro.parse_schema(_event_times_as_longs(schema), named_schemas={})
        fp = schema_fingerprint(schema)
        self._by_name.setdefault(name, (fp, parsed, times_as_ms))
        self._by_fingerprint[fp] = (name, parsed, times_as_ms)
        return fp

    def fingerprint_of(self, name: str) -> bytes:
        """The fingerprint of the current schema ``name``."""
        return self._by_name[name][0]

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``record`` with the current schema ``name``."""
        fp, parsed, _ = self._by_name[name]
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(fp)
        try:
            fastavro.schemaless_writer(out, parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SchemaError(f"cannot encode a {name} record: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(schema name, record) of a single-object encoded message."""
        return self._decode(data, times_as_ms=False)

    def _decode(self, data: bytes, *, times_as_ms: bool) -> tuple[str, dict[str, Any]]:
        if data[:2] != MAGIC or len(data) < _HEADER:
            raise SchemaError("not Avro single-object encoding (missing 0xC3 0x01 header)")
        fp = bytes(data[2:_HEADER])
        known = self._by_fingerprint.get(fp)
        if known is None:
            raise SchemaError(
                f"unknown writer schema fingerprint {fp.hex()}: register the writer's schema with AvroCodec.register()"
            )
        name, parsed, parsed_times_as_ms = known
        _, current, current_times_as_ms = self._by_name[name]
        writer, reader = (parsed_times_as_ms, current_times_as_ms) if times_as_ms else (parsed, current)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[_HEADER:]), writer, reader)
        except (ValueError, TypeError, EOFError, StopIteration) as exc:
            raise SchemaError(f"cannot decode a {name} record: {exc}") from exc
        return name, record  # type: ignore[return-value]

    def encode_event(self, event: Event) -> bytes:
        """An event with the schema of its type."""
        record: dict[str, Any] = {name: getattr(event, name) for name in _EVENT_COMMON}
        record.update(occurred_at=event.occurred_at, recorded_at=event.recorded_at, ingested_at=event.ingested_at)
        record.update(event.body)
        return self.encode(event.type, record)

    def decode_event(self, data: bytes) -> Event:
        """Inverse of :meth:`encode_event`."""
        name, record = self._decode(data, times_as_ms=True)
        return Event(
            type=name,
            event_id=record.pop("event_id"),
            source=record.pop("source"),
            source_record_id=record.pop("source_record_id"),
            jurisdiction=record.pop("jurisdiction"),
            occurred_at=_ms(record.pop("occurred_at")),
            recorded_at=_ms(record.pop("recorded_at")),
            ingested_at=_ms(record.pop("ingested_at")),
            body=record,
        )

    def names(self) -> Iterable[str]:
        """Names of the current schemas."""
        return self._by_name.keys()


def _event_times_as_longs(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with its top-level event times (occurred, recorded, ingested) as plain longs."""
    fields = [
        {**f, "type": "long"} if f["name"] in _EVENT_TIMES and _is_timestamp_ms(f["type"]) else f
        for f in schema.get("fields", ())
    ]
    return {**schema, "fields": fields} if "fields" in schema else dict(schema)


def _is_timestamp_ms(kind: object) -> bool:
    return isinstance(kind, Mapping) and kind.get("type") == "long" and kind.get("logicalType") == "timestamp-millis"


def _ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else to_ms(value)
