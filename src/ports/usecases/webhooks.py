"""Receiving provider webhooks: verify, then store in the inbox, and only then answer 2xx (RELIABILITY 4).

The message is committed before the provider hears "OK", so a crash after the answer loses nothing: the
inbox is processed by jobs, and a recovery sweep finds anything a lost job left behind. A repeated
delivery finds its row and is acknowledged again without a second effect.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from ports.outbound.webhooks import WebhookVerifier
from ports.usecases import kyc, sms_status
from ports.usecases.deps import Deps
from ports.usecases.payment_events import PROVIDER, enqueue_processing


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    key: str
    new: bool


async def receive_webhook(
    deps: Deps, verifier: WebhookVerifier, *, body: bytes, headers: Mapping[str, str]
) -> Received:
    """Raise `InvalidSignature` for anything unverifiable: nothing is stored then."""
    message = await verifier.verify(body, headers, now=deps.clock.now())
    async with deps.uow() as uow:
        message_id, new = await uow.inbox.store(
            provider=verifier.provider,
            event_key=message.key,
            event_type=message.type,
            body=body.decode("utf-8"),  # the verifier proved it is UTF-8 (JSON, or Twilio's form)
            received_at=deps.clock.now(),
            subject=message.subject,
        )
        await uow.commit()
    if new and verifier.provider == PROVIDER:
        await enqueue_processing(deps, message_id)
    elif new and verifier.provider == kyc.PROVIDER:
        await kyc.enqueue_processing(deps, message_id)
    elif new and verifier.provider == sms_status.PROVIDER:
        await sms_status.enqueue_processing(deps, message_id)
    return Received(key=message.key, new=new)
