"""The queue as stored: positions by the bucket index, neighbours and public pages by keyset, and the moves.

Every read here costs a bounded number of index reads whatever the rank (PERFORMANCE.md P2, P4). Moves are
written by the repository that changes a membership's state, in the same transaction, so nothing can change the
queue without counting it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.membership import MembershipState
from domain.queue import QueueKey, QueueMove


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePlace:
    membership_id: UUID
    account_id: UUID
    status: MembershipState
    key: QueueKey
    cancel_effective_at: datetime | None
    position: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRow:
    """A queue row in order. Public views show only its position and tenure month; the ids serve staff and jobs."""

    position: int
    key: QueueKey
    membership_id: UUID
    account_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A queue membership a round could select, with what the database knows of its eligibility."""

    membership_id: UUID
    account_id: UUID
    position: int
    key: QueueKey


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexDrift:
    """What a consistency check found: buckets whose count differs from the memberships they count."""

    size_stored: int
    size_counted: int
    buckets_wrong: int

    @property
    def ok(self) -> bool:
        return self.size_stored == self.size_counted and self.buckets_wrong == 0


class QueueRepository(Protocol):
    async def size(self) -> int:
        """N: queue memberships (ACTIVE or PAST_DUE)."""
        ...

    async def place_of_account(self, account_id: UUID) -> QueuePlace | None:
        """The account's queue membership with its position and N, or None if it holds no place."""
        ...

    async def place_of_membership(self, membership_id: UUID) -> QueuePlace | None: ...

    async def rows_around(self, key: QueueKey, position: int, *, radius: int) -> Sequence[QueueRow]:
        """The rows within ``radius`` places of ``key`` (at ``position``), itself included, in order."""
        ...

    async def page(
        self, *, limit: int, after: QueueKey | None = None, start: QueueKey | None = None
    ) -> Sequence[QueueRow]:
        """Up to ``limit`` rows in queue order: strictly behind ``after``, or from ``start`` on, or from the front."""
        ...

    async def wins_recorded(self) -> int:
        """Winners ever taken out of the queue (moves are append-only, so this never goes down, unlike
        `winners_so_far` when a payout is cancelled): the near-payout notices' cycle number."""
        ...

    async def winners_so_far(self) -> int:
        """Memberships ever selected as winners and not returned to the queue (WON, PAID, ENDED)."""
        ...

    async def key_at(self, position: int) -> QueueKey | None:
        """The key standing at ``position`` (an order-statistic descent through the buckets), None past N."""
        ...

    async def candidates(self, *, after: QueueKey | None, limit: int) -> Sequence[Candidate]:
        """ACTIVE queue memberships with no cancellation scheduled and a verified identity, in queue order behind
        ``after``: where a round's selection (and its dry run) starts; full eligibility is then checked."""
        ...

    async def moves(
        self, *, membership_id: UUID, key: QueueKey, before_seq: int | None, limit: int
    ) -> Sequence[QueueMove]:
        """The membership's own moves and the moves ranked ahead of it, newest first, since its first join (a move at
        the back of the queue is never ahead of a member present, so it may be left out)."""
        ...

    async def verify(self) -> IndexDrift:
        """Recount the queue and compare with the bucket index (an O(N) operator check)."""
        ...

    async def rebuild(self, *, at: datetime) -> int:
        """Recount every bucket and N from the memberships (an O(N) repair); returns N."""
        ...
