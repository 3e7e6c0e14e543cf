"""REST checkpoints: one document per source in the adapter checkpoints, loud when damaged."""

from __future__ import annotations

import pytest

from adapters.leasing import SoleOwner
from adapters.rest import Checkpoint, CheckpointStore, unit_of
from jiandu.errors import ConfigurationError


def test_a_fresh_source_starts_empty_and_a_saved_checkpoint_comes_back() -> None:
    documents = SoleOwner()
    store = CheckpointStore(documents)
    assert store.load("court:210102") == Checkpoint("court:210102")
    saved = Checkpoint("court:210102").advanced(cursor="c40", page_token="t40", records=40)
    store.save(saved)
    assert store.load("court:210102") == saved
    assert (saved.pages, saved.records) == (1, 40)
    assert unit_of("court:210102") == "rest:court:210102"
    assert documents.load(unit_of("court:210102"))["cursor"] == "c40"  # type: ignore[index]


def test_a_damaged_checkpoint_stops_the_source_with_what_to_do() -> None:
    documents = SoleOwner()
    store = CheckpointStore(documents)
    documents.save(unit_of("a:1"), {"source": "a:1", "cursur": "typo"})
    with pytest.raises(ConfigurationError, match=r"damaged.*rename the source"):
        store.load("a:1")
    documents.save(unit_of("b:1"), {"source": "a:1"})
    with pytest.raises(ConfigurationError, match="belongs to 'a:1'"):
        store.load("b:1")
