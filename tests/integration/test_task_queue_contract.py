"""The `TaskQueue` contract, run against both adapters: SAQ with a real worker on Redis, and the
in-process runner. Same tests, same expectations."""

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from adapters.inprocess.runner import InProcessTaskRunner
from adapters.saq.queue import SaqTaskQueue, connect_queue
from adapters.saq.worker import build_worker
from adapters.system.clock import SystemClock
from ports.outbound.tasks import TaskQueue
from ports.usecases.deps import Deps
from ports.usecases.tasks import TaskSpec, TaskTable, task_table
from tests import services
from tests.fakes import FakeClock, FakeStore, FakeUnitOfWork
from tests.helpers import eventually


@dataclass
class Journal:
    """What the test tasks did, recorded in process (both adapters run the handlers in this process)."""

    attempts: Counter[str] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)


JOURNAL = Journal()


async def record(_deps: Deps, payload: Any) -> None:
    token = payload["token"]
    JOURNAL.attempts[token] += 1
    attempt = JOURNAL.attempts[token]
    if gate := JOURNAL.gates.get(token):
        await gate.wait()
    if attempt <= payload.get("fail_times", 0):
        raise RuntimeError(f"planned failure {attempt}")
    if attempt <= payload.get("hang_times", 0):
        await asyncio.sleep(30)
    JOURNAL.completed[token] += 1


async def tick(_deps: Deps, _payload: Any) -> None:
    JOURNAL.completed["cron"] += 1


def spec(name: str, **overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "name": name,
        "handler": record,
        "timeout": timedelta(seconds=1),
        "max_attempts": 3,
        "retry_delay": timedelta(milliseconds=100),
        "max_retry_delay": timedelta(milliseconds=200),
        "key": lambda payload: str(payload["token"]),
    }
    fields.update(overrides)
    return TaskSpec(**fields)


TABLE: TaskTable = task_table(
    [
        spec("test.record"),
        spec("test.cron", handler=tick, key=lambda _p: "cron", cron="* * * * * */1"),
        spec("test.wake", coalesce=True),
    ]
)
_tokens = itertools.count()
GRACE = timedelta(seconds=0.5)


def token() -> str:
    return f"t{next(_tokens)}"


def deps_for(tasks: TaskQueue) -> Deps:
    clock = FakeClock()
    store = FakeStore()
    return Deps(uow=lambda: FakeUnitOfWork(store, clock), tasks=tasks, clock=SystemClock())


@pytest.fixture(params=["saq", "inprocess"])
async def queue(request: pytest.FixtureRequest, redis_namespace: str) -> AsyncIterator[TaskQueue]:
    JOURNAL.attempts.clear()
    JOURNAL.completed.clear()
    JOURNAL.gates.clear()
    if request.param == "inprocess":
        runner = InProcessTaskRunner(TABLE)
        await runner.start(deps_for(runner))
        yield runner
        await runner.stop(GRACE)
        return

    name = f"{redis_namespace}-{request.node.name}"
    saq = SaqTaskQueue(connect_queue(services.REDIS_URL, name), TABLE)
    await saq.queue.connect()
    worker = build_worker(saq.queue, TABLE, deps_for(saq), concurrency=4, shutdown_grace=GRACE)
    running = asyncio.create_task(worker.start())
    yield saq
    await worker.stop()
    await running
    await saq.queue.disconnect()
    await services.delete_redis_keys(f"saq:{name}*")


async def test_a_job_runs_exactly_once(queue: TaskQueue) -> None:
    t = token()
    assert await queue.enqueue("test.record", {"token": t})
    await eventually(lambda: JOURNAL.completed[t] == 1, what="the job to run")
    await asyncio.sleep(1.0)  # long enough for a duplicate delivery or a spurious retry to show
    assert JOURNAL.attempts[t] == 1
    assert JOURNAL.completed[t] == 1


async def test_a_dedupe_key_collapses_enqueues_while_the_job_is_incomplete(queue: TaskQueue) -> None:
    t = token()
    JOURNAL.gates[t] = asyncio.Event()
    results = await asyncio.gather(*(queue.enqueue("test.record", {"token": t}) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    await eventually(lambda: JOURNAL.attempts[t] == 1, what="the job to start")
    assert not await queue.enqueue("test.record", {"token": t}), "a running job's key must still dedupe"
    JOURNAL.gates[t].set()
    await eventually(lambda: JOURNAL.completed[t] == 1, what="the job to finish")

    async def key_released() -> bool:  # SAQ releases the key just after the handler returns
        return await queue.enqueue("test.record", {"token": t})

    await eventually(key_released, what="a finished job's key to be free again")
    await eventually(lambda: JOURNAL.completed[t] == 2, what="the second run")


async def test_a_coalescing_job_collapses_wake_ups_only_while_queued(queue: TaskQueue) -> None:
    """A wake-up that arrives while a run is in progress must queue another run, never be lost."""
    t = token()
    JOURNAL.gates[t] = asyncio.Event()
    assert await queue.enqueue("test.wake", {"token": t})
    await eventually(lambda: JOURNAL.attempts[t] == 1, what="the first run to start")
    assert await queue.enqueue("test.wake", {"token": t}), "a running job must not absorb a new wake-up"
    assert not await queue.enqueue("test.wake", {"token": t}), "a queued job absorbs further wake-ups"
    JOURNAL.gates[t].set()
    await eventually(lambda: JOURNAL.completed[t] == 2, what="the second run")
    await asyncio.sleep(0.5)
    assert JOURNAL.completed[t] == 2


async def test_a_failing_job_is_retried_until_it_succeeds(queue: TaskQueue) -> None:
    t = token()
    await queue.enqueue("test.record", {"token": t, "fail_times": 2})
    await eventually(lambda: JOURNAL.completed[t] == 1, what="the third attempt to succeed")
    assert JOURNAL.attempts[t] == 3


async def test_a_job_stops_after_its_maximum_attempts(queue: TaskQueue) -> None:
    t = token()
    await queue.enqueue("test.record", {"token": t, "fail_times": 99})
    await eventually(lambda: JOURNAL.attempts[t] == 3, what="three attempts")
    await asyncio.sleep(1.0)
    assert JOURNAL.attempts[t] == 3
    assert JOURNAL.completed[t] == 0


async def test_a_job_over_its_timeout_is_cancelled_and_retried(queue: TaskQueue) -> None:
    t = token()
    await queue.enqueue("test.record", {"token": t, "hang_times": 1})
    await eventually(lambda: JOURNAL.completed[t] == 1, timeout=15, what="the retry after the timeout")
    assert JOURNAL.attempts[t] == 2


async def test_a_delayed_job_waits(queue: TaskQueue) -> None:
    t = token()
    await queue.enqueue("test.record", {"token": t}, delay=timedelta(seconds=2))
    await asyncio.sleep(0.8)
    assert JOURNAL.attempts[t] == 0
    await eventually(lambda: JOURNAL.completed[t] == 1, timeout=10, what="the delayed job")


async def test_cron_rows_run_on_schedule(queue: TaskQueue) -> None:
    await eventually(lambda: JOURNAL.completed["cron"] >= 2, timeout=10, what="two cron runs")


async def test_an_unknown_task_is_refused(queue: TaskQueue) -> None:
    with pytest.raises(ValueError, match="unknown task"):
        await queue.enqueue("test.nope", {})


async def test_two_saq_workers_run_a_job_once(redis_namespace: str) -> None:
    """Competing real workers on one Redis queue: each job is claimed by exactly one of them."""
    JOURNAL.attempts.clear()
    JOURNAL.completed.clear()
    name = f"{redis_namespace}-two-workers"
    saq = SaqTaskQueue(connect_queue(services.REDIS_URL, name), TABLE)
    await saq.queue.connect()
    workers = [build_worker(saq.queue, TABLE, deps_for(saq), concurrency=4, shutdown_grace=GRACE) for _ in range(2)]
    running = [asyncio.create_task(w.start()) for w in workers]
    try:
        tokens = [token() for _ in range(40)]
        for t in tokens:
            await saq.enqueue("test.record", {"token": t})
        await eventually(lambda: all(JOURNAL.completed[t] == 1 for t in tokens), what="40 jobs")
        await asyncio.sleep(1.0)
        assert all(JOURNAL.attempts[t] == 1 for t in tokens)
    finally:
        for w in workers:
            await w.stop()
        await asyncio.gather(*running)
        await saq.queue.disconnect()
        await services.delete_redis_keys(f"saq:{name}*")
