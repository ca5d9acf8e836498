"""The queue's bucket index (DOMAIN.md §4, D104): bounded reads whose sum is exactly the number of members ahead.

Every property compares the index with an independent model: ``domain.queue.position_of`` for positions, and
bucket arithmetic done here on whole seconds (``(instant - epoch) // 1 s``) for bucket starts and counts.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidQueue, NaiveDatetime
from domain.membership import MembershipState
from domain.queue import QueueKey, position_of
from domain.queue_index import (
    FANOUT,
    LEVEL_SHIFTS,
    bucket_starts,
    counts_of,
    deltas,
    epoch_seconds,
    lookup,
)

S = MembershipState
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE = EPOCH + timedelta(seconds=26 << 26)
"""Aligned to the widest bucket (2025-04-16), so offsets land on first, middle and last child buckets."""
YEAR = 365 * 86_400
BOUNDARIES = sorted(
    {
        edge + delta
        for edge in (0, 32, 1 << 10, 1 << 14, 1 << 18, 1 << 22, 1 << 25, 1 << 26, 3 << 26, 30 * YEAR)
        for delta in (-1, 0, 1)
        if edge + delta >= 0
    }
    | {31, 33, 1023, 1025, 2_000_000, 40_000_000}
)
"""Seconds after BASE right at, before and after bucket edges of every level, plus decades later."""


def whole_seconds(at: datetime) -> int:
    return (at - EPOCH) // timedelta(seconds=1)


offsets = st.one_of(
    st.sampled_from(BOUNDARIES),
    st.integers(min_value=0, max_value=64),  # ties and neighbours in the smallest buckets
    st.integers(min_value=0, max_value=60 * YEAR),  # anywhere within many years
)
instants = st.builds(
    lambda offset, micros: BASE + timedelta(seconds=offset, microseconds=micros),
    offsets,
    st.one_of(st.just(0), st.integers(min_value=0, max_value=999_999)),
)


@st.composite
def populations(draw: st.DrawFn) -> list[QueueKey]:
    starts = draw(st.lists(instants, min_size=0, max_size=40))
    starts += draw(st.lists(st.sampled_from(starts), max_size=10)) if starts else []  # exact ties on the instant
    numbers = draw(st.permutations(range(1, len(starts) + 1)))
    return [QueueKey(tenure_start=t, member_number=n) for t, n in zip(starts, numbers, strict=True)]


def ahead_by_index(key: QueueKey, population: list[QueueKey]) -> int:
    """What the adapter's one statement computes: bucket counts in the lookup ranges + the rows of the own bucket."""
    counts = counts_of(k.tenure_start for k in population)
    plan = lookup(key.tenure_start)
    in_buckets = sum(
        members
        for (level, start), members in counts.items()
        for r in plan.ranges
        if level == r.level and (r.low is None or start >= r.low) and start < r.high
    )
    in_own_bucket = sum(1 for other in population if other.tenure_start >= plan.scan_from and other < key)
    return in_buckets + in_own_bucket


@given(population=populations(), data=st.data())
def test_index_lookup_counts_exactly_the_members_ahead(population: list[QueueKey], data: st.DataObject) -> None:
    for key in population:
        assert 1 + ahead_by_index(key, population) == position_of(key, population)
    # a key not in the queue (a late activation before it is inserted) gets the place it would take
    outsider = QueueKey(tenure_start=data.draw(instants), member_number=len(population) + 1)
    assert 1 + ahead_by_index(outsider, population) == position_of(outsider, population)


@given(population=populations())
def test_positions_from_the_index_are_a_permutation(population: list[QueueKey]) -> None:
    found = sorted(1 + ahead_by_index(key, population) for key in population)
    assert found == list(range(1, len(population) + 1))


@given(at=instants)
def test_bucket_starts_are_aligned_and_nested(at: datetime) -> None:
    seconds = whole_seconds(at)
    starts = bucket_starts(at)
    assert len(starts) == len(LEVEL_SHIFTS)
    for start, shift in zip(starts, LEVEL_SHIFTS, strict=True):
        width = 1 << shift
        assert start % width == 0
        assert start <= seconds < start + width
    for level in range(1, len(starts)):
        outer, inner = starts[level - 1], starts[level]
        assert outer <= inner < outer + (1 << LEVEL_SHIFTS[level - 1])  # each bucket lies inside its parent
    assert starts[-1] == seconds - seconds % 1024
    assert starts[0] == seconds - seconds % (1 << 26)


def test_levels_share_one_fanout() -> None:
    assert tuple(sorted(LEVEL_SHIFTS, reverse=True)) == LEVEL_SHIFTS
    assert FANOUT == 16
    for wider, narrower in itertools.pairwise(LEVEL_SHIFTS):
        assert 1 << (wider - narrower) == FANOUT
    assert LEVEL_SHIFTS[-1] == 10  # the smallest bucket, scanned row by row, is 1,024 seconds


@given(at=instants)
def test_lookup_reads_a_bounded_number_of_buckets(at: datetime) -> None:
    plan = lookup(at)
    starts = bucket_starts(at)
    assert [r.level for r in plan.ranges] == list(range(len(LEVEL_SHIFTS)))
    top = plan.ranges[0]
    assert top.low is None
    assert top.high == starts[0]
    for r in plan.ranges[1:]:
        assert r.low is not None
        width = 1 << LEVEL_SHIFTS[r.level]
        assert r.low == starts[r.level - 1]  # inside my parent bucket ...
        assert r.high == starts[r.level]  # ... up to my own bucket, excluded
        assert (r.high - r.low) % width == 0
        assert (r.high - r.low) // width <= FANOUT - 1
    assert plan.scan_from == EPOCH + timedelta(seconds=starts[-1])
    assert plan.scan_from.tzinfo is not None
    assert plan.scan_from <= at < plan.scan_from + timedelta(seconds=1024)


def test_lookup_at_the_last_child_reads_fanout_minus_one_buckets_per_level() -> None:
    last_everywhere = BASE + timedelta(seconds=(1 << 26) - 1)
    plan = lookup(last_everywhere)
    assert [(r.high - r.low) >> LEVEL_SHIFTS[r.level] for r in plan.ranges[1:] if r.low is not None] == [15] * 4
    first_everywhere = lookup(BASE)
    assert all(r.low == r.high for r in first_everywhere.ranges[1:])


@given(population=populations())
def test_counts_of_matches_a_bucket_model(population: list[QueueKey]) -> None:
    expected: Counter[tuple[int, int]] = Counter()
    for key in population:
        seconds = whole_seconds(key.tenure_start)
        for level, shift in enumerate(LEVEL_SHIFTS):
            expected[(level, seconds // (1 << shift) * (1 << shift))] += 1
    assert counts_of(k.tenure_start for k in population) == dict(expected)


@given(population=populations(), leaving=st.sets(st.integers(min_value=0, max_value=60)))
def test_deltas_keep_the_counts_and_cancel(population: list[QueueKey], leaving: set[int]) -> None:
    counts: Counter[tuple[int, int]] = Counter()
    for key in population:
        changes = deltas(key.tenure_start, +1)
        assert [c.level for c in changes] == list(range(len(LEVEL_SHIFTS)))  # one change per level
        assert [c.start for c in changes] == list(bucket_starts(key.tenure_start))
        for change in changes:
            assert change.delta == 1
            counts[(change.level, change.start)] += change.delta
    assert {bucket: n for bucket, n in counts.items() if n} == counts_of(k.tenure_start for k in population)
    gone = [key for i, key in enumerate(population) if i in leaving]
    for key in gone:
        for change in deltas(key.tenure_start, -1):
            assert change.delta == -1
            counts[(change.level, change.start)] += change.delta
    stayed = [key for i, key in enumerate(population) if i not in leaving]
    assert {bucket: n for bucket, n in counts.items() if n} == counts_of(k.tenure_start for k in stayed)
    assert all(n >= 0 for n in counts.values())
    for key in stayed:
        for change in deltas(key.tenure_start, -1):
            counts[(change.level, change.start)] += change.delta
    assert all(n == 0 for n in counts.values())


def test_epoch_seconds() -> None:
    assert epoch_seconds(EPOCH) == 0
    assert epoch_seconds(datetime(1970, 1, 1, 0, 0, 1, 999_999, tzinfo=UTC)) == 1
    assert epoch_seconds(BASE) == 52 << 25
    # the same instant in another zone is the same second
    plus_two = timezone(timedelta(hours=2))
    assert epoch_seconds(datetime(2025, 6, 1, 14, 0, 5, tzinfo=plus_two)) == epoch_seconds(
        datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC)
    )
    assert bucket_starts(datetime(2025, 6, 1, 14, 0, 5, tzinfo=plus_two)) == bucket_starts(
        datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    "before",
    [
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # half a second before the epoch
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # 23:30 UTC the day before
    ],
)
def test_epoch_seconds_refuses_instants_before_1970(before: datetime) -> None:
    with pytest.raises(InvalidQueue):
        epoch_seconds(before)
    with pytest.raises(InvalidQueue):
        bucket_starts(before)
    with pytest.raises(InvalidQueue):
        lookup(before)


def test_epoch_seconds_refuses_naive_datetimes() -> None:
    naive = datetime(2025, 1, 1)
    with pytest.raises(NaiveDatetime):
        epoch_seconds(naive)
    with pytest.raises(NaiveDatetime):
        deltas(naive, +1)
    with pytest.raises(NaiveDatetime):
        counts_of([naive])
