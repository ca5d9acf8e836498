"""How positions are kept at scale (DOMAIN.md §4; decision D104): nested time buckets of queue counts.

Why: a position is ``1 + memberships ahead``. Counting them row by row is O(rank) (54 ms at rank 880k) and
storing positions means rewriting everyone behind a leaver. Instead every queue membership is counted in one
bucket per level — the power-of-two span of seconds its ``tenure_start`` falls in, from about two years down to
about 17 minutes — and

    position = 1 + Σ over levels of the counts of the buckets ahead of mine inside my parent bucket
                 + the queue memberships in my own smallest bucket ranked ahead of me.

Every level contributes at most ``FANOUT − 1`` buckets (the top level at most one per two years of the program),
so a lookup reads a bounded number of rows whatever the rank, and a join or leave changes exactly one count per
level. Inside the smallest bucket the real key ``(tenure_start, member_number)`` ranks rows one by one; at
17 minutes that is a few index entries normally and a few thousand in a launch-day burst, while the bucket table
stays small enough (~200k rows for 1M members over six years) to rebuild within PERFORMANCE.md P3's budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.calendar import ensure_utc
from domain.errors import InvalidQueue

LEVEL_SHIFTS: tuple[int, ...] = (26, 22, 18, 14, 10)
"""Bucket widths as powers of two seconds, widest first: ~777 days, ~49 days, ~3 days, ~4.6 h, ~17 min."""
FANOUT = 1 << (LEVEL_SHIFTS[0] - LEVEL_SHIFTS[1])
"""Child buckets per parent bucket (16): the most rows one level contributes to a lookup, below the top."""


def epoch_seconds(at: datetime) -> int:
    """Whole seconds since 1970-01-01 UTC (tenure starts are provider paid-at times, never earlier)."""
    seconds = int(ensure_utc(at, "tenure_start").timestamp() // 1)
    if seconds < 0:
        raise InvalidQueue("tenure_start before 1970 cannot be indexed")
    return seconds


def bucket_starts(tenure_start: datetime) -> tuple[int, ...]:
    """The start (epoch seconds) of the bucket ``tenure_start`` falls in, at every level, widest first."""
    seconds = epoch_seconds(tenure_start)
    return tuple((seconds >> shift) << shift for shift in LEVEL_SHIFTS)


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketDelta:
    """Add ``delta`` to the count of bucket ``start`` at ``level`` (0 = widest)."""

    level: int
    start: int
    delta: int


def deltas(tenure_start: datetime, delta: int) -> tuple[BucketDelta, ...]:
    """One count change per level for a membership entering (``+1``) or leaving (``-1``) the queue."""
    return tuple(
        BucketDelta(level=level, start=start, delta=delta) for level, start in enumerate(bucket_starts(tenure_start))
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketRange:
    """Buckets of ``level`` with ``low <= start < high`` (``low`` None = from the beginning) are all ahead."""

    level: int
    low: int | None
    high: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """What to read to find the position of a key: the bucket ranges ahead of it, and from where to count rows."""

    ranges: tuple[BucketRange, ...]
    scan_from: datetime
    """Start of the key's smallest bucket: queue rows from here up to the key are counted one by one."""


def lookup(tenure_start: datetime) -> Lookup:
    """The bounded reads whose sum is the number of queue memberships ahead of a key with ``tenure_start``."""
    starts = bucket_starts(tenure_start)
    ranges = [BucketRange(level=0, low=None, high=starts[0])]
    ranges.extend(
        BucketRange(level=level, low=starts[level - 1], high=starts[level]) for level in range(1, len(starts))
    )
    return Lookup(ranges=tuple(ranges), scan_from=datetime.fromtimestamp(starts[-1], UTC))


def counts_of(tenure_starts: Iterable[datetime]) -> dict[tuple[int, int], int]:
    """Every bucket's count for a whole queue: the definition that the SQL rebuild and recount implement."""
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for tenure_start in tenure_starts:
        for level, start in enumerate(bucket_starts(tenure_start)):
            totals[(level, start)] += 1
    return dict(totals)


__all__ = [
    "FANOUT",
    "LEVEL_SHIFTS",
    "BucketDelta",
    "BucketRange",
    "Lookup",
    "bucket_starts",
    "counts_of",
    "deltas",
    "epoch_seconds",
    "lookup",
]
