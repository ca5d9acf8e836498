"""Applying one stored provider message: the same steps for every provider's inbox job.

The message is read back, handed to the provider-specific `apply` (which re-reads the provider's object), then
marked processed. A failure is counted on the message, which stays unprocessed for the next retry or sweep:
a message is never acknowledged-and-dropped.
"""

import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from ports.outbound.tasks import Payload
from ports.usecases.deps import Deps

logger = logging.getLogger(__name__)


def message_job_key(task: str, payload: Payload) -> str:
    """A processing job's dedupe key: one job per stored message."""
    return f"{task}:{payload['messageId']}"


async def enqueue_message_job(deps: Deps, task: str, message_id: UUID) -> None:
    """Wake the processor after intake. The message is already committed, so a failure here only delays it until
    the provider's recovery job picks it up; intake still answers 2xx."""
    payload = {"messageId": str(message_id)}
    try:
        await deps.tasks.enqueue(task, payload, key=message_job_key(task, payload))
    except Exception:
        logger.warning("could not enqueue %s; the recovery job will process the message", task, exc_info=True)


async def process_message(deps: Deps, message_id: UUID, apply: Callable[[str], Awaitable[str]]) -> str:
    """`apply(body)` does the work and returns what it did (for the job log)."""
    async with deps.uow() as uow:
        message = await uow.inbox.get(message_id)
    if message is None or message.processed_at is not None:
        return "already processed"
    try:
        outcome = await apply(message.body)
    except Exception as exc:
        async with deps.uow() as uow:
            await uow.inbox.mark_failed(message_id, error=f"{type(exc).__name__}: {exc}")
            await uow.commit()
        raise
    async with deps.uow() as uow:
        await uow.inbox.mark_processed(message_id, at=deps.clock.now())
        await uow.commit()
    return outcome
