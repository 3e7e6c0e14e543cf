"""The Avro contract: schemas parse, files are current, single-object encoding, compatibility."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import avro.schema
import pytest

from jiandu.avro_schemas import NAMESPACE, all_schemas
from jiandu.core.events import Event
from jiandu.errors import SchemaError
from jiandu.serde import MAGIC, AvroCodec, check_backward_compatible, schema_fingerprint

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _fields(schema: dict) -> list[dict]:
    return schema["fields"]


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_every_schema_parses_is_documented_and_committed(name: str) -> None:
    schema = all_schemas()[name]
    avro.schema.parse(json.dumps(schema))
    assert schema["namespace"] == NAMESPACE
    assert all(f.get("doc") for f in _fields(schema)), "every field is documented"
    committed = json.loads((SCHEMAS / f"{name}.avsc").read_text(encoding="utf-8"))
    assert committed == schema, "run `jiandu schemas --write` after changing the catalogue"


def _rabin(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification gives it."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_fingerprint_is_crc64_avro_of_the_parsing_canonical_form() -> None:
    from fastavro.schema import to_parsing_canonical_form

    assert _rabin(b'"int"') == 0x7275D51A3F395C8F  # the specification's test vector
    for schema in all_schemas().values():
        canonical = to_parsing_canonical_form(schema).encode()
        assert schema_fingerprint(schema) == _rabin(canonical).to_bytes(8, "little")
        # [PRIMITIVES]: logical types collapse to "long"/"int" (the avro package keeps {"type":"long"})
        assert b'{"type":"long"}' not in canonical


def test_event_round_trip_with_single_object_header() -> None:
    codec = AvroCodec()
    event = Event(
        type="admin.penalty_decided",
        event_id="admin:210102/admin.penalty_decided/X1",
        source="admin:210102",
        source_record_id="X1",
        jurisdiction="210102",
        occurred_at=1_709_280_000_000,
        recorded_at=1_709_280_000_000,
        ingested_at=1_709_290_000_000,
        body={
            "admin_case_no": "沈环罚〔2024〕1号",
            "agency_domain": "ENVIRONMENT",
            "party": {"kind": "ORG", "key": "91350100M000100Y43"},
            "violation_code": "ENV_HAZARDOUS_WASTE_DUMPING",
            "quantity": Decimal("3.50"),
            "unit": "吨",
            "amount_cny": None,
        },
    )
    data = codec.encode_event(event)
    assert data[:2] == MAGIC
    assert data[2:10] == codec.fingerprint_of("admin.penalty_decided")
    assert codec.decode_event(data) == event


def test_unknown_fingerprint_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match="unknown writer schema fingerprint"):
        AvroCodec().decode(MAGIC + b"\0" * 8 + b"\0")


def test_adding_a_field_with_a_default_is_backward_compatible() -> None:
    old = all_schemas()["police.alcohol_test"]
    new = copy.deepcopy(old)
    new["fields"].append({"name": "device_id", "type": ["null", "string"], "default": None, "doc": "analyser"})
    check_backward_compatible(old, new)
    codec = AvroCodec({"police.alcohol_test": new})
    old_fp = codec.register("police.alcohol_test", old)
    assert old_fp != codec.fingerprint_of("police.alcohol_test")


def test_adding_a_required_field_or_retyping_one_is_refused() -> None:
    old = all_schemas()["police.alcohol_test"]
    required = copy.deepcopy(old)
    required["fields"].append({"name": "device_id", "type": "string", "doc": "analyser"})
    with pytest.raises(SchemaError, match="cannot read data written with its previous version"):
        check_backward_compatible(old, required)
    retyped = copy.deepcopy(old)
    next(f for f in retyped["fields"] if f["name"] == "test_no")["type"] = "int"
    with pytest.raises(SchemaError):
        check_backward_compatible(old, retyped)


_EVENT_SCHEMAS = sorted(
    n for n, s in all_schemas().items() if {"occurred_at", "ingested_at"} <= {f["name"] for f in s["fields"]}
)
_PRIMITIVE_SAMPLES = {"string": "s", "long": 1000, "int": 7, "boolean": True, "double": 0.5}


def _sample(kind: object, n: int, named: dict[str, object]) -> object:
    """A value of an Avro type (the first branch of a union that is not null); ``named``: records seen so far."""
    if isinstance(kind, list):
        return _sample(next(k for k in kind if k != "null"), n, named)
    if isinstance(kind, str):
        return _PRIMITIVE_SAMPLES[kind] if kind in _PRIMITIVE_SAMPLES else _sample(named[kind], n, named)
    assert isinstance(kind, dict)
    if "name" in kind:
        named[kind["name"]] = named[f"{NAMESPACE}.{kind['name']}"] = kind
    logical = kind.get("logicalType")
    if logical == "timestamp-millis":
        return datetime(2024, 3, 1, 8, n % 60, tzinfo=UTC)
    if logical == "date":
        return date(2024, 3, 1 + n % 28)
    if logical == "decimal":
        return Decimal("12.50")
    if kind["type"] == "enum":
        return kind["symbols"][n % len(kind["symbols"])]
    if kind["type"] == "array":
        return [_sample(kind["items"], n, named)]
    if kind["type"] == "record":
        return {f["name"]: _sample(f["type"], n + i, named) for i, f in enumerate(kind["fields"])}
    return _sample(kind["type"], n, named)


@pytest.mark.parametrize("name", _EVENT_SCHEMAS)
def test_decode_event_reads_event_times_as_ms_and_everything_else_as_decode_does(name: str) -> None:
    codec = AvroCodec()
    record = _sample(all_schemas()[name], 0, {})
    data = codec.encode(name, record)

    event, (_, decoded) = codec.decode_event(data), codec.decode(data)

    times = {t: int(decoded.pop(t).timestamp() * 1000) for t in ("occurred_at", "recorded_at", "ingested_at")}
    common = {k: decoded.pop(k) for k in ("event_id", "source", "source_record_id", "jurisdiction")}
    assert (event.occurred_at, event.recorded_at, event.ingested_at) == tuple(times.values())
    assert (event.type, event.event_id, event.source, event.source_record_id, event.jurisdiction) == (
        name,
        *common.values(),
    )
    assert event.body == decoded  # body times stay datetimes, as the models read them
