"""``jiandu run``: the whole hub on one machine, with a sample replayed live.

Embedded broker (unless JIANDU_KAFKA_BOOTSTRAP is set) → topics → streams worker
(live clock) → a generated sample of agency records replayed over ~30 s → one
line per lead in the terminal.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from adapters.jsonl import read_lines
from consumers.lead_tail import follow_leads, lead_line
from jiandu.cli.hub import broker_for, catalogue_of, create_topics, new_intake
from jiandu.cli.processes import WorkerProcess
from jiandu.settings import Settings, kafka_client_config
from streams import LIVE

__all__ = ["run_hub"]

_REPLAY_SECONDS = 30.0


def run_hub(settings: Settings, *, sample: Path | None, duration: float | None) -> int:
    """Run until Ctrl-C (or ``duration`` seconds); stops everything it started."""
    settings.require_pseudonym_key()
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with broker_for(settings, log_dir=data_dir) as settings:
        create_topics(settings)
        print(f"broker: {settings.bootstrap}{' (embedded Tansu)' if settings.embedded else ''}")
        worker = WorkerProcess(
            settings, mode=LIVE, log_path=data_dir / "worker.log", web_port=settings.worker_web_port
        ).start()
        print(f"streams worker: pid {worker.pid}, log {data_dir / 'worker.log'}")
        try:
            sample = sample or _generated_sample(data_dir)
            threading.Thread(target=_replay, args=(settings, sample, stop), daemon=True).start()
            _print_leads(settings, worker, stop, duration)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            worker.stop()
    return 0


def _generated_sample(data_dir: Path) -> Path:
    from jiandu.simulate import write_sample

    path = data_dir / "sample-records.jsonl"
    write_sample(path, now=datetime.now(UTC))
    return path


def _replay(settings: Settings, sample: Path, stop: threading.Event) -> None:
    lines = list(read_lines(sample))
    publisher, intake = new_intake(settings, adapter="sample-replay")
    pause = _REPLAY_SECONDS / max(len(lines), 1)
    with publisher:
        for number, line in lines:
            if stop.is_set():
                break
            intake.submit_bytes(line, f"{sample.name}:{number}")
            if number % 20 == 0:
                intake.confirm()
            time.sleep(pause)
        report = intake.confirm()
    print(f"replay: {report.accepted} records accepted, {report.rejected} dead-lettered (see the dead-letter topic)")


def _print_leads(settings: Settings, worker: WorkerProcess, stop: threading.Event, duration: float | None) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    catalogue = catalogue_of(settings)

    def should_stop() -> bool:
        worker.check_alive()
        return stop.is_set() or (deadline is not None and time.monotonic() > deadline)

    print("leads (Ctrl-C stops the hub):")
    for lead in follow_leads(kafka_client_config(settings), catalogue.leads, settings.partitions, should_stop):
        print(lead_line(lead), flush=True)
        sys.stdout.flush()
