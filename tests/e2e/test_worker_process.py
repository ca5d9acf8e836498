"""The real `tenure worker` process on Redis: a committed domain event wakes the dispatcher, the worker
dispatches it, and SIGTERM stops the worker cleanly."""

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from sqlalchemy import select

from adapters.sql import models
from adapters.sql.unit_of_work import SqlUnitOfWork
from entrypoints.bootstrap import build_container
from entrypoints.settings import Settings, env_name
from tests.helpers import eventually


@pytest.fixture
def process_settings(test_settings: Settings) -> Settings:
    """A queue of its own, so only the worker process under test can run these jobs."""
    return msgspec.structs.replace(test_settings, queue_name=f"{test_settings.queue_name}-process")


@pytest.fixture
async def worker_process(process_settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    test_settings = process_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env.update(
        {
            env_name("env"): "test",
            env_name("database_url"): test_settings.database_url,
            env_name("redis_url"): str(test_settings.redis_url),
            env_name("queue_name"): test_settings.queue_name,
            env_name("shutdown_grace_s"): "2",
            env_name("log_level"): "INFO",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli.main",
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    started = await asyncio.wait_for(_read_until(process.stdout, b"worker starting"), timeout=30)
    assert started, "the worker process did not start"
    yield process
    if process.returncode is None:
        process.kill()
        await process.wait()


async def _read_until(stream: asyncio.StreamReader, marker: bytes) -> bool:
    while line := await stream.readline():
        if marker in line:
            return True
    return False


async def test_an_event_committed_by_the_app_is_dispatched_by_the_worker_process(
    process_settings: Settings, worker_process: asyncio.subprocess.Process, make_uow: Callable[..., SqlUnitOfWork]
) -> None:
    container = build_container(process_settings)
    await container.start()
    aggregate_id = uuid.uuid4().hex
    try:
        async with container.deps.uow() as uow:
            uow.record(event_name="test.worker", aggregate_type="test", aggregate_id=aggregate_id, payload={})
            await uow.commit()  # wakes `outbox.dispatch` on Redis
    finally:
        await container.stop()

    async def dispatched() -> bool:
        async with make_uow() as uow:
            at = await uow.session.scalar(
                select(models.OutboxMessage.dispatched_at).where(models.OutboxMessage.aggregate_id == aggregate_id)
            )
            return at is not None

    await eventually(dispatched, timeout=20, what="the worker process to dispatch the event")

    worker_process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(worker_process.wait(), timeout=20)
    output = (await worker_process.stdout.read()).decode() if worker_process.stdout else ""
    assert code == 0, output
