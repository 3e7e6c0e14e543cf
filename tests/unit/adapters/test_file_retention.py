"""done/: exports stored sealed with their receipts, restored for an audit, deleted after the retention time."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.files import DoneFolders, FileSeal, receipt_path, restore
from adapters.files.filing import file_done
from jiandu.core.timeutil import CST, format_cst, to_ms
from jiandu.errors import InputError

KEY = b"unit-test-pseudonym-key"
NOW = to_ms(datetime(2026, 11, 22, 11, 0, tzinfo=CST))
ID_NUMBER = b"210102198503172415"


def processed(drop: Path, name: str, days_ago: float, *, data: bytes = b"id," + ID_NUMBER + b"\n") -> Path:
    """A file processed ``days_ago`` days before NOW: sealed in done/ with its receipt."""
    export = drop / "court_210102" / name
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_bytes(data)
    finished = format_cst(NOW - int(timedelta(days=days_ago).total_seconds() * 1000))
    document = {"folder": "court_210102", "file": name, "sha256": hashlib.sha256(data).hexdigest()}
    return file_done(export, {**document, "finished_at": finished}, FileSeal(KEY)).moved_to


def test_a_processed_file_is_stored_sealed_and_the_clear_one_is_gone(tmp_path: Path) -> None:
    sealed = processed(tmp_path, "判决_20240301.csv", 0)
    assert sealed == tmp_path / "court_210102" / "done" / "判决_20240301.csv.sealed"
    receipt = json.loads(receipt_path(sealed).read_text(encoding="utf-8"))
    assert receipt["moved_to"] == "done/判决_20240301.csv.sealed" and receipt["sealed"] is True
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(p.name for p in left) == ["判决_20240301.csv.receipt.json", "判决_20240301.csv.sealed"]
    assert not [p for p in left if ID_NUMBER in p.read_bytes()]


def test_the_same_export_finished_again_reuses_its_name_another_gets_its_hash(tmp_path: Path) -> None:
    first = processed(tmp_path, "x.csv", 0)
    again = processed(tmp_path, "x.csv", 0)  # a restart after a crash between the rename and the unlink
    other_data = b"other content\n"
    other = processed(tmp_path, "x.csv", 0, data=other_data)
    assert again == first
    assert other.name == f"x.{hashlib.sha256(other_data).hexdigest()[:12]}.csv.sealed"
    assert len(list(first.parent.iterdir())) == 4


def test_restore_gives_the_exact_bytes_and_never_overwrites(tmp_path: Path) -> None:
    data = "序号,身份证号\n1,210102198503172415\n".encode("gb18030") * 1000
    sealed = processed(tmp_path / "drop", "x.csv", 0, data=data)
    out = tmp_path / "audit" / "x.csv"
    out.parent.mkdir()
    copy = restore(sealed, out, FileSeal(KEY))
    assert out.read_bytes() == data and copy.sha256 == hashlib.sha256(data).hexdigest()
    assert out.stat().st_mode & 0o077 == 0, "readable by its owner only"
    with pytest.raises(InputError, match="exists: give a new file name"):
        restore(sealed, out, FileSeal(KEY))
    assert out.read_bytes() == data


def test_restore_checks_the_receipt_and_leaves_nothing_when_it_fails(tmp_path: Path) -> None:
    sealed = processed(tmp_path / "drop", "x.csv", 0)
    other = processed(tmp_path / "drop", "y.csv", 0, data=b"another file\n")
    out = tmp_path / "x.csv"
    with pytest.raises(InputError, match=r"is not the .* its receipt records"):
        restore(sealed, out, FileSeal(KEY), receipt=receipt_path(other))
    assert not out.exists()
    content = sealed.read_bytes()
    sealed.write_bytes(content[:-5])
    with pytest.raises(InputError, match="does not authenticate"):
        restore(sealed, out, FileSeal(KEY))
    assert not out.exists(), "no partial original is left behind"
    receipt_path(sealed).unlink()
    with pytest.raises(InputError, match=r"has no receipt at .*: give it with --receipt"):
        restore(sealed, out, FileSeal(KEY))


def test_retention_deletes_only_what_was_processed_longer_ago_than_the_limit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = processed(tmp_path, "old.csv", 91)
    edge = processed(tmp_path, "edge.csv", 89.9)
    new = processed(tmp_path, "new.csv", 1)
    orphan = old.with_name("orphan.csv.sealed")
    orphan.write_bytes(b"sealed without its receipt")
    os.utime(orphan, (NOW / 1000 - 100 * 86400,) * 2)
    caplog.set_level(logging.INFO, logger="adapters.files.retention")
    done = DoneFolders(tmp_path, FileSeal(KEY), retention_days=90).sweep(NOW)
    assert sorted(p.name for p in done.deleted) == ["old.csv.receipt.json", "old.csv.sealed", "orphan.csv.sealed"]
    assert done.kept == 2
    remaining = sorted(p.name for p in old.parent.iterdir())
    assert remaining == ["edge.csv.receipt.json", edge.name, "new.csv.receipt.json", new.name]
    assert "retention: deleted court_210102/done/old.csv.sealed, court_210102/done/old.csv.receipt.json" in caplog.text
    assert "0 sealed from clear, 3 files deleted, 2 kept (retention: 90 days)" in caplog.text


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    processed(tmp_path, "ancient.csv", 4000)
    done = DoneFolders(tmp_path, FileSeal(KEY), retention_days=0).sweep(NOW)
    assert done.deleted == [] and len(list((tmp_path / "court_210102" / "done").iterdir())) == 2


def test_a_file_left_in_clear_in_done_is_sealed_and_its_receipt_follows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done_folder = tmp_path / "court_210102" / "done"
    done_folder.mkdir(parents=True)
    data = b"id," + ID_NUMBER + b"\n"
    (done_folder / "legacy.csv").write_bytes(data)
    receipt = {"file": "legacy.csv", "sha256": hashlib.sha256(data).hexdigest(), "moved_to": "done/legacy.csv"}
    (done_folder / "legacy.csv.receipt.json").write_text(json.dumps(receipt), encoding="utf-8")
    caplog.set_level(logging.INFO, logger="adapters.files.retention")
    swept = DoneFolders(tmp_path, FileSeal(KEY), retention_days=90).sweep(NOW)
    assert swept.sealed == [done_folder / "legacy.csv.sealed"]
    assert sorted(p.name for p in done_folder.iterdir()) == ["legacy.csv.receipt.json", "legacy.csv.sealed"]
    assert json.loads((done_folder / "legacy.csv.receipt.json").read_text())["moved_to"] == "done/legacy.csv.sealed"
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and ID_NUMBER in p.read_bytes()]
    assert "court_210102/done/legacy.csv was in clear in done/: sealed it" in caplog.text
    out = tmp_path / "legacy.csv"
    restore(done_folder / "legacy.csv.sealed", out, FileSeal(KEY))
    assert out.read_bytes() == data
