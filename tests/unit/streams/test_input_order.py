"""The router's merge back into input order: released strictly by ``jiandu-seq``, whatever the fetch order."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from jiandu.core.ordering import CLOCK_AFTER, CLOCK_BEFORE, SEQ
from streams.input_order import InputOrder, stamps_of


@dataclass(frozen=True)
class Record:
    """What an aiokafka consumer record carries that the merge reads."""

    topic: str
    partition: int
    offset: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def _stamped(seq: int, topic: str, offset: int) -> Record:
    headers = ((SEQ, b"%d" % seq), (CLOCK_BEFORE, b"%d" % (seq - 1)), (CLOCK_AFTER, b"%d" % seq))
    return Record(topic, 0, offset, b"v%d" % seq, headers)


@settings(max_examples=200, derandomize=True)
@given(topics=st.integers(min_value=1, max_value=6), events=st.integers(min_value=0, max_value=80), seed=st.integers())
def test_events_come_out_in_input_order_however_the_fetches_fall(topics: int, events: int, seed: int) -> None:
    rng = random.Random(seed)
    per_topic: dict[str, list[Record]] = {}
    for seq in range(1, events + 1):  # each topic partition holds its events in input order, as produced
        topic = f"t{rng.randrange(topics)}"
        per_topic.setdefault(topic, []).append(_stamped(seq, topic, len(per_topic.get(topic, []))))
    order = InputOrder()
    released = []
    while any(per_topic.values()):
        topic = rng.choice([t for t, records in per_topic.items() if records])
        take = rng.randint(1, 5)
        fetched, per_topic[topic] = per_topic[topic][:take], per_topic[topic][take:]
        if rng.random() < 0.2 and fetched:  # a re-delivery after a rebalance
            fetched = [*fetched, fetched[0]]
        released += order.add(fetched)
    assert [stamped for _, stamped in released] == [(b"v%d" % s, s - 1, s) for s in range(1, events + 1)]
    assert order.held == 0


def test_unstamped_events_pass_at_once() -> None:
    live = Record("t", 0, 0, b"live", ())
    order = InputOrder()
    assert order.add([_stamped(2, "t", 0), live]) == [(("t", 0, 0), (b"live", 0, 0))]
    assert order.held == 1


def test_partitions_fetched_far_ahead_of_the_merge_are_named_until_it_catches_up() -> None:
    order = InputOrder()
    order.add([_stamped(seq, "rare", seq) for seq in (5, 40, 90)])  # a rare type: few events, far apart
    assert order.ahead(window=50, max_held=100) == {("rare", 0)}  # its records reach 90, the merge waits for 1
    order.add([_stamped(seq, "busy", seq) for seq in (1, 2, 3, 4, *range(6, 40))])
    assert order.next_seq == 41 and order.ahead(window=50, max_held=100) == set()  # 90 is within 41 + 50


def test_released_events_carry_the_position_their_offsets_are_committed_from() -> None:
    order = InputOrder()
    order.add([_stamped(2, "b", 7)])
    assert [position for position, _ in order.add([_stamped(1, "a", 3)])] == [("a", 0, 3), ("b", 0, 7)]


def test_pausing_what_is_ahead_bounds_the_records_held() -> None:
    # a router trailing the intake: one busy topic, a rare one whose every fetch spans thousands of
    # numbers; fetches of partitions named ahead are skipped (paused), as the router does
    window, fetch, events = 500, 50, 40_000
    rng = random.Random(3)
    per_topic: dict[str, list[Record]] = {"busy": [], "rare": []}
    for seq in range(1, events + 1):
        topic = "rare" if rng.random() < 0.02 else "busy"
        per_topic[topic].append(_stamped(seq, topic, len(per_topic[topic])))
    order = InputOrder()
    most = released = 0
    while released < events:
        ahead = order.ahead(window, max_held=10 * window)
        for topic, records in per_topic.items():
            if (topic, 0) not in ahead and records:
                fetched, per_topic[topic] = records[:fetch], records[fetch:]
                released += len(order.add(fetched))
                most = max(most, order.held)
    assert most <= window + 2 * fetch


@settings(max_examples=60, derandomize=True)
@given(partitions=st.integers(min_value=2, max_value=40), seed=st.integers())
def test_past_max_held_every_partition_ahead_is_paused_and_the_merge_never_stalls(partitions: int, seed: int) -> None:
    # many partitions, each within the window: only the count bound keeps what is held small
    window, max_held, fetch, events = 10_000, 200, 20, 6_000
    rng = random.Random(seed)
    weights = [rng.random() ** 3 for _ in range(partitions)]
    per_topic: dict[str, list[Record]] = {f"t{i}": [] for i in range(partitions)}
    for seq in range(1, events + 1):
        topic = f"t{rng.choices(range(partitions), weights)[0]}"
        per_topic[topic].append(_stamped(seq, topic, len(per_topic[topic])))
    order = InputOrder()
    most = released = 0
    while released < events:
        ahead = order.ahead(window, max_held)
        fetchable = [t for t, records in per_topic.items() if (t, 0) not in ahead and records]
        assert fetchable, "every partition paused while the merge waits: stalled"
        for topic in fetchable:
            fetched, per_topic[topic] = per_topic[topic][:fetch], per_topic[topic][fetch:]
            released += len(order.add(fetched))
            most = max(most, order.held)
    assert most <= max_held + partitions * fetch


@settings(max_examples=300, derandomize=True)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from([SEQ, CLOCK_BEFORE, CLOCK_AFTER, "other"]),
            st.integers(min_value=0, max_value=2**53).map(lambda n: b"%d" % n),
        ),
        max_size=5,
    )
)
def test_stamps_are_read_whatever_the_headers_order(headers: list[tuple[str, bytes]]) -> None:
    """The fast path (the intake's three headers in its order) gives what reading them by name gives."""
    found = dict(headers)  # the last of a repeated name, as a dict of the headers keeps it
    expected = (
        (int(found[SEQ]), int(found.get(CLOCK_BEFORE, b"0")), int(found.get(CLOCK_AFTER, b"0")))
        if SEQ in found
        else (0, 0, 0)
    )
    assert stamps_of(Record("t", 0, 0, b"", tuple(headers))) == expected
    stamped = [(SEQ, b"7"), (CLOCK_BEFORE, b"5"), (CLOCK_AFTER, b"6")]
    assert stamps_of(Record("t", 0, 0, b"", tuple(stamped))) == (7, 5, 6)
