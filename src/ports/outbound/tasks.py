"""The job-queue port. Both adapters (SAQ on Redis, in-process) honour the same contract:

- `enqueue` with a dedupe `key` is a no-op while a job with that key is queued, scheduled or running;
  for a coalescing task (`TaskSpec.coalesce`) only while it is queued: a started job no longer absorbs it;
- every task runs with the timeout, retries and backoff of its `TaskSpec` (never a library default);
- a failing attempt is retried after `retry_delay * 2**(attempt-1)`, capped at `max_retry_delay` (SAQ adds
  jitter below that delay).
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

JsonScalar = str | int | float | bool | None
JsonValue = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
Payload = Mapping[str, JsonValue]


class TaskQueue(Protocol):
    async def enqueue(
        self, task: str, payload: Payload | None = None, *, key: str | None = None, delay: timedelta | None = None
    ) -> bool:
        """Queue `task`; returns False when a job with the same dedupe key is already incomplete."""
        ...

    async def ping(self) -> None:
        """Raise `ComponentUnavailable` when the queue's backing store cannot be reached."""
        ...
