"""The SAQ worker: task-table rows become SAQ functions; cron rows become ticks that enqueue through the
port, so a cron-started job gets the same timeout, attempts, backoff and dedupe key as any other."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from saq import CronJob, Worker
from saq.queue.redis import RedisQueue

from ports.outbound.tasks import TaskQueue
from ports.usecases.deps import Deps
from ports.usecases.tasks import TaskSpec, TaskTable

DEQUEUE_TIMEOUT_S = 1.0
"""Blocking dequeue returns every second, well inside the Redis client's 5 s socket timeout."""
CRON_TICK_TIMEOUT_S = 10
CRON_TICK_ATTEMPTS = 3

SaqFunction = Callable[..., Awaitable[Any]]


def _runner(spec: TaskSpec, deps: Deps) -> SaqFunction:
    async def run(_ctx: dict[str, Any], *, payload: dict[str, Any]) -> None:
        await spec.handler(deps, payload)

    run.__qualname__ = spec.name
    return run


def _cron_tick(spec: TaskSpec, tasks: TaskQueue) -> SaqFunction:
    async def tick(_ctx: dict[str, Any]) -> None:
        await tasks.enqueue(spec.name)

    tick.__qualname__ = f"cron:{spec.name}"
    return tick


def build_worker(
    queue: RedisQueue,
    table: TaskTable,
    deps: Deps,
    *,
    concurrency: int = 10,
    shutdown_grace: timedelta = timedelta(seconds=25),
) -> Worker[Any]:
    functions: list[tuple[str, SaqFunction]] = [(spec.name, _runner(spec, deps)) for spec in table.values()]
    cron_jobs = [
        CronJob(
            _cron_tick(spec, deps.tasks),
            cron=spec.cron,
            unique=True,
            timeout=CRON_TICK_TIMEOUT_S,
            retries=CRON_TICK_ATTEMPTS,
        )
        for spec in table.values()
        if spec.cron
    ]
    return Worker(
        queue,
        functions=functions,
        cron_jobs=cron_jobs,
        concurrency=concurrency,
        dequeue_timeout=DEQUEUE_TIMEOUT_S,
        shutdown_grace_period_s=max(1, round(shutdown_grace.total_seconds())),
    )
