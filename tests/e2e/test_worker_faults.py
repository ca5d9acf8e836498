"""RELIABILITY.md 12 with real `tenure worker` processes (issue 11): a worker SIGKILLed in the middle of an
announcement's delivery batches, and one stopped by SIGTERM mid-delivery; a new worker finishes the work and every
member gets the announcement exactly once (the feed's (event, account) key makes a replayed batch add nothing, and
the sweep retries the jobs the dead worker left active).

A database and a queue of the test's own, so the audience is exactly the members seeded here."""

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from adapters.sql import migrations
from domain.sessions import Role
from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings, env_name
from ports.usecases import announcements
from ports.usecases.auth import Principal
from tests import services
from tests.helpers import eventually

MEMBERS = 12_000  # twelve batches of 1,000
SWEEP_S = 2


@pytest.fixture
async def world(test_settings: Settings, fresh_database: str) -> AsyncIterator[Settings]:
    await asyncio.to_thread(migrations.upgrade, fresh_database)
    queue = f"worker-faults-{uuid.uuid4().hex[:8]}"
    try:
        yield msgspec.structs.replace(test_settings, database_url=fresh_database, queue_name=queue)
    finally:
        await services.delete_redis_keys(f"saq:{queue}*")


def dsn(settings: Settings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def seed_members_and_staff(settings: Settings) -> uuid.UUID:
    staff_id = uuid.uuid4()
    conn = await asyncpg.connect(dsn(settings))
    try:
        await conn.execute(
            "INSERT INTO accounts (id, email, role, status, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'm' || g || '@faults.example', 'member', 'active', now(), now() "
            "FROM generate_series(1, $1) AS g",
            MEMBERS,
        )
        await conn.execute(
            "INSERT INTO accounts (id, email, role, status, created_at, updated_at) "
            "VALUES ($1, 'staff@faults.example', 'admin', 'active', now(), now())",
            staff_id,
        )
    finally:
        await conn.close()
    return staff_id


async def publish(settings: Settings, staff_id: uuid.UUID, title: str) -> tuple[str, int]:
    """Publish an announcement through the use case (enqueueing its batches); (feed event id, recipients)."""
    staff = Principal(
        account_id=staff_id,
        email="staff@faults.example",
        role=Role.ADMIN,
        session_id=uuid.uuid4(),
        authenticated_at=datetime.now(UTC),
        second_factor=True,
    )
    container = build_container(settings)
    await container.start()
    try:
        draft = await announcements.create_announcement(
            container.deps, staff, title=title, body="The program's news.", email=False
        )
        published = await announcements.publish(container.deps, staff, draft.id)
    finally:
        await container.stop()
    assert published.recipients == MEMBERS
    return announcements.event_id(draft.id), published.recipients


async def delivered(settings: Settings, event_id: str) -> int:
    conn = await asyncpg.connect(dsn(settings))
    try:
        count, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT account_id) FROM notifications WHERE event_id = $1", event_id
        )
    finally:
        await conn.close()
    assert count == distinct, "a member got the announcement twice"
    return int(count)


@asynccontextmanager
async def worker_process(settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update(
        {
            env_name("env"): "test",
            env_name("database_url"): settings.database_url,
            env_name("redis_url"): str(settings.redis_url),
            env_name("queue_name"): settings.queue_name,
            env_name("worker_concurrency"): "3",
            env_name("worker_sweep_s"): str(SWEEP_S),
            env_name("shutdown_grace_s"): "20",
            env_name("log_level"): "WARNING",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli.main",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_for(predicate: Callable[[], object], *, timeout: float, what: str) -> None:
    await eventually(predicate, timeout=timeout, what=what)  # type: ignore[arg-type]


async def test_a_worker_killed_mid_delivery_leaves_every_member_with_exactly_one_copy(world: Settings) -> None:
    staff_id = await seed_members_and_staff(world)
    event_id, recipients = await publish(world, staff_id, "Killed mid-delivery")

    async with worker_process(world) as doomed:

        async def started_delivering() -> bool:
            return await delivered(world, event_id) > 0

        await wait_for(started_delivering, timeout=60, what="the first worker to deliver a batch")
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
    at_kill = await delivered(world, event_id)
    assert 0 < at_kill < recipients, f"the kill must land mid-delivery ({at_kill} of {recipients} delivered)"

    async with worker_process(world) as survivor:

        async def all_delivered() -> bool:
            return await delivered(world, event_id) == recipients

        # The jobs the killed worker held are retried once past their 60 s timeout (swept every 2 s).
        await wait_for(all_delivered, timeout=150, what="a new worker to finish the delivery")
        survivor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(survivor.wait(), timeout=30) == 0
    assert await delivered(world, event_id) == recipients


async def test_a_worker_stopped_by_sigterm_mid_delivery_loses_nothing(world: Settings) -> None:
    staff_id = await seed_members_and_staff(world)
    event_id, recipients = await publish(world, staff_id, "Stopped mid-delivery")

    async with worker_process(world) as stopping:

        async def started_delivering() -> bool:
            return await delivered(world, event_id) > 0

        await wait_for(started_delivering, timeout=60, what="the worker to deliver a batch")
        stopping.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(stopping.wait(), timeout=40) == 0, "a clean stop within the grace period"
    at_stop = await delivered(world, event_id)
    assert at_stop < recipients, "the stop must land before the delivery is complete"

    async with worker_process(world) as next_worker:

        async def all_delivered() -> bool:
            return await delivered(world, event_id) == recipients

        await wait_for(all_delivered, timeout=60, what="the next worker to deliver what was still queued")
        next_worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(next_worker.wait(), timeout=30)
