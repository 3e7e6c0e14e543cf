"""The router's murmur2 against aiokafka's, whose partitions the facts topic and the table share."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.murmur2 import murmur2


@settings(max_examples=2000, derandomize=True)
@given(data=st.binary(max_size=200))
def test_murmur2_equals_aiokafkas_for_every_length(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@pytest.mark.parametrize(
    ("data", "java"),
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ],
)
def test_murmur2_gives_the_java_clients_values(data: bytes, java: int) -> None:
    """Kafka's own test vectors (``UtilsTest.testMurmur2``, signed ints there)."""
    assert murmur2(data) == java % 2**32
