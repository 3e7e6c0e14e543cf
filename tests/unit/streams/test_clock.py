"""The wake-up scheduler: each entity due once at its earliest wake-up, the heap bounded by the entities."""

from __future__ import annotations

import collections
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clock import _SUPERSEDED_SLACK, PartitionClocks


def test_an_entity_evaluated_on_every_fact_stays_one_entry() -> None:
    # every fact evaluates its entity and schedules its next wake-up: 200 entities x 500 facts used to
    # leave 100,000 heap entries until their deadlines passed (most of a backtest's history)
    clocks = PartitionClocks()
    rng = random.Random(7)
    entities = [b"P:%d" % n for n in range(200)]
    for _ in range(500):
        for entity in entities:
            clocks.schedule(0, 10_000 + rng.randrange(1_000), entity)
    assert clocks.pending(0) == 200
    assert clocks.heap_size(0) <= 2 * 200 + _SUPERSEDED_SLACK
    clocks.advance(0, 20_000)
    assert sorted(clocks.due(0)) == sorted(entities)
    assert clocks.pending(0) == 0 and clocks.heap_size(0) == 0


def test_due_at_the_earliest_wake_up_then_as_rescheduled() -> None:
    clocks = PartitionClocks()
    clocks.schedule(0, 300, b"a")
    clocks.schedule(0, 100, b"a")  # a fact brought its deadline forward
    clocks.schedule(0, 200, b"a")  # a later one: the earlier wake-up stands
    clocks.advance(0, 150)
    assert clocks.due(0) == [b"a"]
    assert clocks.due(0) == []
    clocks.advance(0, 400)
    assert clocks.due(0) == []  # its 300 was superseded; the caller reschedules it when it is due
    clocks.schedule(0, 500, b"a")
    clocks.advance(0, 500)
    assert clocks.due(0) == [b"a"]


@settings(max_examples=200, derandomize=True)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("schedule"), st.integers(0, 5), st.integers(0, 1_000)),
            st.tuples(st.just("advance"), st.integers(0, 5), st.integers(0, 100)),
        ),
        max_size=120,
    )
)
def test_due_returns_what_a_list_of_every_wake_up_would(ops: list[tuple[str, int, int]]) -> None:
    # reference: each entity's earliest wake-up scheduled since it was last returned
    clocks = PartitionClocks()
    earliest: dict[bytes, int] = {}
    clock = 0
    for op, n, value in ops:
        entity = b"E%d" % n
        if op == "schedule":
            clocks.schedule(0, value, entity)
            earliest[entity] = min(value, earliest.get(entity, value))
        else:
            clock += value
            clocks.advance(0, clock)
            expected = {e for e, wake in earliest.items() if wake <= clock}
            got = clocks.due(0)
            assert len(got) == len(set(got)) and set(got) == expected
            for entity in expected:
                del earliest[entity]
        if earliest:  # the live clock ticks at this: early is a wasted tick, late is a late lead
            wake = clocks.next_wake()
            assert wake is not None and wake <= min(earliest.values())
    assert clocks.pending(0) == len(earliest)


@settings(max_examples=300, derandomize=True)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["evaluate"] * 8 + ["advance", "forget"]),  # heaps of many entities
            st.integers(min_value=0, max_value=30),  # entity
            st.dictionaries(st.sampled_from(["M01", "M02", "M03"]), st.none() | st.integers(0, 1_000), max_size=3),
            st.integers(min_value=0, max_value=1_000),  # clock or threshold
        ),
        max_size=120,
    )
)
def test_pending_and_overdue_counts_are_those_of_a_full_count(
    steps: list[tuple[str, int, dict[str, int | None], int]],
) -> None:
    """The gauges' incremental counts against counting every entity's wake-ups, as the worker keeps them:
    each evaluation updates the entity's wake-ups and schedules it at the earliest; the clock's passing
    takes it out of the heap and evaluates it again; a lost partition forgets its entities."""
    from streams.metrics import PendingDeadlines

    clocks, pending = PartitionClocks(), PendingDeadlines()

    def evaluate(partition: int, entity: bytes, wakes: dict[str, int | None]) -> None:
        pending.update(entity, wakes)
        if pending.of(entity):
            clocks.schedule(partition, min(pending.of(entity).values()), entity)

    for action, n, wakes, value in steps:
        entity, partition = b"P:%d" % n, n % 2
        if action == "evaluate":
            evaluate(partition, entity, wakes)
        elif action == "advance":
            clocks.advance(partition, value // 4)
            for due in clocks.due(partition):  # its due models evaluated: their wake-ups move on or end
                moved = {m: (w + 500 if w + 500 <= 1_000 else None) for m, w in pending.of(due).items()}
                evaluate(partition, due, moved)
        else:
            lost = {partition}
            clocks.forget(lost)
            pending.forget([e for e in pending.entities() if int(e[2:]) % 2 == partition])
        full: collections.Counter[str] = collections.Counter()
        for each in pending.entities():
            for model_id in pending.of(each):
                full[model_id] += 1
        assert pending.counts() == +full
        for before in range(0, 1_101, 100):
            late: collections.Counter[str] = collections.Counter()
            for each in pending.entities():
                for model_id, wake in pending.of(each).items():
                    late[model_id] += wake < before
            assert pending.overdue(clocks.scheduled_before(before), before) == +late
