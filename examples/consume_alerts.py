"""A minimal downstream consumer of Jiandu Hub's alert topics (kafka-python + fastavro, nothing else).

    pip install kafka-python fastavro
    python consume_alerts.py --bootstrap 127.0.0.1:19092 --topic jiandu.alerts.dept.execution \
        --group my-team --schemas path/to/jiandu/schemas

Every value is Avro single-object encoding: 0xC3 0x01, the 8-byte CRC-64-AVRO
fingerprint of the writer schema (little-endian), then the Avro body. The
consumer finds the writer schema by that fingerprint among the ``.avsc`` files,
so it keeps reading when the hub adds a (backward-compatible) schema version:
add the new ``.avsc`` to the folder. Keys are the ``lead_id`` (UTF-8).

The consumer group's session is short (``--session-timeout``, 6 s): on the hub's
embedded broker a consumer joins its group only after about half a session, so the
client default of 45 s meant ≈ 23 s before the first message (docs/downstream.md).
One Ctrl-C stops it: the group is left within ``_CLOSE_TIMEOUT_MS``.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import threading
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from kafka import KafkaConsumer

MAGIC = b"\xc3\x01"
#: Leaving the group on Ctrl-C is a courtesy (the broker drops a silent member after a session anyway):
#: never wait long for it.
_CLOSE_TIMEOUT_MS = 2000
_POLL_MS = 500  # how soon a Ctrl-C is noticed


def load_schemas(folder: Path) -> dict[bytes, Any]:
    """Parsed writer schemas by their 8-byte fingerprint."""
    schemas = {}
    for path in sorted(folder.glob("*.avsc")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
        schemas[fp] = fastavro.parse_schema(schema, named_schemas={})
    return schemas


def decode(value: bytes, schemas: dict[bytes, Any]) -> dict[str, Any]:
    """One single-object encoded message → its record."""
    if value[:2] != MAGIC:
        raise ValueError("not Avro single-object encoding")
    schema = schemas.get(value[2:10])
    if schema is None:
        raise ValueError(f"unknown writer schema {value[2:10].hex()}: get the hub's current schemas/*.avsc")
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), schema)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka bootstrap servers, comma-separated")
    parser.add_argument("--topic", default="jiandu.alerts.severity.high", help="the alert topic to read")
    parser.add_argument("--group", default="example-alerts-reader", help="your team's consumer group")
    parser.add_argument(
        "--schemas",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "schemas",
        help="folder of the hub's .avsc files",
    )
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=6.0,
        help="consumer group session in seconds: 6 on the embedded broker (joins take half of it); 10-45 on Kafka",
    )
    args = parser.parse_args()
    schemas = load_schemas(args.schemas)
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=int(args.session_timeout * 1000),
        heartbeat_interval_ms=max(int(args.session_timeout * 1000) // 3, 500),
    )
    latest: dict[str, int] = {}  # lead_id -> updated_at of the newest version handled
    stop = _stop_on_ctrl_c()
    try:
        while not stop.is_set():
            for messages in consumer.poll(timeout_ms=_POLL_MS).values():
                for message in messages:
                    handle(decode(message.value, schemas), latest)
                consumer.commit()  # after handling: a crash repeats a version, it never skips one
    finally:
        # autocommit=False: every handled version was committed already; a bounded close leaves the group
        consumer.close(autocommit=False, timeout_ms=_CLOSE_TIMEOUT_MS)


def handle(lead: dict[str, Any], latest: dict[str, int]) -> None:
    """Print a lead version once: a repeat (at-least-once delivery) or an older version is skipped."""
    updated = lead["updated_at"]  # a datetime (timestamp-millis); versions are idempotent by this
    stamp = int(updated.timestamp() * 1000) if hasattr(updated, "timestamp") else int(updated)
    if latest.get(lead["lead_id"], -1) >= stamp:
        return
    latest[lead["lead_id"]] = stamp
    print(
        f"[{lead['model_id']} {lead['severity']} {lead['status']}] {lead['department']} {lead['summary_zh']}",
        flush=True,
    )


def _stop_on_ctrl_c() -> threading.Event:
    """An event set by the first Ctrl-C (or SIGTERM); the second one stops at once.

    A KeyboardInterrupt raised wherever the main thread happens to be can land inside the client
    library and be lost there (seen on a loaded machine); a flag the loop checks between polls cannot.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise SystemExit(130)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


if __name__ == "__main__":
    main()
