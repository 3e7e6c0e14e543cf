"""Checkpoints: one file per source, replaced atomically, loud when damaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.rest import Checkpoint, CheckpointStore
from jiandu.errors import ConfigurationError


def test_a_fresh_source_starts_empty_and_a_saved_checkpoint_comes_back(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "rest-pull")
    assert store.load("court:210102") == Checkpoint("court:210102")
    saved = Checkpoint("court:210102").advanced(cursor="c40", page_token="t40", records=40)
    store.save(saved)
    assert store.load("court:210102") == saved
    assert (saved.pages, saved.records) == (1, 40)
    assert store.path_of("court:210102").name == "court%3A210102.json"
    assert [p.name for p in store.directory.iterdir()] == ["court%3A210102.json"], "no temporary file is left"


def test_save_replaces_the_file_never_edits_it_in_place(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(Checkpoint("a:1", cursor="c1"))
    before = store.path_of("a:1").stat().st_ino
    store.save(Checkpoint("a:1", cursor="c2"))
    assert store.path_of("a:1").stat().st_ino != before, "a new file renamed over the old one"
    assert store.load("a:1").cursor == "c2"


def test_a_damaged_checkpoint_stops_the_source_with_what_to_do(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.path_of("a:1").write_text('{"source": "a:1", "cursor": ', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"damaged.*fix or delete it"):
        store.load("a:1")
    store.path_of("b:1").write_text('{"source": "a:1"}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="belongs to 'a:1'"):
        store.load("b:1")
