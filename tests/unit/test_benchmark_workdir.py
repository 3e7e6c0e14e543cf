"""A benchmark's working directory goes after a run and stays, logs readable, after a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.workdir import work_directory


def test_a_finished_run_leaves_nothing() -> None:
    with work_directory("jiandu-test-workdir-") as work:
        (work / "worker-0.log").write_text("fine")
    assert not work.exists()


def test_a_failed_run_keeps_its_logs_and_drops_its_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    kept: Path | None = None
    with pytest.raises(RuntimeError, match="worker exited"), work_directory("jiandu-test-workdir-") as work:
        kept = work
        (work / "worker-1.log").write_text("Traceback: the cause")
        (work / "history.jsonl").write_text("{}\n" * 10)
        raise RuntimeError("worker exited with code 1")
    assert kept is not None
    try:
        assert (kept / "worker-1.log").read_text() == "Traceback: the cause"
        assert not (kept / "history.jsonl").exists()
        assert str(kept) in capsys.readouterr().out
    finally:
        for path in kept.iterdir():
            path.unlink()
        kept.rmdir()
