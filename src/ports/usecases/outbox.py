"""Dispatching the outbox: hand each committed domain event to its handlers, at least once."""

import logging

from ports.outbound.tasks import Payload
from ports.usecases.deps import Deps

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


async def dispatch_outbox(deps: Deps, payload: Payload) -> int:
    """Drain pending outbox messages in batches; returns how many were dispatched.

    Each batch is claimed with row locks that skip rows another dispatcher holds, so concurrent
    dispatchers share the work. A failing handler marks its message failed (it is retried by the next
    dispatch) without blocking the rest of the batch.
    """
    dispatched = 0
    while True:
        async with deps.uow() as uow:
            batch = await uow.outbox.claim_pending(limit=BATCH_SIZE)
            for message in batch:
                try:
                    for handler in deps.event_handlers.get(message.event_name, ()):
                        await handler(deps, message)
                except Exception as exc:
                    logger.exception("outbox handler failed", extra={"outbox_id": str(message.id)})
                    await uow.outbox.mark_failed(message.id, error=f"{type(exc).__name__}: {exc}")
                else:
                    await uow.outbox.mark_dispatched(message.id, at=deps.clock.now())
                    dispatched += 1
            await uow.commit()
        if len(batch) < BATCH_SIZE:
            return dispatched
