"""The embedded default (`make run`): SQLite file, in-process jobs, no PostgreSQL or Redis needed."""

import asyncio
import sqlite3
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.member_numbers import next_member_number
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, load_settings
from tests.helpers import eventually


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'tenure.db'}"


@pytest.fixture
async def migrated(database_url: str) -> str:
    from adapters.sql.engine import ensure_sqlite_directory

    ensure_sqlite_directory(database_url)
    await asyncio.to_thread(migrations.upgrade, database_url)
    return database_url


@pytest.fixture
def settings(migrated: str) -> Settings:
    return msgspec.structs.replace(load_settings({}), database_url=migrated, log_level="WARNING")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


def tables(path: str) -> set[str]:
    with sqlite3.connect(path.removeprefix("sqlite+aiosqlite:///")) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name NOT LIKE 'sqlite_%'"
        )
        return {r[0] for r in rows}


async def test_migrations_upgrade_and_downgrade_on_sqlite(migrated: str) -> None:
    created = tables(migrated)
    assert {"memberships", "ledger_postings", "outbox", "member_number_allocations"} <= created
    assert {"ledger_postings_no_update", "audit_log_no_delete"} <= created
    await asyncio.to_thread(migrations.downgrade, migrated, "base")
    assert tables(migrated) <= {"alembic_version"}
    await asyncio.to_thread(migrations.upgrade, migrated)
    assert tables(migrated) == created


async def test_the_app_is_ready_without_postgres_or_redis(app: Litestar) -> None:
    async with AsyncTestClient(app, base_url="https://tenure.test") as client:
        response = await client.get("/health/ready")
        assert response.status_code == 200, response.text
        assert all(c["ok"] for c in response.json()["components"])
        assert (await client.get("/schema")).status_code == 200


async def test_committed_events_are_dispatched_by_the_in_process_runner(app: Litestar) -> None:
    async with AsyncTestClient(app, base_url="https://tenure.test"):
        deps = app.state.container.deps
        async with deps.uow() as uow:
            uow.record(event_name="test.sqlite", aggregate_type="test", aggregate_id="a1", payload={})
            await uow.commit()

        async def dispatched() -> bool:
            async with deps.uow() as uow:
                at = await uow.session.scalar(
                    select(models.OutboxMessage.dispatched_at).where(models.OutboxMessage.aggregate_id == "a1")
                )
                return at is not None

        await eventually(dispatched, what="the in-process runner to dispatch the outbox")


async def test_member_numbers_and_append_only_ledger_on_sqlite(migrated: str) -> None:
    engine = create_engine(migrated)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            committed = await next_member_number(session)
            await session.commit()
        async with sessions() as session:
            rolled_back = await next_member_number(session)
            await session.rollback()
        async with sessions() as session:
            later = await next_member_number(session)
            await session.commit()
        assert rolled_back > committed
        assert later > committed, "a committed number is never handed out again"
    finally:
        await engine.dispose()

    with sqlite3.connect(migrated.removeprefix("sqlite+aiosqlite:///")) as conn:
        conn.execute(
            "INSERT INTO ledger_entries (id, reference, kind, occurred_at, recorded_at) "
            "VALUES (x'01', 'r1', 'test', '2026-01-01', '2026-01-01')"
        )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE ledger_entries SET memo = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM ledger_entries")
