"""Prometheus series for background jobs, shared by the SAQ worker and the in-process runner so both report the
same names: every attempt counted by task and outcome, and its duration (RELIABILITY.md 14: job failure rate)."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter, Histogram

JOB_ATTEMPTS = Counter("tenure_job_attempts_total", "Job attempts by task and outcome", ["task", "outcome"])
JOB_SECONDS = Histogram(
    "tenure_job_duration_seconds",
    "How long one job attempt took",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)


@asynccontextmanager
async def observed(task: str) -> AsyncIterator[None]:
    """Time one attempt; its outcome is `succeeded`, `failed` (an exception) or `cancelled` (shutdown, timeout)."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "succeeded"
    except BaseException as exc:
        outcome = "failed" if isinstance(exc, Exception) else "cancelled"
        raise
    finally:
        JOB_SECONDS.labels(task).observe(time.perf_counter() - started)
        JOB_ATTEMPTS.labels(task, outcome).inc()
