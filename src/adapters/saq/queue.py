"""`TaskQueue` on SAQ: every job carries the timeout, attempts and backoff of its row in the task table."""

import time
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Job
from saq.queue.redis import RedisQueue

from ports.outbound.errors import ComponentUnavailable
from ports.outbound.tasks import Payload
from ports.usecases.tasks import TaskSpec, TaskTable

JOB_TTL_S = 24 * 3600
"""How long SAQ keeps a finished job's record (for inspection); dedupe only applies while incomplete."""


def base_key(spec: TaskSpec, payload: Payload, key: str | None) -> str:
    return f"{spec.name}:{key or spec.key(payload)}"


def generation_key(queue: RedisQueue, base: str) -> str:
    """Redis counter of a coalescing task's started runs, in the queue's own key namespace."""
    return f"saq:{queue.name}:generation:{base}"


def job_for(
    spec: TaskSpec, payload: Payload, *, key: str | None, delay: timedelta | None, now_s: float, generation: int = 0
) -> Job:
    job_key = base_key(spec, payload, key)
    return Job(
        function=spec.name,
        kwargs={"payload": dict(payload)},
        key=f"{job_key}:g{generation}" if spec.coalesce else job_key,
        timeout=int(spec.timeout.total_seconds()),
        retries=spec.max_attempts,
        retry_delay=spec.retry_delay.total_seconds(),
        retry_backoff=spec.max_retry_delay.total_seconds(),
        ttl=JOB_TTL_S,
        scheduled=int(now_s + delay.total_seconds()) if delay else 0,
    )


class SaqTaskQueue:
    component = "queue"

    def __init__(self, queue: RedisQueue, table: TaskTable) -> None:
        self.queue = queue
        self._table = table

    async def enqueue(
        self, task: str, payload: Payload | None = None, *, key: str | None = None, delay: timedelta | None = None
    ) -> bool:
        try:
            spec = self._table[task]
        except KeyError:
            raise ValueError(f"unknown task {task!r}") from None
        payload = payload or {}
        try:
            generation = 0
            if spec.coalesce:
                generation = int(
                    await self.queue.redis.get(generation_key(self.queue, base_key(spec, payload, key))) or 0
                )
            job = job_for(spec, payload, key=key, delay=delay, now_s=time.time(), generation=generation)
            return await self.queue.enqueue(job) is not None
        except (RedisError, OSError) as exc:
            raise ComponentUnavailable("queue", f"{type(exc).__name__}: {exc}") from exc

    async def check(self) -> None:
        """Readiness probe: the queue is a `HealthProbe` too."""
        await self.ping()

    async def ping(self) -> None:
        try:
            await self.queue.redis.ping()
        except (RedisError, OSError) as exc:
            raise ComponentUnavailable("queue", f"redis: {type(exc).__name__}: {exc}") from exc


def connect_redis(redis_url: str) -> Redis:
    """A Redis client with short socket timeouts, so an outage fails fast instead of hanging requests."""
    return Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=15)


def connect_queue(redis_url: str, name: str) -> RedisQueue:
    return RedisQueue(connect_redis(redis_url), name=name)
