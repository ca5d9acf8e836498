"""SMS delivery reports (Twilio status callbacks): verified, stored in the inbox, then applied by a job.

The inbox key is the message sid plus its status, so a repeated callback is stored once. Only a final word moves
a delivery: ``delivered``, or ``undelivered``/``failed`` (recorded with Twilio's error code for support). A text
is never resent automatically: the member may have read it, and the in-app feed and email carry the same notice.
"""

import logging
from datetime import timedelta
from urllib.parse import parse_qs
from uuid import UUID

from domain.events import Channel
from ports.outbound.notifications import DeliveryStatus
from ports.outbound.tasks import Payload
from ports.usecases.deps import Deps
from ports.usecases.inbox import enqueue_message_job, message_job_key, process_message

logger = logging.getLogger(__name__)

PROVIDER = "twilio"
PROCESS_TASK = "sms.process_status"
RECOVER_TASK = "sms.recover_statuses"
RECOVER_AFTER = timedelta(minutes=2)
RECOVER_BATCH = 200

FINAL: dict[str, DeliveryStatus] = {
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
}


def process_key(payload: Payload) -> str:
    return message_job_key(PROCESS_TASK, payload)


async def enqueue_processing(deps: Deps, message_id: UUID) -> None:
    await enqueue_message_job(deps, PROCESS_TASK, message_id)


async def process_status(deps: Deps, payload: Payload) -> str:
    """Job: apply one stored status callback."""

    async def apply(body: str) -> str:
        form = {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}
        status = FINAL.get(form.get("MessageStatus", ""))
        if status is None:
            return "in flight"
        error = form.get("ErrorCode")
        async with deps.uow() as uow:
            moved = await uow.notification_deliveries.carrier_status(
                channel=Channel.SMS,
                provider_message_id=form["MessageSid"],
                status=status,
                detail=f"carrier: {form['MessageStatus']}" + (f" (error {error})" if error else ""),
            )
            await uow.commit()
        if moved:
            return status.value
        if not await _known(deps, form["MessageSid"]):
            # The callback beat the commit of the message's sid (or the sid is not ours): retry for a while.
            raise LookupError("no delivery has this message sid yet")
        return "nothing to move"

    return await process_message(deps, UUID(str(payload["messageId"])), apply)


async def recover_statuses(deps: Deps, payload: Payload) -> int:
    """Cron: apply stored callbacks whose job was lost (a crash, a flushed queue)."""
    del payload
    async with deps.uow() as uow:
        pending = await uow.inbox.pending(
            PROVIDER, received_before=deps.clock.now() - RECOVER_AFTER, limit=RECOVER_BATCH
        )
    done = 0
    for message in pending:
        try:
            await process_status(deps, {"messageId": str(message.id)})
            done += 1
        except Exception:  # counted on the message; the others are not held up by it
            logger.warning("sms status %s not applied yet", message.id, exc_info=True)
    return done


async def _known(deps: Deps, provider_message_id: str) -> bool:
    async with deps.uow() as uow:
        return await uow.notification_deliveries.has_provider_message(
            channel=Channel.SMS, provider_message_id=provider_message_id
        )
