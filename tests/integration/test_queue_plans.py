"""Plan shapes of the queue's hot reads at scale, and O(1) index writes (shared/spec/PERFORMANCE.md P2, P3, P4).

A private database is seeded with a large queue (`bench.seed_queue`, set-based, deterministic). The statements
are the ones `SqlQueueRepository` really sends (captured with a `before_cursor_execute` listener, parameters
included: `bench.queue_sql`), each EXPLAINed with ANALYZE and BUFFERS: one warm-up run, then the median of
three. The budget is PERFORMANCE.md's own — 1 ms of execution per statement, no safety factor (P2 and P4 are
never waived) — and no plan may read `memberships` or `queue_counts` with a sequential scan.

Timing in a test is normally left to bench/; these budgets are kept here because they are about complexity: an
O(rank) plan costs tens of milliseconds at this size, two orders of magnitude over budget, while the bounded
plans take ≈ 0.1 ms, so the check is not sensitive to a loaded machine.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg
import pytest
from bench.queue_sql import BUDGET_MS, Plan, explain, hot_statements
from bench.seed_queue import asyncpg_dsn, seed

from adapters.sql import migrations
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from domain.membership import MembershipState
from domain.queue_index import LEVEL_SHIFTS
from tests import services

MEMBERS = 200_000
"""Queue size: large enough that an O(rank) plan misses the budget by far (≈ 12 ms at rank n−10), small enough
to seed in ≈ 15 s on the 2-core box. `bench/queue_plans.py` runs the same checks on 1,000,000."""
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
HOT_TABLES = ("memberships", "queue_counts")


@dataclass(frozen=True)
class Seeded:
    url: str
    dsn: str
    plans: dict[str, list[Plan]]


@pytest.fixture(scope="module")
async def seeded() -> AsyncIterator[Seeded]:
    name = f"tenure_plans_{services.RUN_ID}"
    await services.create_database(name)
    url = services.asyncpg_to_sqlalchemy(services.database_dsn(name))
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        await seed(url, members=MEMBERS, log=lambda _line: None)
        statements = await hot_statements(url, n=MEMBERS)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            plans = {label: [await explain(conn, s) for s in stmts] for label, stmts in statements.items()}
        finally:
            await conn.close()
        yield Seeded(url=url, dsn=asyncpg_dsn(url), plans=plans)
    finally:
        await services.drop_database(name)


def _describe(plans: list[Plan]) -> str:
    return "\n".join(
        f"{p.stmt.label}: exec {p.execution_ms} ms, plan {p.planning:.3f} ms; {p.scans()}\n{p.stmt.sql}" for p in plans
    )


def _assert_bounded(plans: list[Plan]) -> None:
    assert plans, "the repository issued no statement"
    for plan in plans:
        assert not plan.seq_scans(*HOT_TABLES), _describe([plan])
        assert not plan.parallel(), _describe([plan])
        assert any("Index" in scan for scan in plan.scans()), _describe([plan])
        assert plan.execution <= BUDGET_MS, _describe([plan])


ESTIMATE_BOUND = 10_000
"""Rows the planner may expect the own-bucket count to read (it reads the queue rows of one smallest bucket;
without the explicit upper bound on `tenure_start` it expected a quarter of the queue at mid ranks)."""


@pytest.mark.parametrize("rank", ["10", "n/2", "n-10"])
async def test_position_lookup_is_bounded_at_any_rank(seeded: Seeded, rank: str) -> None:
    """P2: the lookup (`position`) and what GET /api/queue/me sends for it (`place_of_account`: the row, then
    the lookup with N in one statement) read indexes only, ≤ 1 ms each, at the front, middle and back — and the
    planner knows the read is small (a misestimate turns into a parallel plan on a larger queue)."""
    for plan in [*seeded.plans[f"position@{rank}"], *seeded.plans[f"place@{rank}"]]:
        expected = plan.estimated_rows("memberships", "ix_memberships_queue_order")
        assert expected <= ESTIMATE_BOUND, f"planner expects {expected} rows\n" + _describe([plan])
    _assert_bounded(seeded.plans[f"position@{rank}"])
    place = seeded.plans[f"place@{rank}"]
    _assert_bounded(place)
    assert sum(p.execution for p in place) <= BUDGET_MS, _describe(place)
    lookup = seeded.plans[f"position@{rank}"][0]
    assert any("ix_memberships_queue_order" in scan for scan in lookup.scans()), _describe([lookup])
    assert any("pk_queue_counts" in scan for scan in lookup.scans()), _describe([lookup])


async def test_next_winners_query_is_bounded(seeded: Seeded) -> None:
    """P4: next winners (top 10 eligible) as the repository sends it: the join walks the candidates index in order
    and stops after 10, then one position lookup per candidate."""
    plans = seeded.plans["candidates"]
    _assert_bounded(plans)
    assert len(plans) == 11, _describe(plans)
    assert any("ix_memberships_candidates" in scan for scan in plans[0].scans()), _describe(plans[:1])


async def test_deepest_public_page_is_bounded(seeded: Seeded) -> None:
    """P4: the keyset page after the last-but-one page, and the position of its first row."""
    plans = seeded.plans["deepest page"]
    _assert_bounded(plans)
    assert any("ix_memberships_queue_order" in scan for scan in plans[0].scans()), _describe(plans)


# -- P3: one move writes O(1) index rows --------------------------------------------------------------------


async def _xid_horizon(dsn: str) -> int:
    """The next transaction id (32-bit, as `xmin` shows it): rows whose xmin ≥ it were written after now."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint) % 4294967296"))
    finally:
        await conn.close()


async def _rows_written_since(dsn: str, horizon: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE xmin::text::bigint >= $1", horizon))
            for table in ("queue_counts", "queue_head", "queue_moves", "memberships")
        }
    finally:
        await conn.close()


async def test_activation_and_cancellation_write_a_bounded_number_of_rows(seeded: Seeded) -> None:
    """P3: joining and leaving the queue through the production write path (`save_membership` + commit) changes
    at most one count per index level, the head, and one move — on a queue of 200,000, not O(N)."""
    engine = create_engine(seeded.url, pool_size=2)
    sessions = session_factory(engine)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, clock=SystemClock())

    try:
        async with uow() as u:
            account = await u.accounts.add(
                email=f"plans-{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
            )
            membership_id = (await u.billing.add_membership(account_id=account.id, rules_version=1, at=NOW)).id
            await u.commit()
        written = {}
        for action in ("activate", "cancel"):
            horizon = await _xid_horizon(seeded.dsn)
            async with uow() as u:
                record = await u.billing.get_membership(membership_id, for_update=True)
                assert record is not None
                if action == "activate":
                    record = replace(
                        record,
                        status=MembershipState.ACTIVE,
                        tenure_start=datetime(2023, 6, 1, 12, 0, 7, tzinfo=UTC),  # inside the seeded span
                        member_number=await u.billing.next_member_number(),
                        activated_at=NOW,
                    )
                else:
                    record = replace(record, status=MembershipState.CANCELLED, ended_at=NOW)
                await u.billing.save_membership(record, at=NOW)
                await u.commit()
            written[action] = await _rows_written_since(seeded.dsn, horizon)
        async with uow() as u:
            assert await u.queue.size() == MEMBERS
    finally:
        await engine.dispose()
    print(f"rows written per move on a queue of {MEMBERS:,}: {written}")
    for action, rows in written.items():
        assert rows["memberships"] == 1, (action, rows)
        assert 1 <= rows["queue_counts"] <= len(LEVEL_SHIFTS), (action, rows)
        assert rows["queue_head"] == 1, (action, rows)
        assert rows["queue_moves"] == 1, (action, rows)
