"""``jiandu run``: the whole hub on one machine, with agencies sending data the three ways they do.

Embedded broker (unless JIANDU_KAFKA_BOOTSTRAP is set) → topics → streams worker
(live clock), and a generated sample of agency records arriving over ~30 s:

- police, procuratorate, correction, administrative and social-security records
  from simulated agency REST APIs, polled by ``rest-pull``;
- court and prison records pushed to the gateway (``jiandu gateway``) with
  per-agency credentials;
- the example agency exports (CSV in GB18030 / UTF-8, Chinese headers) dropped into
  a drop folder and mapped by the file-drop adapter;
- the sample's malformed lines submitted as received, so the dead-letter topic
  has something to show.

Downstream of the worker, as child processes: the alert router, the lead archive
(SQLite in the data directory unless JIANDU_ARCHIVE_URL is set), the officers'
console with a development administrator (its password is printed), and the
webhook deliverer when JIANDU_WEBHOOK_SUBSCRIPTIONS is set. Every process serves
/metrics, /healthz and /readyz (the adapters running in this process on the
``run`` port of JIANDU_METRICS_PORTS).

The terminal shows the addresses, then one line per lead version as leads arrive
and a short summary every half minute; log lines go to files in the data
directory (``run.log`` for this process, one file per child), and ``-v`` shows this
process's on stderr as well. Every port is checked before anything starts.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.jsonl import read_lines
from consumers.lead_tail import follow_leads, lead_line
from jiandu.cli.hub import catalogue_of, create_topics, new_intake, running_broker
from jiandu.cli.ports import hub_listeners, require_free
from jiandu.cli.processes import HubProcess, WorkerProcess
from jiandu.cli.run_summary import PushTotals, RunSummary
from jiandu.cli.supervise import Supervisor
from jiandu.core.identity_seal import generate_key_pair
from jiandu.observability import serve_process_metrics
from jiandu.observability.logs import configure_logging
from jiandu.security import printable
from jiandu.settings import Settings, kafka_client_config

__all__ = ["run_hub"]

_REPLAY_SECONDS = 30.0
_SUMMARY_SECONDS = 30.0
#: The streams worker's mode (``streams.LIVE``), spelled here: importing ``streams`` would register the
#: worker's metric families in this process, which would then export worker gauges it never sets.
_LIVE = "live"
_PUSHED_CATEGORIES = ("court", "prison")
_PUSH_BATCH = 20
_EXAMPLE_EXPORTS = Path(__file__).resolve().parents[2] / "samples" / "exports"


@dataclass
class SampleFeeds:
    """The sample split by the way each record reaches the hub."""

    pulled: list[dict[str, Any]] = field(default_factory=list)
    pushed: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[tuple[str, bytes]] = field(default_factory=list)


def run_hub(settings: Settings, *, sample: Path | None, duration: float | None, verbose: bool = False) -> int:
    """Run until Ctrl-C (or ``duration`` seconds); stops everything it started."""
    settings.require_pseudonym_key()
    require_free(hub_listeners(settings))
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "run.log"
    configure_logging(settings.log_level, settings.log_format, "run", log_file=log_file, to_stderr=verbose)
    feeds = split_sample(sample or _generated_sample(data_dir))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings, reveal_keys = _development_reveal_keys(settings)
    with running_broker(settings, log_dir=data_dir) as (settings, broker):
        if settings.embedded:  # a fresh embedded broker holds no changelog: stores of an earlier run are stale
            _clear_worker_stores(data_dir)
        create_topics(settings)
        print(f"broker: {settings.bootstrap}{' (embedded Tansu)' if settings.embedded else ''}")
        children = _start_children(settings, log_file, reveal_keys)
        supervisor = Supervisor(children, broker, on_fresh_broker=lambda: _clear_worker_stores(data_dir))
        push = PushTotals()
        try:
            with contextlib.ExitStack() as running:
                _serve_metrics(settings, running)
                _start_agencies(settings, feeds, push, stop, running)
                _print_leads(settings, supervisor, RunSummary(push, _SUMMARY_SECONDS), stop, duration)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            for child in reversed(children):
                child.stop()
    return 0


def _development_reveal_keys(settings: Settings) -> tuple[Settings, str]:
    """In development without reveal keys: a key pair under the data dir (kept between runs). The adapters
    seal with its public key; only the console process is given the private key file."""
    if settings.mode != "development" or settings.reveal_public_key or settings.reveal_key_files:
        return settings, settings.reveal_key_files
    directory = settings.data_dir / "reveal-keys"
    private = next(directory.glob("reveal-*.key"), None) if directory.is_dir() else None
    if private is None:
        private, public, _ = generate_key_pair(directory)
    else:
        public = private.with_suffix(".pub")
    return settings.replace(reveal_public_key=str(public)), str(private)


def _clear_worker_stores(data_dir: Path) -> None:
    """The streams workers' on-disk stores: rebuilt from the replayed events against a fresh embedded broker."""
    shutil.rmtree(data_dir / "streams", ignore_errors=True)


def _start_children(settings: Settings, own_log: Path, reveal_keys: str = "") -> list[HubProcess]:
    """The streams worker and the consuming side, each a process of its own with a log in the data dir."""
    logs = settings.data_dir
    children: list[HubProcess] = [
        WorkerProcess(settings, mode=_LIVE, log_path=logs / "worker.log", web_port=settings.worker_web_port),
        HubProcess(settings, ["alerts"], name="alert router", log_path=logs / "alerts.log"),
        HubProcess(settings, ["archive", "run"], name="archiver", log_path=logs / "archive.log"),
    ]
    users, password = _development_console_users(settings)
    children.append(
        HubProcess(
            settings,
            ["console"],
            name="console",
            log_path=logs / "console.log",
            env={"JIANDU_CONSOLE_USERS": str(users), "JIANDU_REVEAL_KEY_FILES": reveal_keys},
        )
    )
    if settings.webhook_subscriptions:
        children.append(HubProcess(settings, ["webhooks", "run"], name="webhooks", log_path=logs / "webhooks.log"))
    for child in children:
        child.start()
    started = ", ".join(f"{child.name} (pid {child.pid}, {child.log_path.name})" for child in children)
    print(f"processes: {started}; logs in {logs} (this one: {own_log.name})")
    print(
        f"console: http://127.0.0.1:{settings.console_port}/ (sign in as admin, password {password}; users in {users})"
    )
    return children


def _development_console_users(settings: Settings) -> tuple[Path, str]:
    """JIANDU_CONSOLE_USERS if set (password: yours), else a fresh file with an administrator and a random password."""
    if settings.console_users:
        return Path(settings.console_users), "(from your users file)"
    from consumers.console import hash_password

    password = secrets.token_urlsafe(9)
    path = settings.data_dir / "console-users.yaml"
    path.write_text(
        "# written by `jiandu run` for development: an administrator who sees every lead\n"
        "users:\n"
        "  - username: admin\n"
        "    name: 管理员\n"
        f'    password_hash: "{hash_password(password)}"\n'
        "    role: admin\n"
        '    jurisdiction: ""\n'
        "    reveal: true\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path, password


def _serve_metrics(settings: Settings, running: contextlib.ExitStack) -> None:
    """/metrics, /healthz and /readyz of this process: the adapters (REST pull, push API, file drop)."""
    catalogue = catalogue_of(settings)
    server = serve_process_metrics(settings, "run", [*catalogue.event_topics(), catalogue.dead_letters])
    if server is not None:
        running.callback(server.stop)
    ports = {
        "adapters": server.port if server else None,
        "worker": settings.worker_web_port,
        **{name: settings.metrics_port(name) for name in ("alerts", "archive", "console")},
        "webhooks": settings.metrics_port("webhooks") if settings.webhook_subscriptions else None,
    }
    shown = ", ".join(f"{name} :{port}" for name, port in ports.items() if port)
    print(f"metrics, /healthz, /readyz on 127.0.0.1: {shown} (deploy/prometheus/prometheus.yml scrapes them)")


def _generated_sample(data_dir: Path) -> Path:
    from jiandu.simulate import write_sample

    path = data_dir / "sample-records.jsonl"
    write_sample(path, now=datetime.now(UTC))
    return path


def split_sample(sample: Path) -> SampleFeeds:
    """Court and prison records are pushed, the rest pulled; lines that are not JSON objects go as they are."""
    feeds = SampleFeeds()
    for number, line in read_lines(sample):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            feeds.malformed.append((f"{sample.name}:{number}", line))
        elif str(record.get("source", "")).split(":")[0] in _PUSHED_CATEGORIES:
            feeds.pushed.append(record)
        else:
            feeds.pulled.append(record)
    return feeds


def _start_agencies(
    settings: Settings, feeds: SampleFeeds, push: PushTotals, stop: threading.Event, running: Any
) -> None:
    from jiandu.cli.restpull import simulated_agencies

    running.enter_context(simulated_agencies(settings, feeds.pulled, seconds=_REPLAY_SECONDS))
    print(f"REST pull: {len(feeds.pulled)} records from simulated agency APIs (police, correction, admin, social, …)")
    url, tokens = running.enter_context(_push_api(settings, feeds.pushed))
    print(f"push API: {url} (OpenAPI at {url}/openapi.json), {len(feeds.pushed)} court and prison records")
    threading.Thread(target=_push, args=(url, tokens, feeds.pushed, push, stop), daemon=True).start()
    drop = _drop_folder(settings.data_dir)
    if drop is not None:
        print(f"file drop: {drop} (example agency exports, CSV with Chinese headers, GB18030 and UTF-8)")
        threading.Thread(target=_run_file_drop, args=(settings, drop, stop), daemon=True).start()
    threading.Thread(target=_submit_malformed, args=(settings, feeds.malformed), daemon=True).start()


@contextlib.contextmanager
def _push_api(settings: Settings, records: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, str]]]:
    """The gateway with one development agency per pushing category; yields (url, token by category)."""
    from jiandu.cli.gateway import open_gateway, write_development_agencies

    credentials = settings.data_dir / "gateway-agencies.yaml"
    tokens = write_development_agencies(credentials, {str(r.get("source")) for r in records})
    with_agencies = settings.replace(gateway_agencies=str(credentials))
    server, publisher, receipts = open_gateway(with_agencies, settings.gateway_port)
    try:
        yield server.url, tokens
    finally:
        server.stop()
        publisher.close()
        receipts.close()


def _push(
    url: str, tokens: dict[str, str], records: list[dict[str, Any]], totals: PushTotals, stop: threading.Event
) -> None:
    """Push the records in batches over the replay period; print the answers added up."""
    by_category: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_category.setdefault(str(record.get("source")).split(":")[0], []).append(record)
    batches = [
        (category, group[i : i + _PUSH_BATCH])
        for category, group in by_category.items()
        for i in range(0, len(group), _PUSH_BATCH)
    ]
    batches.sort(key=lambda batch: min(str(r.get("occurred_at")) for r in batch[1]))
    pause = _REPLAY_SECONDS / max(len(batches), 1)
    with httpx.Client(timeout=30.0) as client:
        for category, batch in batches:
            if stop.is_set():
                break
            answer = client.post(
                f"{url}/api/v1/records:batch",
                json={"records": batch},
                headers={"Authorization": f"Bearer {tokens[category]}"},
            )
            if answer.status_code == 200:
                totals.add(answer.json())
            else:
                print(f"push API answered {answer.status_code}: {printable(answer.text[:200])}", file=sys.stderr)
            time.sleep(pause)
    print(totals.line(), flush=True)


def _drop_folder(data_dir: Path) -> Path | None:
    """A fresh drop folder holding a copy of the example exports (absent from a non-editable install)."""
    if not _EXAMPLE_EXPORTS.is_dir():
        return None
    drop = data_dir / "drop"
    shutil.rmtree(drop, ignore_errors=True)
    shutil.copytree(_EXAMPLE_EXPORTS, drop, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    return drop


def _run_file_drop(settings: Settings, drop: Path, stop: threading.Event) -> None:
    from adapters.files import SHIPPED_MAPPINGS, FileDrop, load_mappings

    publisher, intake = new_intake(settings, adapter="filedrop")
    with publisher:
        files = FileDrop(
            drop,
            intake,
            load_mappings(SHIPPED_MAPPINGS),
            settle_seconds=0.0,
        )
        receipts = list(files.run(once=True, stop=stop))
    accepted = sum(r.document["accepted"] for r in receipts)
    rejected = sum(r.document["rejected"] for r in receipts)
    print(f"file drop: {len(receipts)} files, {accepted} accepted, {rejected} dead-lettered; receipts in done/")


def _submit_malformed(settings: Settings, lines: list[tuple[str, bytes]]) -> None:
    publisher, intake = new_intake(settings, adapter="sample-replay")
    with publisher:
        for origin, line in lines:
            intake.submit_bytes(line, origin)
        intake.confirm()


def _print_leads(
    settings: Settings,
    supervisor: Supervisor,
    summary: RunSummary,
    stop: threading.Event,
    duration: float | None,
) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    catalogue = catalogue_of(settings)

    def should_stop() -> bool:
        supervisor.check()  # restarts a crashed child (or the broker, then its clients) with backoff
        if summary.due():
            print(summary.line(), flush=True)
        return stop.is_set() or (deadline is not None and time.monotonic() > deadline)

    print(f"leads (Ctrl-C stops the hub; log lines in {settings.data_dir}/*.log):", flush=True)
    try:
        for lead in follow_leads(kafka_client_config(settings), catalogue.leads, settings.partitions, should_stop):
            summary.lead(lead.status)
            print(lead_line(lead), flush=True)
    finally:
        print(summary.line(), flush=True)
