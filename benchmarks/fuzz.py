"""The long fuzz run (``python -m benchmarks fuzz``): hostile records through every way in, then a grep.

``--records N`` (default 100 000) mutated records of all 28 types (``benchmarks/hostile.py``)
go, in equal parts, through JSON lines (the intake), the push API over HTTP, the
file drop (mutated rows of every shipped agency format) and the REST poller (an
agency simulator serving them). Then every message of every topic and every file the
hub wrote is searched for the planted raw ID numbers in all their written forms.

Figures: records per way in, rejected share, push answers by status class (5xx must
be 0), processes or adapters that died (must be 0), leaks (must be 0), wall time and
the run's peak memory (ru_maxrss).
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from benchmarks.hostile import Hostile, valid_records
from jiandu.broker import EmbeddedBroker, find_free_port, high_watermarks
from jiandu.errors import JianduError
from jiandu.settings import Settings

__all__ = ["run"]

_SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "exports"
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def run(records: int = 100_000, seed: int = 20261207) -> dict[str, float]:
    """Every way in under ``records`` hostile records; the figures of the run."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="jiandu-fuzz-"))
    broker = EmbeddedBroker(find_free_port(), log_path=work / "tansu.log")
    broker.start()
    try:
        settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=f"fz{uuid4().hex[:8]}",
            data_dir=work / "data",
            pseudonym_key="fuzz-key",
            gateway_rate_requests_per_second=0.0,
            gateway_rate_records_per_second=0.0,
            metrics_ports="run=-1,filedrop=-1,rest-pull=-1,gateway=-1",
        )
        hostile = Hostile(seed, valid_records())
        share = records // 4
        figures: dict[str, float] = {}
        for name, stage in (("jsonl", _jsonl), ("push", _push), ("file drop", _file_drop), ("rest", _rest)):
            figures |= stage(settings, hostile, share, work)
            figures[f"{name}: peak memory so far, MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figures["raw ID numbers found (topics + files)"] = _leaks(settings, hostile, work)
        figures["wall time, s"] = time.monotonic() - started
        return figures
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def _jsonl(settings: Settings, hostile: Hostile, count: int, work: Path) -> dict[str, float]:
    from adapters.jsonl import ingest_jsonl
    from jiandu.cli.hub import create_topics, new_intake

    create_topics(settings)
    path = work / "hostile.jsonl"
    with path.open("wb") as out:
        for _ in range(count):
            out.write(json.dumps(hostile.record(), ensure_ascii=hostile.random.random() < 0.5).encode() + b"\n")
    publisher, intake = new_intake(settings, adapter="jsonl")
    with publisher:
        report = ingest_jsonl([path], intake)
    return {"jsonl: records": count, "jsonl: rejected share": report.rejected / max(count, 1)}


def _push(settings: Settings, hostile: Hostile, count: int, work: Path) -> dict[str, float]:
    from adapters.gateway import BATCH_PATH, hash_token, new_token
    from jiandu.cli.gateway import open_gateway

    token = new_token("fuzz-court")
    agencies = work / "agencies.yaml"
    agencies.write_text(
        f'agencies:\n  - id: fuzz-court\n    category: court\n    sources: ["court:"]\n'
        f'    token_hash: "{hash_token(token)}"\n',
        encoding="utf-8",
    )
    gateway_settings = _with(settings, gateway_agencies=str(agencies))
    server, publisher, receipts = open_gateway(gateway_settings, 0)
    court = [t for t in hostile.types() if t.startswith("court.")]
    statuses: Counter[str] = Counter()
    sent, answered, started = 0, 0, time.monotonic()
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as client:
            while sent < count:
                batch = [hostile.record(hostile.pick(court)) for _ in range(min(5, count - sent))]
                response = client.post(f"{server.url}{BATCH_PATH}", content=hostile.body(batch), timeout=60)
                statuses[str(response.status_code)] += 1
                statuses[f"{response.status_code // 100}xx"] += 1
                answered += len(batch) if response.status_code == 200 else 0
                sent += len(batch)
        alive = server.running
    finally:
        server.stop()
        publisher.close()
        receipts.close()
    elapsed = time.monotonic() - started
    return {
        "push: records": sent,
        "push: records answered one by one (200)": answered,
        "push: requests 200": statuses["200"],
        "push: requests 400 (malformed body)": statuses["400"],
        "push: requests 413 (too large)": statuses["413"],
        "push: requests other 4xx": statuses["4xx"] - statuses["400"] - statuses["413"],
        "push: requests 5xx (must be 0)": statuses["5xx"],
        "push: records/s": sent / elapsed,
        "push: gateway died (must be 0)": 0 if alive else 1,
    }


def _file_drop(settings: Settings, hostile: Hostile, count: int, work: Path) -> dict[str, float]:
    from adapters.files import SHIPPED_MAPPINGS, FileDrop, FileSeal, load_mappings
    from jiandu.cli.hub import new_intake

    drop = work / "drop"
    shutil.copytree(_SAMPLES, drop, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    exports = sorted(p for p in drop.rglob("*") if p.is_file())
    per_file = count // len(exports)
    for export in exports:
        export.write_bytes(_mutated_export(export.read_bytes(), per_file, hostile))
    publisher, intake = new_intake(settings, adapter="filedrop")
    rows = rejected = 0
    with publisher:
        drop_run = FileDrop(
            drop,
            intake,
            load_mappings(SHIPPED_MAPPINGS),
            settle_seconds=0.1,
            seal=FileSeal(settings.pseudonym_key_bytes),
        )
        receipts = list(drop_run.run(once=True))
    for receipt in receipts:
        rows += int(receipt.document.get("rows", 0))
        rejected += int(receipt.document.get("rejected", 0))
    refused = sum(1 for r in receipts if "problem" in r.document)
    return {
        "file drop: rows": rows,
        "file drop: rejected share": rejected / max(rows, 1),
        "file drop: files refused": refused,
    }


def _mutated_export(data: bytes, rows: int, hostile: Hostile) -> bytes:
    lines = data.split(b"\n")
    header, body = lines[:1], [line for line in lines[1:] if line.strip()]
    rng = hostile.random
    out = []
    for _ in range(rows):
        line = bytearray(rng.choice(body))
        roll = rng.random()
        if roll < 0.4:
            cells = line.split(b",")
            cells[rng.randrange(len(cells))] = f"X{hostile.id_number()}号".encode()
            line = bytearray(b",".join(cells))
        elif roll < 0.55 and line:
            line[rng.randrange(len(line))] = rng.randrange(256)
        elif roll < 0.56:
            line = bytearray(b"x" * 400_000)
        elif roll < 0.57:
            line = bytearray(b"[" * 60_000)
        out.append(bytes(line))
    return b"\n".join(header + out) + b"\n"


def _rest(settings: Settings, hostile: Hostile, count: int, work: Path) -> dict[str, float]:
    from adapters.leasing import SoleOwner
    from adapters.rest import CheckpointStore, SourceConfig, SourcePoller
    from jiandu.cli.hub import new_intake
    from jiandu.core.records import CATEGORIES

    records = [json.dumps(hostile.record()) for _ in range(count)]  # kept as text: the records stay small
    with _Feed(records) as url:
        config = SourceConfig(
            source="police:210100", base_url=url, allowed_sources=CATEGORIES, page_size=500, backoff_seconds=0.05
        )
        publisher, intake = new_intake(settings, adapter="rest-pull")
        with publisher:
            poller = SourcePoller(config, intake, CheckpointStore(SoleOwner()))
            polled = 0
            while summary := poller.poll():  # one page a poll here: the feed hands out no page tokens
                if not summary.records:
                    break
                polled += summary.records
            poller.close()
            report = intake.confirm()
    return {
        "rest: records": polled,
        "rest: rejected share": report.rejected / max(polled, 1),
        "rest: the benchmark's own feed (text), MiB": sum(map(len, records)) / 2**20,
    }


class _Feed:
    """A minimal agency API serving hostile records in pages (``since=c<n>``), whatever they hold."""

    def __init__(self, records: list[str]) -> None:
        import http.server
        import threading
        import urllib.parse

        pages = records

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                start = int((query.get("since") or ["c0"])[0].lstrip("c") or 0)
                end = min(len(pages), start + int((query.get("limit") or ["100"])[0]))
                page = ",".join(pages[start:end])
                data = f'{{"records": [{page}], "next_page_token": null, "cursor": "c{end}"}}'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _leaks(settings: Settings, hostile: Hostile, work: Path) -> float:
    from jiandu.cli.hub import catalogue_of
    from tests.pipeline import all_messages

    needles = _forms({*hostile.planted, *hostile.base_ids})
    catalogue = catalogue_of(settings)
    topics = [catalogue.dead_letters, *catalogue.event_topics()]
    filled = [t for (t, _), end in high_watermarks(settings.bootstrap, topics).items() if end]
    found = sum(1 for m in all_messages(settings.bootstrap, sorted(set(filled))) if any(n in m for n in needles))
    for file in settings.data_dir.rglob("*"):
        if file.is_file() and any(n in file.read_bytes() for n in needles):
            found += 1
    for file in (work / "drop").rglob("*"):
        stored = file.is_file() and (file.suffix == ".json" or file.parent.name == "done")
        if stored and any(n in file.read_bytes() for n in needles):
            found += 1
    return found


def _forms(numbers: set[str]) -> list[bytes]:
    out: set[bytes] = set()
    for number in numbers:
        for text in (number, number[:6] + number[8:17] if number[6:8] == "19" else number):
            out |= {text.encode(), text.lower().encode(), text.translate(_FULL_WIDTH).encode()}
    return sorted(out)


def _with(settings: Settings, **changes: Any) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, **changes)


if __name__ == "__main__":  # pragma: no cover
    try:
        for key, value in run().items():
            print(f"{key:44} {value:,.2f}")
    except JianduError as exc:
        raise SystemExit(str(exc)) from exc
