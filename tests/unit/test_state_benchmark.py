"""The state benchmark's sweep: person counts from the command line, a count the machine cannot hold skipped."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.__main__ import _person_counts
from benchmarks.state_scale import available_bytes, broker_bytes_needed, run


def test_person_counts_are_read_comma_separated() -> None:
    assert _person_counts("100000,1000000,3000000") == [100_000, 1_000_000, 3_000_000]
    for wrong in ("", "1e6", "100000,0"):
        with pytest.raises(argparse.ArgumentTypeError):
            _person_counts(wrong)


def test_a_count_the_in_memory_broker_cannot_hold_is_skipped_saying_so(capsys: pytest.CaptureFixture[str]) -> None:
    persons = 10_000_000_000
    assert broker_bytes_needed(persons) > available_bytes()
    assert run(persons=persons) == {}
    assert "10,000,000,000 persons skipped: the in-memory broker needs" in capsys.readouterr().out
