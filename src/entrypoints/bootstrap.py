"""The composition root: the one place that turns settings into adapters and use-case dependencies.

HTTP, the worker, the CLI and the tests all build their dependencies here, so they run the same code.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from saq import Worker
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.inprocess.runner import InProcessTaskRunner
from adapters.saq.queue import SaqTaskQueue, connect_queue
from adapters.saq.worker import build_worker
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.health import DatabaseProbe, MigrationsProbe
from adapters.sql.migrations import head_revision
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from entrypoints.settings import Settings
from ports.outbound.clock import Clock
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.deps import Deps
from ports.usecases.tasks import TASKS, TaskTable

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Container:
    settings: Settings
    deps: Deps
    engine: AsyncEngine
    table: TaskTable
    runner: InProcessTaskRunner | None = None
    saq: SaqTaskQueue | None = None
    _started: bool = field(default=False, repr=False)

    @property
    def shutdown_grace(self) -> timedelta:
        return timedelta(seconds=self.settings.shutdown_grace_s)

    async def start(self) -> None:
        """Open connections lazily; with the in-process backend, also start running jobs in this process."""
        if self.saq is not None:
            await self.saq.queue.connect()
        if self.runner is not None:
            await self.runner.start(self.deps)
        self._started = True

    async def stop(self) -> None:
        """Release everything; one failing step (e.g. Redis already gone) must not skip the others."""
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if self.runner is not None:
            runner = self.runner
            steps.append(("in-process jobs", lambda: runner.stop(self.shutdown_grace)))
        if self.saq is not None and self._started:
            steps.append(("queue", self.saq.queue.disconnect))
        steps.append(("database", self.engine.dispose))
        for name, step in steps:
            try:
                await step()
            except Exception:
                logger.warning("shutdown of %s failed", name, exc_info=True)
        self._started = False

    def saq_worker(self) -> Worker[Any]:
        """The SAQ worker for `tenure worker` (only with the saq backend)."""
        if self.saq is None:
            raise RuntimeError("TENURE_QUEUE_BACKEND is not saq: jobs run inside the web process")
        return build_worker(
            self.saq.queue,
            self.table,
            self.deps,
            concurrency=self.settings.worker_concurrency,
            shutdown_grace=self.shutdown_grace,
        )


def build_container(settings: Settings, *, table: TaskTable = TASKS, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    sessions = session_factory(engine)

    runner: InProcessTaskRunner | None = None
    saq: SaqTaskQueue | None = None
    if settings.queue_backend == "saq":
        assert settings.redis_url is not None  # guaranteed by settings validation
        saq = SaqTaskQueue(connect_queue(settings.redis_url, settings.queue_name), table)
        tasks: SaqTaskQueue | InProcessTaskRunner = saq
    else:
        runner = InProcessTaskRunner(table, concurrency=settings.worker_concurrency, clock=clock.now)
        tasks = runner

    async def wake_outbox() -> None:
        await tasks.enqueue("outbox.dispatch")

    def uow() -> UnitOfWork:
        return SqlUnitOfWork(sessions, clock=clock, on_events_committed=wake_outbox)

    deps = Deps(
        uow=uow,
        tasks=tasks,
        clock=clock,
        probes=(DatabaseProbe(engine), MigrationsProbe(engine, head_revision()), tasks),
    )
    return Container(settings=settings, deps=deps, engine=engine, table=table, runner=runner, saq=saq)
