"""The stored form of an entity's state and the values waiting for their changelog confirmation."""

from __future__ import annotations

from pathlib import Path

import rocksdict

from jiandu.models import EntityState, Fact
from streams.state_store import Unconfirmed, pack_state, stored_offsets, unpack_state


def _state() -> EntityState:
    state = EntityState()
    state.add(Fact("e1", "court.judgment", 1_700_000_000_000, "court:210100", "210100", {"case_no": "案1\n"}))
    return state


def test_a_stored_state_carries_its_wake_ups_ahead_of_the_state() -> None:
    state = _state()
    wakes, raw = unpack_state(pack_state({"M02": 1_700_086_400_000}, state.dumps()))
    assert wakes == {"M02": 1_700_086_400_000}
    assert raw is not None and EntityState.loads(raw).facts == state.facts


def test_a_state_stored_without_wake_ups_reads_as_the_state_alone() -> None:
    state = _state()
    assert unpack_state(state.dumps()) == (None, state.dumps())  # written before the header existed
    assert unpack_state(None) == (None, None)
    assert unpack_state(pack_state({}, state.dumps()))[0] == {}


def test_a_confirmed_value_is_forgotten_unless_a_later_one_replaced_it() -> None:
    waiting = Unconfirmed()
    first, second = b"v1", b"v2-longer"
    waiting.put(b"k", first)
    waiting.put(b"k", second)
    waiting.confirmed(b"k", first)  # the older value's record was confirmed: the newer one still waits
    assert waiting.get(b"k") is second
    waiting.confirmed(b"k", second)
    assert waiting.get(b"k") is None and len(waiting) == 0


def test_the_offsets_the_stores_hold_are_read_per_partition(tmp_path: Path) -> None:
    # Faust's layout: one database per partition, <table>-<partition>.db, its offset under one key
    tables = tmp_path / "v1" / "tables"
    for partition, offset in ((0, 41), (3, 7)):
        db = rocksdict.Rdict(str(tables / f"entity_state-{partition}.db"), options=rocksdict.Options(raw_mode=True))
        db[b"__faust\0offset__"] = str(offset).encode()
        db[b"P:1"] = b"{}\n[]"
        db.close()
    rocksdict.Rdict(str(tables / "entity_state-5.db"), options=rocksdict.Options(raw_mode=True)).close()  # no offset
    assert stored_offsets(tmp_path) == {0: 41, 3: 7}
    assert stored_offsets(tmp_path / "absent") == {}
