"""A tiny Faust worker for the table-recovery test in test_broker.py (run as a subprocess).

``fill``: an agent copies every message of the source topic into a Table (one key
per message), which Faust writes to the table's changelog.
``recover``: the same app, whose agent writes nothing, so the table holds only what
recovery read back from the changelog. A timer writes ``{"recovered": true,
"size": len(table)}`` to the report file once, when it first sees recovery complete.

With ``--shim`` the worker installs jiandu's Tansu shims first, as the hub does
when it runs the embedded broker.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import faust

from jiandu.broker import install_faust_shims

__all__ = ["build_app", "main"]


def build_app(args: argparse.Namespace) -> faust.App:
    """The Faust app: one source topic, one table, one agent, one reporting timer."""
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=str(args.datadir),
        web_enabled=False,
        autodiscover=False,
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        # Batch the changelog writes as a throughput-tuned worker does: the defect
        # hides the newest batch of each partition, so a lone last record hides nothing.
        # 0.05 s was not enough on a loaded CI machine: the newest batches held one record each.
        producer_linger=0.5,
    )
    table = app.Table("entries", default=str, partitions=args.partitions)
    source = app.topic(
        args.topic,
        key_type=str,
        value_type=str,
        key_serializer="raw",
        value_serializer="raw",
        partitions=args.partitions,
    )

    @app.agent(source)
    async def copy(stream: faust.StreamT) -> None:
        async for key, value in stream.items():
            if args.mode == "fill":
                table[key] = value

    @app.timer(0.1)
    async def report() -> None:
        # The size when recovery is first seen complete: a later rebalance flushes records that recovery
        # buffered past its (wrong) end, which would hide the defect
        if args.report.exists():
            return
        if app.tables.recovery.completed.is_set() and app.consumer.assignment():
            tmp = args.report.with_suffix(".tmp")
            tmp.write_text(json.dumps({"recovered": True, "size": len(table)}))
            tmp.replace(args.report)

    return app


def main() -> None:
    """Parse the arguments and run the worker until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fill", "recover"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--datadir", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--shim", action="store_true")
    args = parser.parse_args()
    if args.shim:
        install_faust_shims(fetch_max_wait_ms=10)
    app = build_app(args)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
