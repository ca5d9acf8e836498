"""Queue positions on PostgreSQL equal the pure domain ordering (DOMAIN.md §4), whatever happens and in whatever
interleaving: concurrent activations (often at the same second, often late — ahead of members already queued),
cancellations, defaults, grace, and reinstatements. Each step's changes run concurrently, one transaction each,
through the production write path (`save_membership` → the bucket index and the move log at commit); a
transaction may hold several changes (a leave and a join in one commit).

After every step: every queue membership's position (as `/api/queue/me` reads it) equals `domain.queue.rank` over
all queue rows, N equals the count, and the index recounts clean. At the end, every member's position history,
replayed, gives the position it actually had after each step.
Wins arrive with the payout capability (issue 8) and join this test there.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from adapters.sql import models
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.membership import QUEUE_STATES, MembershipState
from domain.queue import PositionChange, QueueEntry, QueueKey, rank
from ports.usecases.queue import history_page

S = MembershipState
MakeUow = Callable[..., SqlUnitOfWork]
BASE = datetime.fromtimestamp(52 << 25, UTC)
"""Aligned to the widest bucket (2025-04-16), so offsets below land in first, middle and last child buckets."""
OFFSETS = (
    0,
    0,
    5,
    1_023,
    1_024,
    16_383,
    16_384,
    262_144,
    300_000,
    4_194_303,
    4_194_304,
    67_108_863,
    67_108_864,
    90_000_000,
)
"""Seconds after BASE: ties, and neighbours in the same or adjacent buckets at every level of the index."""
NOW = datetime(2026, 11, 25, tzinfo=UTC)

# One step = concurrent transactions; one transaction = 1-3 actions on distinct member slots, applied together
# (a leave and a join in one commit, several leaves at once). Actions that do not apply to a state are skipped.
ACTIONS = ("activate", "past_due", "cure", "cancel", "default", "reinstate")
action = st.tuples(st.integers(0, 7), st.sampled_from(ACTIONS), st.integers(0, len(OFFSETS) - 1))
transaction = st.lists(action, min_size=1, max_size=3, unique_by=lambda a: a[0])
step = st.lists(transaction, min_size=1, max_size=4)
NEXT = {
    "activate": ({S.PENDING}, S.ACTIVE),
    "past_due": ({S.ACTIVE}, S.PAST_DUE),
    "cure": ({S.PAST_DUE}, S.ACTIVE),
    "cancel": ({S.ACTIVE, S.PAST_DUE}, S.CANCELLED),
    "default": ({S.PAST_DUE}, S.DEFAULTED),
    "reinstate": ({S.DEFAULTED}, S.ACTIVE),
}


async def _new_memberships(make_uow: MakeUow, count: int) -> list[uuid.UUID]:
    ids = []
    async with make_uow() as uow:
        for _ in range(count):
            account = await uow.accounts.add(
                email=f"q-{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
            )
            ids.append((await uow.billing.add_membership(account_id=account.id, rules_version=1, at=NOW)).id)
        await uow.commit()
    return ids


async def _apply(make_uow: MakeUow, actions: list[tuple[uuid.UUID, str, int]]) -> None:
    """The actions in one transaction (rows locked in id order, so concurrent transactions cannot deadlock);
    `second` picks the tenure offset of an activation."""
    async with make_uow() as uow:
        for membership_id, action, second in sorted(actions, key=lambda a: a[0]):
            record = await uow.billing.get_membership(membership_id, for_update=True)
            assert record is not None
            allowed, target = NEXT[action]
            if record.status not in allowed:
                continue
            if action == "activate":
                # Seconds collide on purpose (ties go to the lower member number) and land ahead of earlier ones.
                record = replace(
                    record,
                    tenure_start=BASE + timedelta(seconds=OFFSETS[second]),
                    member_number=await uow.billing.next_member_number(),
                    activated_at=NOW,
                )
            await uow.billing.save_membership(replace(record, status=target), at=NOW)
        await uow.commit()


async def _queue_truth(make_uow: MakeUow) -> dict[uuid.UUID, int]:
    async with make_uow() as uow:
        rows = (
            await uow.session.execute(
                select(models.Membership.id, models.Membership.tenure_start, models.Membership.member_number).where(
                    models.Membership.status.in_(("ACTIVE", "PAST_DUE"))
                )
            )
        ).all()
    entries = [
        QueueEntry(membership_id=str(i), key=QueueKey(tenure_start=t, member_number=n), state=S.ACTIVE)
        for i, t, n in rows
    ]
    return {uuid.UUID(r.entry.membership_id): r.position for r in rank(entries)}


async def _check_positions(make_uow: MakeUow, mine: list[uuid.UUID]) -> dict[uuid.UUID, int | None]:
    truth = await _queue_truth(make_uow)
    async with make_uow() as uow:
        assert await uow.queue.size() == len(truth)
        drift = await uow.queue.verify()
        assert drift.ok, drift
        seen: dict[uuid.UUID, int | None] = {}
        for membership_id in mine:
            record = await uow.billing.get_membership(membership_id)
            assert record is not None
            place = await uow.queue.place_of_account(record.account_id)
            if record.status in QUEUE_STATES:
                assert place is not None
                assert (place.position, place.size) == (truth[membership_id], len(truth))
            else:
                assert place is None
            seen[membership_id] = place.position if place else None
        # The rest of the queue (other tests' members) is ranked by the index too.
        for membership_id, position in list(truth.items())[:50]:
            found = await uow.queue.place_of_membership(membership_id)
            assert found is not None
            assert found.position == position
    return seen


async def _last_seq(make_uow: MakeUow) -> int:
    async with make_uow() as uow:
        return int(await uow.session.scalar(select(func.coalesce(func.max(models.QueueMoveRow.seq), 0))) or 0)


async def _history_positions(make_uow: MakeUow, membership_id: uuid.UUID) -> list[tuple[int, int | None]]:
    """(seq, position after that move) for every change of the member's position, oldest first."""
    async with make_uow() as uow:
        record = await uow.billing.get_membership(membership_id)
        assert record is not None
        if record.tenure_start is None or record.member_number is None:
            return []
        key = QueueKey(tenure_start=record.tenure_start, member_number=record.member_number)
        place = await uow.queue.place_of_membership(membership_id)
        changes: list[PositionChange] = []
        cursor: str | None = None
        while True:  # small pages, so the walk resumes from cursors many times
            page = await history_page(
                uow,
                membership_id=membership_id,
                key=key,
                position_now=place.position if place else None,
                cursor=cursor,
                limit=3,
            )
            changes.extend(page.changes)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return [(c.seq, c.new_position) for c in reversed(changes)]


@pytest.mark.usefixtures("engine")
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=6))
async def test_positions_equal_the_domain_ordering_under_concurrent_changes(
    make_uow: MakeUow, steps: list[list[list[tuple[int, str, int]]]]
) -> None:
    mine = await _new_memberships(make_uow, 8)
    # Activate a few first so later steps have someone to leave, fall behind, or be placed ahead of.
    await asyncio.gather(*(_apply(make_uow, [(mine[i], "activate", 3 * i // 2)]) for i in range(0, 8, 2)))
    observed = [(await _last_seq(make_uow), await _check_positions(make_uow, mine))]
    for transactions in steps:
        await asyncio.gather(
            *(_apply(make_uow, [(mine[slot], name, second) for slot, name, second in t]) for t in transactions)
        )
        observed.append((await _last_seq(make_uow), await _check_positions(make_uow, mine)))

    for membership_id in mine:
        changes = await _history_positions(make_uow, membership_id)
        for last_seq, positions in observed:
            before = [position for seq, position in changes if seq <= last_seq]
            expected = positions[membership_id]
            assert (before[-1] if before else None) == expected, (membership_id, last_seq)
