"""Fault injection on real processes: `kill -9` of the broker, the streams worker and the archiver while
records arrive, restarts on the same data directory, then the checks of issue 12.

The test suite runs it short (``tests/integration/test_fault_injection.py``); a longer run is a command:

    .venv/bin/python -m tests.faults --seeds 1 2 3 --persons 2000 --kills 8

It prints one line per seed (records, kills, restarts, replayed messages, leads) and exits 1 on a
failed check. Everything it starts is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from adapters.jsonl import read_lines
from consumers import read_leads
from consumers.lead_versions import WALL_CLOCK_FIELDS, is_repeat
from consumers.webhooks import webhook_group
from jiandu.broker import EmbeddedBroker, KafkaConsumer, find_free_port, high_watermarks
from jiandu.cli.archive import group_id as archive_group
from jiandu.cli.backtest import advance_clock, collide, wait_for_clock, wait_until_routed
from jiandu.cli.hub import catalogue_of, create_topics, new_intake
from jiandu.cli.processes import HubProcess, WorkerProcess
from jiandu.errors import BrokerError, DeliveryError
from jiandu.models.configuration import build_engine
from jiandu.serde import AvroCodec
from jiandu.settings import Settings, kafka_client_config
from streams import BACKTEST

__all__ = ["FaultRun", "Hub", "archive_problems", "compare_open", "run_faults"]


_CHUNK = 200
_WEBHOOK_MODELS = ("M09", "M11", "M12", "M14")
_METRICS_OFF = ",".join(
    f"{p}=-1" for p in ("run", "filedrop", "rest-pull", "gateway", "alerts", "webhooks", "archive", "console")
)


class WebhookReceiver:
    """A real HTTP receiver on 127.0.0.1 that keeps every lead version delivered to it (answers 204)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Hub:
    """The embedded broker (journal on), a streams worker, the archiver and a webhook deliverer on one data dir."""

    def __init__(self, data_dir: Path, prefix: str, *, key: str = "conformance-key") -> None:
        self.settings = Settings(
            topic_prefix=prefix,
            pseudonym_key=key,
            data_dir=data_dir,
            broker_port=find_free_port(),
            metrics_ports=_METRICS_OFF,
        )
        assert self.settings.embedded and self.settings.journal_enabled
        self.broker: EmbeddedBroker | None = None
        self.worker: WorkerProcess | None = None
        self.archiver: HubProcess | None = None
        self.webhooks: HubProcess | None = None
        self.receiver: WebhookReceiver | None = None
        self.replays: list[int] = []  # messages replayed by each broker start after the first
        self._starts = 0

    def start_broker(self) -> EmbeddedBroker:
        first = self.broker is None
        self.broker = EmbeddedBroker(
            self.settings.broker_port,
            log_path=self.settings.data_dir / "tansu.log",
            journal_dir=self.settings.journal_dir,
        )
        self.broker.start(timeout=120)
        if not first:
            self.replays.append(self.broker.replayed.messages if self.broker.replayed else 0)
        return self.broker

    def start_worker(self) -> WorkerProcess:
        self._starts += 1
        log = self.settings.data_dir / f"worker-{self._starts}.log"
        self.worker = WorkerProcess(self.settings, mode=BACKTEST, log_path=log).start()
        return self.worker

    def start_archiver(self) -> HubProcess:
        self._starts += 1
        log = self.settings.data_dir / f"archive-{self._starts}.log"
        self.archiver = HubProcess(self.settings, ["archive", "run"], name="archiver", log_path=log).start()
        return self.archiver

    def start_webhooks(self) -> HubProcess:
        """The deliverer, subscribed to every lead version, posting to a receiver in this process."""
        if self.receiver is None:
            self.receiver = WebhookReceiver()
            subscriptions = self.settings.data_dir / "subscriptions.yaml"
            subscriptions.parent.mkdir(parents=True, exist_ok=True)
            # a few models: the deliverer sends one request per version, and this machine is small
            hook = (
                f"  - id: some-models\n    url: {self.receiver.url}\n    secret: fault-injection-secret\n"
                f"    filter: {{models: [{', '.join(_WEBHOOK_MODELS)}]}}\n"
            )
            subscriptions.write_text(f"subscriptions:\n{hook}", encoding="utf-8")
            self.settings = self.settings.replace(
                webhook_subscriptions=str(subscriptions), webhook_backoff_seconds=0.2, webhook_backoff_max_seconds=1.0
            )
        self._starts += 1
        log = self.settings.data_dir / f"webhooks-{self._starts}.log"
        self.webhooks = HubProcess(self.settings, ["webhooks", "run"], name="webhooks", log_path=log).start()
        return self.webhooks

    def kill_broker(self) -> None:
        assert self.broker is not None and self.broker.pid is not None
        os.kill(self.broker.pid, signal.SIGKILL)
        self.broker.stop()  # reaps it

    def kill_broker_only(self) -> None:
        """SIGKILL, leaving the dead process to whoever supervises it."""
        assert self.broker is not None and self.broker.pid is not None
        os.kill(self.broker.pid, signal.SIGKILL)
        while self.broker.running:
            time.sleep(0.05)

    def stop(self) -> None:
        for process in (self.webhooks, self.archiver, self.worker):
            if process is not None:
                process.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.receiver is not None:
            self.receiver.stop()


@dataclass
class FaultRun:
    """What one seeded run did and found."""

    seed: int
    records: int
    kills: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    retries: int = 0
    replays: list[int] = field(default_factory=list)
    open_leads: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        verdict = "ok" if not self.problems else "FAILED: " + "; ".join(self.problems)
        return (
            f"seed {self.seed}: {self.records} records, {len(self.accepted)} accepted event ids, "
            f"kills {', '.join(self.kills) or 'none'}, {self.retries} re-sent chunks, {sum(self.replays)} messages "
            f"replayed ({' + '.join(map(str, self.replays)) or 'no broker restart'}), {self.open_leads} OPEN leads, "
            f"{self.seconds:.0f} s: {verdict}"
        )


class _Feeder(threading.Thread):
    """Submits the records in chunks, each until the broker and the journal confirmed it."""

    def __init__(self, hub: Hub, lines: list[tuple[str, bytes]], run: FaultRun, pause: float) -> None:
        super().__init__(name="feeder", daemon=True)
        self.hub, self.lines, self.run_report, self.pause = hub, lines, run, pause
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            publisher, intake = new_intake(self.hub.settings, adapter="faults", timeout=10.0)
            with publisher:
                for start in range(0, len(self.lines), _CHUNK):
                    self._submit(intake, self.lines[start : start + _CHUNK])
                    time.sleep(self.pause)
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.done.set()

    def _submit(self, intake: Any, chunk: list[tuple[str, bytes]]) -> None:
        while True:
            try:
                queued = [intake.submit_bytes(line, origin) for origin, line in chunk]
                intake.confirm()
            except (DeliveryError, BrokerError):
                self.run_report.retries += 1
                time.sleep(0.5)
                continue
            self.run_report.accepted.update(s.event_id for s in queued if s.queued and s.event_id)
            return


def run_faults(
    seed: int, records: Path, work_dir: Path, *, kills: int = 3, clock_end: int, key: str, pause: float = 0.3
) -> FaultRun:
    """Feed ``records`` while killing processes at seeded random moments; then check everything."""
    started = time.monotonic()
    rng = random.Random(seed)
    lines = [(f"{records.name}:{n}", line) for n, line in read_lines(records)]
    report = FaultRun(seed, len(lines))
    hub = Hub(work_dir / f"seed{seed}", f"f{seed}-{rng.getrandbits(32):08x}", key=key)
    try:
        hub.start_broker()
        create_topics(hub.settings)
        hub.start_worker()
        hub.start_archiver()
        hub.start_webhooks()
        feeder = _Feeder(hub, lines, report, pause)
        feeder.start()
        for _ in range(kills):
            if feeder.done.wait(rng.uniform(1.0, 4.0)):
                break
            _kill_one(hub, rng.choice(("broker", "worker", "archiver", "webhooks", "broker")), report)
        feeder.join(timeout=600)
        if feeder.error is not None:
            raise feeder.error
        report.replays = hub.replays
        _check(hub, records, clock_end, report)
    finally:
        hub.stop()
    report.seconds = time.monotonic() - started
    return report


def _kill_one(hub: Hub, target: str, report: FaultRun) -> None:
    """`kill -9` one process and restart it on the same data directory (a broker restart restarts its clients,
    as `jiandu run` does: their group offsets and the worker's changelog went with the broker)."""
    report.kills.append(target)
    assert hub.worker is not None and hub.archiver is not None and hub.webhooks is not None
    if target == "webhooks":
        hub.webhooks.kill()
        hub.start_webhooks()
    elif target == "worker":
        hub.worker.kill()
        hub.start_worker()
    elif target == "archiver":
        hub.archiver.kill()
        hub.start_archiver()
    else:
        hub.kill_broker()
        hub.worker.kill()
        hub.archiver.kill()
        hub.webhooks.kill()
        hub.start_broker()
        hub.start_worker()
        hub.start_archiver()
        hub.start_webhooks()


def _check(hub: Hub, records: Path, clock_end: int, report: FaultRun) -> None:
    settings = hub.settings
    assert hub.worker is not None and hub.archiver is not None
    on_topics = _event_ids(settings)
    missing = report.accepted - on_topics
    if missing:
        report.problems.append(f"{len(missing)} accepted event ids not on their topics, e.g. {sorted(missing)[:3]}")
    wait_until_routed(settings, hub.worker, timeout=300, show_progress=False)
    publisher, _ = new_intake(settings.replace(journal="off"), adapter="ticks")
    with publisher:
        advance_clock(settings, publisher, clock_end)
    wait_for_clock(settings, clock_end, hub.worker, timeout=300, show_progress=False)
    final = read_leads(kafka_client_config(settings), catalogue_of(settings).leads)
    streamed = _open(final.values())
    batch = _open(collide(build_engine(settings), settings, [records], clock_end))
    report.open_leads = len(streamed)
    problem = compare_open(streamed, batch)
    if problem:
        report.problems.append(f"OPEN leads differ from the batch evaluator's: {problem}")
    assert hub.webhooks is not None and hub.receiver is not None
    _wait_committed(settings, archive_group(settings), hub.archiver)
    report.problems.extend(_archive_problems(settings, final))
    _wait_committed(settings, webhook_group(catalogue_of(settings)), hub.webhooks)
    report.problems.extend(_webhook_problems(settings, hub.receiver.received))


def compare_open(got: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> str | None:
    """None when ``got`` has exactly the ``expected`` OPEN leads (every model, M03/M04 included: a lead raised
    before the record that ended the state arrived is withdrawn); else what differs."""
    missing = expected.keys() - got.keys()
    extra = got.keys() - expected.keys()
    differ = {k for k in got.keys() & expected.keys() if got[k] != expected[k]}
    if not (missing or extra or differ):
        return None
    examples = sorted(missing | extra | differ)[:3]
    return f"{len(missing)} missing, {len(extra)} extra, {len(differ)} different, e.g. {examples}"


def _open(leads: Any) -> dict[str, dict[str, Any]]:
    return {
        lead.lead_id: {k: v for k, v in lead.to_json().items() if k not in WALL_CLOCK_FIELDS}
        for lead in leads
        if lead.status == "OPEN"
    }


def _event_ids(settings: Settings) -> set[str]:
    catalogue = catalogue_of(settings)
    codec = AvroCodec()
    ends = high_watermarks(settings.bootstrap, catalogue.event_topics())
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    found: set[str] = set()
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                found.update(str(codec.decode(r.value)[1]["event_id"]) for r in batch)
    finally:
        consumer.close()
    return found


def _wait_committed(settings: Settings, group: str, process: HubProcess, timeout: float = 120) -> None:
    """Until ``group`` (the archiver's, the deliverer's) committed the lead topic to its end."""
    topic = catalogue_of(settings).leads
    ends = high_watermarks(settings.bootstrap, [topic])
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=group)
    deadline = time.monotonic() + timeout
    try:
        while any((consumer.committed(TopicPartition(t, p)) or 0) < end for (t, p), end in ends.items()):
            process.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} did not catch up with the lead topic")
            time.sleep(0.3)
    finally:
        consumer.close()


def _webhook_problems(settings: Settings, received: list[dict[str, Any]]) -> list[str]:
    """Every version of the subscribed models on the lead topic was delivered, none more than twice (identical),
    none moved a lead back."""

    def content(lead: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in lead.items() if k not in WALL_CLOCK_FIELDS}, sort_keys=True)

    counts = Counter((body["lead_id"], content(body)) for body in list(received))
    on_topic = {
        (lead["lead_id"], content(lead)) for lead in _all_versions(settings) if lead["model_id"] in _WEBHOOK_MODELS
    }
    problems = []
    lost = on_topic - counts.keys()
    if lost:
        problems.append(f"webhooks: {len(lost)} lead versions never delivered, e.g. {sorted(lost)[0][0]}")
    thrice = [key for key, n in counts.items() if n > 2]
    if thrice:
        problems.append(f"webhooks: {len(thrice)} versions delivered more than twice, e.g. {thrice[0][0]}")
    delivered: dict[str, list[str]] = {}
    for body in received:  # a version delivered again after a later one moves the lead back (A, B, A)
        seen = delivered.setdefault(body["lead_id"], [])
        version = content(body)
        if seen and version != seen[-1] and version in seen:
            problems.append(f"webhooks: lead {body['lead_id']} delivered back to an earlier {body['status']} version")
        seen.append(version)
    return problems[:10]


def _all_versions(settings: Settings) -> list[dict[str, Any]]:
    from jiandu.core.leads import Lead

    topic = catalogue_of(settings).leads
    codec = AvroCodec()
    ends = high_watermarks(settings.bootstrap, [topic])
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    versions: list[dict[str, Any]] = []
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while any(consumer.position(tp) < ends[(tp.topic, tp.partition)] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                versions.extend(Lead.from_avro(codec.decode(r.value)[1]).to_json() for r in batch)
    finally:
        consumer.close()
    return versions


def _archive_problems(settings: Settings, final: dict[str, Any]) -> list[str]:
    """The archiver's SQLite archive in the data directory (:func:`archive_problems`)."""
    path = settings.data_dir / "archive.sqlite3"  # open_archive's SQLite with JIANDU_ARCHIVE_URL empty
    if not path.is_file():
        return ["no archive database in the data directory"]
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in db.execute("SELECT * FROM lead_versions ORDER BY lead_id, version")]
        latest = {r["lead_id"]: dict(r) for r in db.execute("SELECT * FROM leads")}
    finally:
        db.close()
    return archive_problems(rows, latest, final)


def archive_problems(rows: list[dict[str, Any]], latest: dict[str, dict[str, Any]], final: dict[str, Any]) -> list[str]:
    """No version stored twice, one raised time per lead, and each lead's latest row where the topic ends
    (``rows``: every stored version by lead and version; ``latest``: the archive's row per lead)."""
    from consumers.archive.store import _row_digest  # the archive's own notion of a version's content

    history: dict[str, list[str]] = {}
    raised: dict[str, set[int]] = {}
    problems = []
    for row in rows:
        seen = history.setdefault(row["lead_id"], [])
        if is_repeat(seen, _row_digest(row)):
            problems.append(f"archive: lead {row['lead_id']} has a version stored twice")
        seen.append(_row_digest(row))
        raised.setdefault(row["lead_id"], set()).add(row["raised_at"])
    problems += [f"archive: lead {i} has {len(r)} raised times" for i, r in raised.items() if len(r) > 1]
    fields = ("status", "status_reason", "severity", "due_at", "closed_at")
    astray = [
        lead_id
        for lead_id, lead in final.items()
        if lead_id not in latest or any(latest[lead_id][f] != getattr(lead, f) for f in fields)
    ]
    if astray:
        first = astray[0]
        archived = {f: latest.get(first, {}).get(f) for f in fields}
        published = {f: getattr(final[first], f) for f in fields}
        problems.append(
            f"archive: {len(astray)} leads whose latest row is not the topic's last version, e.g. {first}: "
            f"archived {archived}, published {published}"
        )
    return problems[:10]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--persons", type=int, default=2000, help="size of the generated history (jiandu simulate)")
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between chunks of 200 records")
    args = parser.parse_args()
    key = "fault-injection-key"
    failed = False
    with tempfile.TemporaryDirectory(prefix="jiandu-faults-") as tmp:
        work = Path(tmp)
        for seed in args.seeds:
            records = work / f"history-{seed}.jsonl"
            env = {k: v for k, v in os.environ.items() if not k.startswith("JIANDU_")} | {"JIANDU_PSEUDONYM_KEY": key}
            simulate = ["simulate", "--seed", str(seed), "--persons", str(args.persons), "--out", str(records)]
            made = subprocess.run(
                [sys.executable, "-m", "jiandu.cli", *simulate],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            from jiandu.core.timeutil import parse_datetime, to_ms

            clock_end = to_ms(parse_datetime(made.stdout.split("clock end ")[1].split(";")[0]))
            report = run_faults(seed, records, work, kills=args.kills, clock_end=clock_end, key=key, pause=args.pause)
            print(report, flush=True)
            failed |= bool(report.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
