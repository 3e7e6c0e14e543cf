"""The Avro contract, derived from the record catalogue and the lead shape.

``schemas/*.avsc`` are these schemas written out (``jiandu schemas --write``);
a test keeps the files and this module identical.
"""

from __future__ import annotations

from typing import Any

from jiandu.core.records import COMMON_FIELDS, RECORD_TYPES, FieldKind, FieldSpec, RecordType

__all__ = [
    "NAMESPACE",
    "action_schema",
    "adapter_checkpoint_schema",
    "all_schemas",
    "dead_letter_schema",
    "event_schema",
    "lead_schema",
    "progress_schema",
    "routed_schema",
    "sealed_identity_schema",
]

NAMESPACE = "cn.jiandu"
Schema = dict[str, Any]

_TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}
_DATE = {"type": "int", "logicalType": "date"}
_DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}
_PARTY = {
    "type": "record",
    "name": "Party",
    "doc": "a natural person (pseudonymised) or an organisation (credit code in clear)",
    "fields": [
        {
            "name": "kind",
            "type": {"type": "enum", "name": "PartyKind", "symbols": ["PERSON", "ORG"]},
            "doc": "PERSON or ORG",
        },
        {"name": "key", "type": "string", "doc": "person_key (HMAC-SHA256, hex) or the 18-character credit code"},
    ],
}


def _avro_type(record: RecordType, spec: FieldSpec, defined: set[str]) -> Any:
    kind = spec.kind
    if kind is FieldKind.ENUM:
        return {"type": "enum", "name": f"{record.schema_name}{_camel(spec.name)}", "symbols": list(spec.symbols)}
    if kind in (FieldKind.PARTY, FieldKind.PARTY_LIST):
        party: Any = f"{NAMESPACE}.Party" if "Party" in defined else _PARTY
        defined.add("Party")
        return party if kind is FieldKind.PARTY else {"type": "array", "items": party}
    return {
        FieldKind.STRING: "string",
        FieldKind.INT: "int",
        FieldKind.BOOL: "boolean",
        FieldKind.DATE: _DATE,
        FieldKind.PERIOD: "string",
        FieldKind.DIVISION: "string",
        FieldKind.DECIMAL: _DECIMAL,
        FieldKind.PERSON: "string",
        FieldKind.PERSON_LIST: {"type": "array", "items": "string"},
    }[kind]


def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def _field(record: RecordType, spec: FieldSpec, defined: set[str]) -> dict[str, Any]:
    avro_type = _avro_type(record, spec, defined)
    field: dict[str, Any] = {"name": spec.kafka_name, "type": avro_type, "doc": spec.doc}
    if spec.nullable:
        field["type"] = ["null", avro_type]
        field["default"] = None
    elif spec.default is not None:
        field["default"] = spec.default
    return field


def event_schema(record: RecordType) -> Schema:
    """The Avro schema of one event type."""
    defined: set[str] = set()
    common = [
        {"name": "event_id", "type": "string", "doc": "<source>/<type>/<source_record_id>: idempotency key"},
        *(_field(record, f, defined) for f in COMMON_FIELDS),
        {"name": "occurred_at", "type": _TIMESTAMP, "doc": "when it happened in the real world"},
        {"name": "recorded_at", "type": _TIMESTAMP, "doc": "when the source system recorded it (else occurred_at)"},
        {"name": "ingested_at", "type": _TIMESTAMP, "doc": "when the hub accepted it"},
    ]
    return {
        "type": "record",
        "name": record.schema_name,
        "namespace": NAMESPACE,
        "doc": f"{record.name}: {record.doc}",
        "fields": common + [_field(record, f, defined) for f in record.fields],
    }


def lead_schema() -> Schema:
    """A version of a supervision lead (models.md, "Lead record")."""
    evidence = {
        "type": "record",
        "name": "Evidence",
        "doc": "one record the lead rests on",
        "fields": [
            {"name": "event_id", "type": "string", "doc": "event id: opens the record in its source system"},
            {"name": "type", "type": "string", "doc": "record type"},
            {"name": "source", "type": "string", "doc": "producing agency unit"},
            {"name": "occurred_at", "type": _TIMESTAMP, "doc": "when it happened"},
        ],
    }
    opt_ts = {"type": ["null", _TIMESTAMP], "default": None}
    return {
        "type": "record",
        "name": "Lead",
        "namespace": NAMESPACE,
        "doc": "a supervision lead (法律监督线索); every change is a new version keyed by lead_id",
        "fields": [
            {
                "name": "lead_id",
                "type": "string",
                "doc": "hash of model id and the lead's identity: one lead per finding",
            },
            {"name": "model_id", "type": "string", "doc": "M01..M14"},
            {"name": "model_version", "type": "string", "doc": "version of the model declaration that raised it"},
            {"name": "finding", "type": "string", "doc": "short finding code"},
            {
                "name": "severity",
                "type": {"type": "enum", "name": "Severity", "symbols": ["HIGH", "MEDIUM", "LOW"]},
                "doc": "HIGH, MEDIUM or LOW",
            },
            {"name": "department", "type": "string", "doc": "procuratorate department that handles it"},
            {"name": "jurisdiction", "type": "string", "doc": "division code of the trigger's producing unit"},
            {"name": "subject", "type": _PARTY, "doc": "who the lead is about"},
            {"name": "case_no", "type": ["null", "string"], "default": None, "doc": "case number, if any"},
            {"name": "trigger_event_id", "type": "string", "doc": "the event that started the check"},
            {"name": "evidence", "type": {"type": "array", "items": evidence}, "doc": "evidence, the trigger first"},
            {"name": "due_at", **opt_ts, "doc": "the exclusive deadline instant, if the model has one"},
            {"name": "raised_at", "type": _TIMESTAMP, "doc": "hub clock when the lead was raised"},
            {"name": "detected_at", "type": _TIMESTAMP, "doc": "wall clock when the lead was raised"},
            {
                "name": "status",
                "type": {"type": "enum", "name": "LeadStatus", "symbols": ["OPEN", "RESOLVED", "WITHDRAWN"]},
                "doc": "OPEN, RESOLVED or WITHDRAWN",
            },
            {"name": "status_reason", "type": "string", "doc": "why it has this status"},
            {"name": "closed_at", **opt_ts, "doc": "when the closing evidence occurred, if any"},
            {"name": "summary_zh", "type": "string", "doc": "what was expected, by when, and what was found"},
            {"name": "legal_basis_zh", "type": "string", "doc": "the legal basis"},
            {
                "name": "details",
                "type": {"type": "map", "values": "string"},
                "default": {},
                "doc": "model-specific figures (request_limit_days, fine_cny, ...)",
            },
            {"name": "updated_at", "type": _TIMESTAMP, "doc": "wall clock of this version"},
        ],
    }


def dead_letter_schema() -> Schema:
    """A record that could not become an event."""
    opt = {"type": ["null", "string"], "default": None}
    return {
        "type": "record",
        "name": "DeadLetter",
        "namespace": NAMESPACE,
        "doc": "an input that could not become an event; the original bytes are sealed (they may hold ID numbers)",
        "fields": [
            {"name": "reason", "type": "string", "doc": "field and rule that failed"},
            {"name": "source", **opt, "doc": "producing agency unit, if readable"},
            {"name": "record_type", **opt, "doc": "record type, if readable"},
            {"name": "source_record_id", **opt, "doc": "id in the source system, if readable"},
            {
                "name": "adapter",
                "type": "string",
                "doc": "adapter that received it (jsonl, file-drop, rest-pull, push-api)",
            },
            {"name": "origin", "type": "string", "doc": "where in the input: file and line, page, request"},
            {"name": "received_at", "type": _TIMESTAMP, "doc": "when the hub received it"},
            {
                "name": "payload_sealed",
                "type": "bytes",
                "doc": "original bytes, AES-256-GCM sealed with a key derived from the pseudonym key",
            },
        ],
    }


def routed_schema() -> Schema:
    """Internal: an event re-keyed to the entity whose state it changes, or a clock tick."""
    return {
        "type": "record",
        "name": "Routed",
        "namespace": NAMESPACE,
        "doc": "internal: event bytes re-keyed by entity, stamped with the router's hub clock",
        "fields": [
            {"name": "entity", "type": "string", "doc": "entity key (P:<person_key>, O:<credit code>, A:<admin case>)"},
            {"name": "clock", "type": "long", "doc": "hub clock of the router in epoch ms (0: none)"},
            {
                "name": "event",
                "type": ["null", "bytes"],
                "default": None,
                "doc": "single-object encoded event; null for a tick",
            },
        ],
    }


def progress_schema() -> Schema:
    """Internal: a worker's report of how far one partition's hub clock has come."""
    return {
        "type": "record",
        "name": "Progress",
        "namespace": NAMESPACE,
        "doc": "internal: hub clock of one facts partition after its leads were delivered",
        "fields": [
            {"name": "partition", "type": "int", "doc": "facts partition"},
            {"name": "clock", "type": "long", "doc": "hub clock in epoch ms"},
            {"name": "facts", "type": "long", "doc": "facts processed by this worker on the partition"},
        ],
    }


def action_schema() -> Schema:
    """An officer's action on a lead (the outcome topic): acknowledged, assigned, an outcome, closed."""
    opt = {"type": ["null", "string"], "default": None}
    return {
        "type": "record",
        "name": "Action",
        "namespace": NAMESPACE,
        "doc": "an officer's action on a lead; action_id makes replays idempotent",
        "fields": [
            {"name": "action_id", "type": "string", "doc": "unique id of the action"},
            {"name": "lead_id", "type": "string", "doc": "the lead acted on"},
            {"name": "officer", "type": "string", "doc": "who acted"},
            {"name": "action", "type": "string", "doc": "acknowledge, assign, outcome or close"},
            {"name": "assignee", **opt, "doc": "with assign: to whom"},
            {
                "name": "outcome",
                **opt,
                "doc": "with outcome: 发出纠正违法通知书, 检察建议, 立案监督, 核实不属实 or 其他",
            },
            {"name": "note", "type": "string", "default": "", "doc": "the officer's note"},
            {"name": "at", "type": _TIMESTAMP, "doc": "when the officer acted"},
        ],
    }


def sealed_identity_schema() -> Schema:
    """An ID number sealed for the console's reveal service (the identities topic)."""
    return {
        "type": "record",
        "name": "SealedIdentity",
        "namespace": NAMESPACE,
        "doc": "a raw ID number sealed by the adapter for the console's reveal service only (never in clear)",
        "fields": [
            {"name": "person_key", "type": "string", "doc": "the person's pseudonym (events.md)"},
            {"name": "key_id", "type": "string", "doc": "id of the reveal service's public key that sealed it"},
            {
                "name": "sealed",
                "type": "bytes",
                "doc": "X25519 sealed box (HKDF-SHA256, ChaCha20-Poly1305) bound to person_key",
            },
            {"name": "sealed_at", "type": _TIMESTAMP, "doc": "when the adapter sealed it"},
        ],
    }


def adapter_checkpoint_schema() -> Schema:
    """Internal: where one REST source or drop folder stands (the adapter checkpoints topic)."""
    return {
        "type": "record",
        "name": "AdapterCheckpoint",
        "namespace": NAMESPACE,
        "doc": "internal: an adapter unit's checkpoint, written after the events it counts were confirmed",
        "fields": [
            {"name": "unit", "type": "string", "doc": "rest:<source> or filedrop:<folder>; also the message key"},
            {
                "name": "document",
                "type": "string",
                "doc": "the adapter's own checkpoint as a JSON object: a REST cursor and counts, or the line "
                "reached in each file under way (adapters/rest/checkpoint.py, adapters/files/state.py)",
            },
            {"name": "written_at", "type": _TIMESTAMP, "doc": "when the replica that owned the unit wrote it"},
        ],
    }


def all_schemas() -> dict[str, Schema]:
    """Every schema by file stem (``police.case_filed``, ``lead``, ...)."""
    schemas = {name: event_schema(t) for name, t in RECORD_TYPES.items()}
    schemas.update(
        lead=lead_schema(), dead_letter=dead_letter_schema(), routed=routed_schema(), progress=progress_schema()
    )
    schemas["action"] = action_schema()
    schemas["sealed_identity"] = sealed_identity_schema()
    schemas["adapter_checkpoint"] = adapter_checkpoint_schema()
    return schemas
