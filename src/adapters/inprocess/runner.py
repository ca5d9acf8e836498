"""`TaskQueue` + worker in one asyncio runner, for the embedded default (`make run`, no Redis).

Same contract as the SAQ adapter: dedupe keys while incomplete, per-task timeout, attempts and capped
exponential backoff from the task table, and cron. Jobs live in memory: a crash loses queued jobs, which
is acceptable only because every durable effect starts from the outbox or inbox tables, whose cron sweeps
re-enqueue what was lost. Production uses SAQ on Redis.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from croniter import croniter

from adapters.job_metrics import observed
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.tasks import Payload
from ports.usecases.deps import Deps
from ports.usecases.tasks import TaskSpec, TaskTable

logger = logging.getLogger(__name__)


class InProcessTaskRunner:
    component = "queue"

    def __init__(self, table: TaskTable, *, concurrency: int = 10, clock: Callable[[], datetime] | None = None) -> None:
        self._table = table
        self._slots = asyncio.Semaphore(concurrency)
        self._incomplete: set[str] = set()
        self._generations: dict[str, int] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._cron: asyncio.Task[None] | None = None
        self._deps: Deps | None = None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stopping = False

    def _spec(self, task: str) -> TaskSpec:
        try:
            return self._table[task]
        except KeyError:
            raise ValueError(f"unknown task {task!r}") from None

    async def enqueue(
        self, task: str, payload: Payload | None = None, *, key: str | None = None, delay: timedelta | None = None
    ) -> bool:
        spec = self._spec(task)
        payload = dict(payload or {})
        base_key = f"{task}:{key or spec.key(payload)}"
        job_key = f"{base_key}:g{self._generations.get(base_key, 0)}" if spec.coalesce else base_key
        if self._stopping:
            raise ComponentUnavailable("queue", "the in-process runner is shutting down")
        if job_key in self._incomplete:
            return False
        self._incomplete.add(job_key)
        job = asyncio.create_task(self._run(spec, payload, job_key, base_key, delay), name=job_key)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return True

    async def check(self) -> None:
        """Readiness probe: the queue is a `HealthProbe` too."""
        await self.ping()

    async def ping(self) -> None:
        if self._stopping:
            raise ComponentUnavailable("queue", "the in-process runner is shutting down")

    async def _run(
        self, spec: TaskSpec, payload: Payload, job_key: str, base_key: str, delay: timedelta | None
    ) -> None:
        try:
            if delay:
                await asyncio.sleep(delay.total_seconds())
            if spec.coalesce:  # from now on, a new enqueue must queue a fresh job
                self._generations[base_key] = self._generations.get(base_key, 0) + 1
            for attempt in range(1, spec.max_attempts + 1):
                try:
                    async with self._slots:
                        if self._deps is None:
                            raise RuntimeError("the runner was not started with its dependencies")
                        async with observed(spec.name):
                            await asyncio.wait_for(spec.handler(self._deps, payload), spec.timeout.total_seconds())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if attempt == spec.max_attempts:
                        logger.exception("task failed for good", extra={"task": spec.name, "attempt": attempt})
                        return
                    logger.warning("task failed, will retry", exc_info=True, extra={"task": spec.name})
                    await asyncio.sleep(spec.backoff(attempt).total_seconds())
                else:
                    return
        finally:
            self._incomplete.discard(job_key)

    async def _cron_loop(self) -> None:
        scheduled = [(spec, croniter(spec.cron, self._clock())) for spec in self._table.values() if spec.cron]
        upcoming = {spec.name: it.get_next(datetime) for spec, it in scheduled}
        while True:
            now = self._clock()
            for spec, it in scheduled:
                if upcoming[spec.name] <= now:
                    await self.enqueue(spec.name)
                    upcoming[spec.name] = it.get_next(datetime)
            if not upcoming:
                return
            wait = (min(upcoming.values()) - self._clock()).total_seconds()
            await asyncio.sleep(max(wait, 0.05))

    async def start(self, deps: Deps) -> None:
        self._deps = deps
        self._stopping = False
        self._cron = asyncio.create_task(self._cron_loop(), name="inprocess-cron")

    async def stop(self, grace: timedelta = timedelta(seconds=25)) -> None:
        """Stop taking jobs, let running ones finish within `grace`, then cancel the rest."""
        self._stopping = True
        if self._cron:
            self._cron.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cron
        if self._jobs:
            _done, pending = await asyncio.wait(set(self._jobs), timeout=grace.total_seconds())
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
