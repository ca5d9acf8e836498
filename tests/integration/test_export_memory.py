"""A streamed export's memory does not grow with the table (issue 11): the members export of 100,000 accounts
peaks at about the same traced memory as one of 10,000 (a list-then-write export would peak ten times higher).
Measured with tracemalloc while consuming the use case's stream, on a database of the test's own."""

import asyncio
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import migrations
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from domain.sessions import Role
from ports.usecases import exports
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from tests.fakes import FakeTaskQueue

pytestmark = pytest.mark.integration

STAFF = Principal(
    account_id=uuid.uuid4(),
    email="staff@example.com",
    role=Role.ADMIN,
    session_id=uuid.uuid4(),
    authenticated_at=datetime.now(UTC),
    second_factor=True,
)


@pytest.fixture
async def own_engine(fresh_database: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    await asyncio.to_thread(migrations.upgrade, fresh_database)
    engine = create_engine(fresh_database)
    yield engine, fresh_database.replace("postgresql+asyncpg://", "postgresql://")
    await engine.dispose()


async def seed(dsn: str, members: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(  # adds members up to `members` in all (the database starts empty)
            "INSERT INTO accounts (id, email, role, status, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'member' || g || '@export.example', 'member', 'active', now(), now() "
            "FROM generate_series((SELECT count(*) FROM accounts) + 1, $1) AS g",
            members,
        )
        await conn.execute("ANALYZE accounts")
    finally:
        await conn.close()


async def peak_while_exporting(deps: Deps) -> tuple[int, int]:
    """(rows written, peak traced bytes) while consuming the members export chunk by chunk."""
    rows = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        async for chunk in exports.members_csv(deps, STAFF):
            rows += chunk.count("\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows - 1, peak  # less the header


async def test_a_hundred_thousand_member_export_streams_in_flat_memory(own_engine: tuple[AsyncEngine, str]) -> None:
    engine, dsn = own_engine
    sessions = session_factory(engine)
    deps = Deps(uow=lambda: SqlUnitOfWork(sessions, clock=SystemClock()), tasks=FakeTaskQueue(), clock=SystemClock())

    await seed(dsn, 10_000)
    await peak_while_exporting(deps)  # warm-up: statement caches, imports
    small_rows, small_peak = await peak_while_exporting(deps)
    await seed(dsn, 100_000)
    large_rows, large_peak = await peak_while_exporting(deps)

    assert (small_rows, large_rows) == (10_000, 100_000)
    print(f"\nexport peak traced memory: 10k rows {small_peak / 1e6:.1f} MB, 100k rows {large_peak / 1e6:.1f} MB")
    # Ten times the rows: a list-then-write export would need about ten times the memory; a streamed one stays
    # within a small constant of the 10,000-row peak (caches warmed by more batches, never the rows themselves).
    assert large_peak < 2 * small_peak, f"memory grew with the rows: {small_peak} → {large_peak} bytes"
