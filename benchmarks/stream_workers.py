"""The benchmark's streams workers, started as ``jiandu backtest`` starts them."""

from __future__ import annotations

from pathlib import Path

from jiandu.cli.processes import WorkerProcess
from jiandu.settings import Settings
from streams.app import BACKTEST

__all__ = ["Workers"]


class Workers:
    """Streams workers in backtest mode, as ``jiandu backtest`` runs them: the first routes, the others
    only evaluate (one router keeps the input order); each evaluates its share of the facts partitions."""

    def __init__(self, settings: Settings, count: int, work_dir: Path, name: str) -> None:
        self.processes = [
            WorkerProcess(settings, mode=BACKTEST, log_path=work_dir / f"{name}-{n}.log", route=n == 0)
            for n in range(count)
        ]

    def start(self) -> Workers:
        for process in self.processes:
            process.start()
        return self

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def kill(self) -> None:
        for process in self.processes:
            process.kill()

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
