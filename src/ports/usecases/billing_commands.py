"""Provider-side effects requested through the outbox: refunds, cancellations, collection pauses.

The decision to refund or cancel commits with the state change that caused it; the provider call happens after
commit, from the outbox, with an idempotency key built from our ids and the purpose (RELIABILITY 8). A handler
that fails (provider down) leaves its message pending, and the next dispatch retries with the same key, so
the provider acts once however often we ask.
"""

import logging
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from domain.membership import QUEUE_STATES
from domain.money import Money
from ports.outbound.outbox import OutboxMessage
from ports.outbound.payments import PaymentProviderError
from ports.usecases import billing_sync
from ports.usecases.audit import record_audit
from ports.usecases.deps import Deps

logger = logging.getLogger(__name__)


async def on_refund_requested(deps: Deps, message: OutboxMessage) -> None:
    """An automatic refund (what remains of the payment) or a staff refund (its amount and period choice, sent
    along as refund metadata so the refund's webhook knows what staff decided, D155)."""
    payment_id = UUID(str(message.payload["paymentId"]))
    reason = str(message.payload.get("reason") or "requested")
    staff_request = message.payload.get("staffRefund")
    async with deps.uow() as uow:
        payment = await uow.billing.get_payment(payment_id)
    if payment is None:
        logger.error("refund requested for unknown payment %s", payment_id)
        return
    refunded = payment.refunded or Money(cents=0, currency=payment.amount.currency)
    if refunded >= payment.amount:
        if staff_request is not None:  # refunded meanwhile (another way): nothing left for this request to do
            await _staff_refund_failed(deps, payment.id, UUID(str(staff_request)), "nothing_left_to_refund")
        return
    amount, metadata, key = None, None, f"refund:{payment.id}:{reason}"
    if staff_request is not None:
        amount = Money(cents=int(message.payload["amountCents"]), currency=payment.amount.currency)
        metadata = {
            billing_sync.STAFF_REFUND_KEY: str(staff_request),
            billing_sync.PERIOD_EFFECT_KEY: str(message.payload["period"]),
        }
        key = f"refund:{payment.id}:staff:{staff_request}"
    try:
        await billing_sync.gateway(deps).refund_payment(
            charge_id=payment.provider_charge_id,
            payment_intent_id=None if payment.provider_charge_id else payment.provider_payment_id,
            amount=amount,
            metadata=metadata,
            idempotency_key=key,
        )
    except PaymentProviderError as exc:
        if staff_request is not None and exc.code in REFUSED_FOR_GOOD:
            await _staff_refund_failed(deps, payment.id, UUID(str(staff_request)), exc.code or "refused")
            return
        if exc.code == "charge_already_refunded":
            return
        raise


REFUSED_FOR_GOOD = frozenset({"charge_already_refunded", "amount_too_large", "charge_disputed"})
"""Provider answers that no retry will change: a staff refund that gets one is closed as failed (and audited) so
finance can see it and ask again."""


async def _staff_refund_failed(deps: Deps, payment_id: UUID, request_id: UUID, code: str) -> None:
    now = deps.clock.now()
    async with deps.uow() as uow:
        if not await billing_sync.close_staff_refund(uow, payment_id, str(request_id), outcome="failed", at=now):
            return
        payment = await uow.billing.get_payment(payment_id)
        invoice = await uow.billing.invoice(payment.invoice_id) if payment else None
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(invoice.membership_id) if invoice else str(payment_id),
            actor=billing_sync.PROVIDER,
            action="refund_failed",
            at=now,
            after={"payment": str(payment_id), "code": code},
        )
        await uow.commit()
    logger.error("staff refund %s of payment %s refused by the provider: %s", request_id, payment_id, code)


async def on_cancel_subscription_requested(deps: Deps, message: OutboxMessage) -> None:
    subscription_id = str(message.payload["subscriptionId"])
    reason = str(message.payload.get("reason") or "requested")
    provider = billing_sync.gateway(deps)
    current = await provider.get_subscription(subscription_id)
    if current.status in {"canceled", "incomplete_expired"}:
        return
    await provider.cancel_subscription(subscription_id, idempotency_key=f"cancel:{subscription_id}:{reason}")


async def on_cancel_at_period_end_requested(deps: Deps, message: OutboxMessage) -> None:
    """Level-triggered: send what the membership wants *now*, not what the message said when it was written, so
    a failed "cancel" retried after a later "undo" cannot leave the provider cancelling a membership we keep."""
    subscription_id = str(message.payload["subscriptionId"])
    async with deps.uow() as uow:
        membership = await uow.billing.get_membership(UUID(str(message.payload["membershipId"])))
    if membership is None or membership.provider_subscription_id != subscription_id:
        return
    on = membership.cancel_effective_at is not None and membership.status in QUEUE_STATES
    await billing_sync.gateway(deps).set_cancel_at_period_end(
        subscription_id, on=on, idempotency_key=f"cancel-at-period-end:{message.id}:{on}"
    )


async def on_collection_pause_requested(deps: Deps, message: OutboxMessage) -> None:
    """WON pauses collection (renewal invoices are voided: a $0 or void invoice posts nothing); a restored
    membership resumes it."""
    subscription_id = str(message.payload["subscriptionId"])
    provider = billing_sync.gateway(deps)
    if message.payload.get("pause", True):
        await provider.pause_collection(subscription_id, idempotency_key=f"pause:{message.id}", behavior="void")
    else:
        await provider.resume_collection(subscription_id, idempotency_key=f"resume:{message.id}")


async def on_subscription_restart_requested(deps: Deps, message: OutboxMessage) -> None:
    """After a late-truth reinstatement: a new subscription on the same card from the next due date, then the
    membership follows it. A retry reuses the key, so the provider creates one subscription."""
    membership_id = UUID(str(message.payload["membershipId"]))
    previous = str(message.payload["previousSubscriptionId"])
    anchor = datetime.fromisoformat(str(message.payload["anchor"]))
    now = deps.clock.now()
    try:
        restarted = await billing_sync.gateway(deps).restart_subscription(
            previous,
            billing_cycle_anchor=anchor,
            membership_id=str(membership_id),
            idempotency_key=f"restart:{membership_id}:{previous}",
        )
    except PaymentProviderError as exc:
        # Refused (e.g. the card is gone, or retries ran past the anchor): never loop; staff restart it by hand.
        logger.error("billing restart for membership %s refused: %s", membership_id, exc.code or exc)
        async with deps.uow() as uow:
            await record_audit(
                uow,
                entity_type="membership",
                entity_id=str(membership_id),
                actor=billing_sync.PROVIDER,
                action="provider_alert",
                at=now,
                after={"alert": "billing_restart_refused", "code": exc.code},
                reason="the provider refused to restart billing after a late-truth reinstatement",
            )
            await uow.commit()
        return
    async with deps.uow() as uow:
        membership = await uow.billing.get_membership(membership_id, for_update=True)
        if membership is None or membership.provider_subscription_id != previous:
            return  # already followed (a repeated message), or the membership moved on
        await uow.billing.save_membership(
            replace(membership, provider_subscription_id=restarted.id, next_due_at=anchor), at=now
        )
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership_id),
            actor=billing_sync.PROVIDER,
            action="billing_restarted",
            at=now,
            before={"subscription": previous},
            after={"subscription": restarted.id, "next_due_at": anchor.isoformat()},
            reason="late-truth reinstatement: the default had cancelled the subscription",
        )
        await uow.commit()


async def on_provider_alert(deps: Deps, message: OutboxMessage) -> None:
    """Alerts for staff (log + metric until the admin console's alert feed exists)."""
    del deps
    logger.error("billing alert: %s", message.payload)


HANDLERS = {
    billing_sync.REFUND_REQUESTED: (on_refund_requested,),
    billing_sync.CANCEL_SUBSCRIPTION_REQUESTED: (on_cancel_subscription_requested,),
    billing_sync.CANCEL_AT_PERIOD_END_REQUESTED: (on_cancel_at_period_end_requested,),
    billing_sync.COLLECTION_PAUSE_REQUESTED: (on_collection_pause_requested,),
    billing_sync.PROVIDER_ALERT: (on_provider_alert,),
    billing_sync.SUBSCRIPTION_RESTART_REQUESTED: (on_subscription_restart_requested,),
}
