"""Applying one stored provider message: the same steps for every provider's inbox job.

The message is read back, handed to the provider-specific `apply` (which re-reads the provider's object), then
marked processed. A failure is counted on the message, which stays unprocessed for the next retry or sweep:
a message is never acknowledged-and-dropped.
"""

from collections.abc import Awaitable, Callable
from uuid import UUID

from ports.usecases.deps import Deps


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
