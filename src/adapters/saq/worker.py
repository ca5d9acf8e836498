"""The SAQ worker: task-table rows become SAQ functions; cron rows become ticks that enqueue through the
port, so a cron-started job gets the same timeout, attempts, backoff and dedupe key as any other."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from saq import CronJob, Worker
from saq.queue.redis import RedisQueue
from saq.types import PartialTimersDict

from adapters.job_metrics import observed
from adapters.saq.queue import base_key, generation_key
from ports.outbound.tasks import TaskQueue
from ports.usecases.deps import Deps
from ports.usecases.tasks import TaskSpec, TaskTable

logger = logging.getLogger(__name__)

DEQUEUE_TIMEOUT_S = 1.0
"""Blocking dequeue returns every second, well inside the Redis client's 5 s socket timeout."""
CRON_TICK_TIMEOUT_S = 10
CRON_TICK_ATTEMPTS = 3

SaqFunction = Callable[..., Awaitable[Any]]


def _runner(spec: TaskSpec, deps: Deps, queue: RedisQueue) -> SaqFunction:
    async def run(_ctx: dict[str, Any], *, payload: dict[str, Any]) -> None:
        if spec.coalesce:  # from now on, a new enqueue must queue a fresh job
            await queue.redis.incr(generation_key(queue, base_key(spec, payload, None)))
        async with observed(spec.name):
            await spec.handler(deps, payload)

    run.__qualname__ = spec.name
    return run


def _cron_tick(spec: TaskSpec, tasks: TaskQueue) -> SaqFunction:
    async def tick(_ctx: dict[str, Any]) -> None:
        await tasks.enqueue(spec.name)

    tick.__qualname__ = f"cron:{spec.name}"
    return tick


class PromptWorker(Worker[Any]):
    """SAQ's worker, except that its upkeep loops (schedule, sweep, abort, stats) wake up as soon as shutdown
    starts. SAQ's own loops sleep up to a minute between checks, so an idle worker used to spend the whole
    grace period on every SIGTERM. Jobs still get the full grace period to finish."""

    async def upkeep(self) -> list[asyncio.Task[None]]:
        async def poll(func: Callable[[int], Awaitable[Any]], every: int, arg: int | None = None) -> None:
            while not self.event.is_set():
                try:
                    await func(arg or every)
                except (Exception, asyncio.CancelledError):
                    if self.event.is_set():
                        return
                    logger.exception("SAQ upkeep task failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.event.wait(), timeout=every)

        timers = self.timers
        return [
            asyncio.create_task(poll(self.abort, timers["abort"])),
            asyncio.create_task(poll(self.schedule, timers["schedule"])),
            asyncio.create_task(poll(self.queue.sweep, timers["sweep"])),
            asyncio.create_task(poll(self.worker_info, timers["worker_info"], timers["worker_info"] + 1)),
        ]


def build_worker(
    queue: RedisQueue,
    table: TaskTable,
    deps: Deps,
    *,
    concurrency: int = 10,
    shutdown_grace: timedelta = timedelta(seconds=25),
    sweep_every: timedelta = timedelta(seconds=60),
) -> Worker[Any]:
    """`sweep_every`: how often jobs left active by a dead worker are looked for; each is retried (or failed, if
    out of attempts) once it is past its timeout, so a SIGKILLed job runs again and its keyed effect applies once."""
    functions: list[tuple[str, SaqFunction]] = [(spec.name, _runner(spec, deps, queue)) for spec in table.values()]
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
    return PromptWorker(
        queue,
        functions=functions,
        cron_jobs=cron_jobs,
        concurrency=concurrency,
        dequeue_timeout=DEQUEUE_TIMEOUT_S,
        shutdown_grace_period_s=max(1, round(shutdown_grace.total_seconds())),
        # SAQ's defaults except the sweep (its typing wants every key).
        timers=PartialTimersDict(schedule=1, worker_info=10, abort=1, sweep=max(1, round(sweep_every.total_seconds()))),
    )
