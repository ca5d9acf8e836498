"""The queue's bucket index on the embedded SQLite database, through the production write path (DOMAIN.md §4).

Memberships are activated, cancelled, defaulted, reinstated and activated late (ahead of others) with
`save_membership` + `commit`, exactly as the use cases do. After every step each queue membership's position, N,
the index recount, `key_at` and keyset pages are compared with `domain.queue.rank` over the rows themselves.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, ensure_sqlite_directory, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from domain.membership import MembershipState
from domain.queue import MoveReason, PositionChangeCause, QueueEntry, QueueKey, rank
from domain.queue_index import deltas
from ports.usecases.queue import history_page

S = MembershipState
NOW = datetime(2026, 11, 25, tzinfo=UTC)
BASE = datetime.fromtimestamp(52 << 25, UTC)
"""Aligned to the widest bucket, so the offsets below straddle bucket edges at every level."""


class Queue:
    """A migrated SQLite database and a factory of units of work over it."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, clock=SystemClock())

    async def new_memberships(self, count: int) -> list[uuid.UUID]:
        ids = []
        async with self.uow() as uow:
            for _ in range(count):
                account = await uow.accounts.add(
                    email=f"q-{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
                )
                ids.append((await uow.billing.add_membership(account_id=account.id, rules_version=1, at=NOW)).id)
            await uow.commit()
        return ids

    async def set_status(self, *changes: tuple[uuid.UUID, S, int | None]) -> None:
        """Change memberships in one transaction; an activation (`seconds` given) sets tenure and member number."""
        async with self.uow() as uow:
            for membership_id, status, seconds in changes:
                record = await uow.billing.get_membership(membership_id, for_update=True)
                assert record is not None
                if seconds is not None:
                    record = replace(
                        record,
                        tenure_start=BASE + timedelta(seconds=seconds),
                        member_number=await uow.billing.next_member_number(),
                        activated_at=NOW,
                    )
                await uow.billing.save_membership(replace(record, status=status), at=NOW)
            await uow.commit()

    async def truth(self) -> list[tuple[uuid.UUID, QueueKey]]:
        """The queue in order, ranked by the pure domain over the membership rows."""
        M = models.Membership
        async with self.uow() as uow:
            rows = (await uow.session.execute(select(M.id, M.status, M.tenure_start, M.member_number))).all()
        entries = [
            QueueEntry(
                membership_id=str(i),
                key=QueueKey(tenure_start=t, member_number=n),
                state=S(status.lower()),
            )
            for i, status, t, n in rows
            if t is not None and n is not None
        ]
        return [(uuid.UUID(r.entry.membership_id), r.entry.key) for r in rank(entries)]

    async def moves(self) -> list[tuple[int, uuid.UUID, str, int, int]]:
        Q = models.QueueMoveRow
        async with self.uow() as uow:
            found = await uow.session.execute(
                select(Q.seq, Q.membership_id, Q.reason, Q.position, Q.size_after).order_by(Q.seq)
            )
            return [(r.seq, r.membership_id, r.reason, r.position, r.size_after) for r in found]

    async def check(self, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, QueueKey]]:
        ordered = await self.truth()
        position = {membership_id: p for p, (membership_id, _) in enumerate(ordered, start=1)}
        async with self.uow() as uow:
            assert await uow.queue.size() == len(ordered)
            drift = await uow.queue.verify()
            assert drift.ok, drift
            for membership_id in ids:
                place = await uow.queue.place_of_membership(membership_id)
                if membership_id in position:
                    assert place is not None
                    assert (place.position, place.size) == (position[membership_id], len(ordered))
                    assert await uow.queue.position(place.key) == position[membership_id]
                else:
                    assert place is None
            for p, (_, key) in enumerate(ordered, start=1):
                assert await uow.queue.key_at(p) == key
            assert await uow.queue.key_at(0) is None
            assert await uow.queue.key_at(len(ordered) + 1) is None
            paged: list[tuple[int, QueueKey]] = []
            after: QueueKey | None = None
            while True:
                page = await uow.queue.page(limit=2, after=after)
                if not page:
                    break
                assert len(page) <= 2
                paged.extend((row.position, row.key) for row in page)
                after = page[-1].key
            assert paged == [(p, key) for p, (_, key) in enumerate(ordered, start=1)]
        return ordered


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'tenure.db'}"
    ensure_sqlite_directory(url)
    await asyncio.to_thread(migrations.upgrade, url)
    found = Queue(url)
    try:
        yield found
    finally:
        await found.engine.dispose()


async def test_positions_follow_every_join_and_leave(queue: Queue) -> None:
    ids = await queue.new_memberships(9)
    a, b, c, d, e, f, g, h, late = ids
    await queue.check(ids)  # empty queue
    # activations, one per transaction, at seconds that tie and straddle bucket edges of every level
    offsets = {a: 1_030, b: 1_030, c: 1_023, d: 1_024, e: 16_384, f: (1 << 22) - 1, g: 1 << 26, h: 3 * 365 * 86_400}
    for membership_id, seconds in offsets.items():
        await queue.set_status((membership_id, S.ACTIVE, seconds))
        await queue.check(ids)
    order = [m for m, _ in await queue.check(ids)]
    assert order == [c, d, a, b, e, f, g, h]  # same second: the lower member number (activated first) goes first

    await queue.set_status((b, S.PAST_DUE, None))  # grace keeps the place
    assert [m for m, _ in await queue.check(ids)] == order
    await queue.set_status((b, S.DEFAULTED, None), (e, S.CANCELLED, None))  # two leave at once
    await queue.check(ids)
    await queue.set_status((a, S.CANCELLED, None))
    await queue.check(ids)
    await queue.set_status((b, S.ACTIVE, None))  # reinstated: back at its original tenure
    assert [m for m, _ in await queue.check(ids)] == [c, d, b, f, g, h]
    await queue.set_status((late, S.ACTIVE, 0))  # a late activation goes ahead of everyone
    assert [m for m, _ in await queue.check(ids)] == [late, c, d, b, f, g, h]
    await queue.set_status((g, S.WON, None), (c, S.PAST_DUE, None))
    assert [m for m, _ in await queue.check(ids)] == [late, c, d, b, f, h]

    # the index is derived data: wiped, it is rebuilt from the memberships
    async with queue.uow() as uow:
        await uow.session.execute(delete(models.QueueCount))
        drift = await uow.queue.verify()
        assert not drift.ok
        assert await uow.queue.rebuild(at=NOW) == 6
        await uow.commit()
    await queue.check(ids)


async def test_the_move_log_records_exact_positions(queue: Queue) -> None:
    a, b, c = await queue.new_memberships(3)
    await queue.set_status((a, S.ACTIVE, 100))
    await queue.set_status((b, S.ACTIVE, 50))  # late: ahead of a
    await queue.set_status((c, S.ACTIVE, 200))
    await queue.set_status((b, S.CANCELLED, None))
    rows = await queue.moves()
    assert [r[1:] for r in rows] == [
        (a, MoveReason.ACTIVATED.value, 1, 1),
        (b, MoveReason.ACTIVATED.value, 1, 2),
        (c, MoveReason.ACTIVATED.value, 3, 3),
        (b, MoveReason.CANCELLED.value, 1, 2),
    ]
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + 4))


async def test_a_leave_and_a_join_in_one_transaction_record_sequential_positions(queue: Queue) -> None:
    a, b, c = await queue.new_memberships(3)
    await queue.set_status((a, S.ACTIVE, 100))
    await queue.set_status((b, S.ACTIVE, 101))
    # one commit: b leaves, c joins ahead of it in the same smallest bucket (leaves are applied first)
    await queue.set_status((b, S.CANCELLED, None), (c, S.ACTIVE, 99))
    await queue.check([a, b, c])
    rows = await queue.moves()
    assert [r[1:] for r in rows[-2:]] == [
        (b, MoveReason.CANCELLED.value, 2, 1),  # b stood 2nd (behind a) when it left
        (c, MoveReason.ACTIVATED.value, 1, 2),
    ]


async def test_a_member_queued_before_the_move_log_existed_still_sees_moves_ahead(queue: Queue) -> None:
    """Members already queued when revision 0008 started the (empty) move log have no move of their own; their
    history still shows every change since then."""
    a, b = await queue.new_memberships(2)
    await queue.set_status((a, S.ACTIVE, 100))
    await queue.set_status((b, S.ACTIVE, 200))
    async with queue.uow() as uow:
        await uow.session.execute(delete(models.QueueMoveRow))  # as before the upgrade
        await uow.commit()
    await queue.set_status((a, S.DEFAULTED, None))
    async with queue.uow() as uow:
        place = await uow.queue.place_of_membership(b)
        assert place is not None
        history = await history_page(
            uow, membership_id=b, key=place.key, position_now=place.position, cursor=None, limit=10
        )
    assert [(c.old_position, c.new_position, c.cause) for c in history.changes] == [
        (2, 1, PositionChangeCause.MEMBER_AHEAD_LEFT)
    ]


async def test_a_drifted_index_cannot_drop_a_move_from_anyones_history(queue: Queue) -> None:
    """Whether a move shifts anyone is read from the membership rows, not from the (possibly drifted) counts."""
    a, b, c = await queue.new_memberships(3)
    await queue.set_status((a, S.ACTIVE, 100))
    await queue.set_status((b, S.ACTIVE, 9000))
    count = models.QueueCount
    async with queue.uow() as uow:  # drift: a phantom member counted in a's buckets
        for change in deltas(BASE + timedelta(seconds=100), +1):
            await uow.session.execute(
                update(count)
                .where(count.level == change.level, count.bucket_start == change.start)
                .values(members=count.members + 1)
            )
        await uow.commit()
    await queue.set_status((c, S.ACTIVE, 3000))  # placed between a and b
    async with queue.uow() as uow:
        await uow.queue.rebuild(at=NOW)
        await uow.commit()
        place = await uow.queue.place_of_membership(b)
        assert place is not None
        assert (place.position, place.size) == (3, 3)
        history = await history_page(
            uow, membership_id=b, key=place.key, position_now=place.position, cursor=None, limit=10
        )
    assert [(ch.old_position, ch.new_position, ch.cause) for ch in history.changes] == [
        (2, 3, PositionChangeCause.MEMBER_PLACED_AHEAD),
        (None, 2, PositionChangeCause.JOINED),
    ]


async def test_a_member_queued_before_the_move_log_who_left_keeps_the_moves_before_leaving(queue: Queue) -> None:
    a, b, c = await queue.new_memberships(3)
    await queue.set_status((a, S.ACTIVE, 100))
    await queue.set_status((b, S.ACTIVE, 200))
    await queue.set_status((c, S.ACTIVE, 300))
    async with queue.uow() as uow:
        await uow.session.execute(delete(models.QueueMoveRow))  # as before the upgrade
        await uow.commit()
    await queue.set_status((a, S.DEFAULTED, None))  # c moves from 3 to 2
    await queue.set_status((c, S.CANCELLED, None))  # c leaves from 2
    async with queue.uow() as uow:
        record = await uow.billing.get_membership(c)
        assert record is not None
        assert record.tenure_start is not None
        assert record.member_number is not None
        key = QueueKey(tenure_start=record.tenure_start, member_number=record.member_number)
        history = await history_page(uow, membership_id=c, key=key, position_now=None, cursor=None, limit=10)
    assert [(ch.old_position, ch.new_position, ch.cause) for ch in history.changes] == [
        (2, None, PositionChangeCause.LEFT_QUEUE),
        (3, 2, PositionChangeCause.MEMBER_AHEAD_LEFT),
    ]
