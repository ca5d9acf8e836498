"""Processing stored payment-provider events, recovering lost ones, and reconciling with the provider.

Intake (`webhooks.receive_webhook`) stores each verified event and answers 2xx; then a `payments.process_event`
job reads it back, works out which provider object it is about and hands that object's id to a `billing_sync`
function, which re-reads the object itself. The event body is never trusted for facts. An event about something
we do not know yet stays unprocessed and is retried (never acknowledged-and-dropped); the recovery sweep picks up
anything whose job was lost, and reconciliation re-lists the provider's recent events and open invoices so that
even a multi-day webhook outage converges to the same state.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from domain import ledger
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.payments import PaymentEventRef
from ports.outbound.tasks import Payload
from ports.usecases import billing_sync
from ports.usecases.deps import Deps
from ports.usecases.inbox import enqueue_message_job, message_job_key, process_message

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
PROCESS_TASK = "payments.process_event"
RECOVER_TASK = "payments.recover_inbox"
RECONCILE_TASK = "payments.reconcile"
MONEY_TASK = "payments.reconcile_money"

RECOVERY_DELAY = timedelta(seconds=30)
"""An event not processed this long after it arrived is taken up by the recovery sweep (its job was lost)."""
RECONCILE_LOOKBACK = timedelta(days=3)
"""How far back reconciliation re-lists provider events (Stripe keeps 30 days; a 2-day outage fits)."""
MONEY_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
"""The money reconciliation compares totals since the program began (before any possible payment)."""
RECONCILE_KIND = "payments.events"
MONEY_KIND = "payments.money"

HANDLED_PREFIXES = ("checkout.session.", "invoice.", "customer.subscription.", "charge.")


def process_key(payload: Payload) -> str:
    return message_job_key(PROCESS_TASK, payload)


async def enqueue_processing(deps: Deps, message_id: UUID) -> None:
    await enqueue_message_job(deps, PROCESS_TASK, message_id)


def kind_of(event_type: str) -> str:
    """The provider object an event type is about (for events re-listed without their body)."""
    if event_type.startswith("checkout.session."):
        return "checkout.session"
    if event_type.startswith("customer.subscription."):
        return "subscription"
    if event_type.startswith("charge.dispute."):
        return "dispute"
    if event_type.startswith(("charge.refund.", "refund.")):
        return "refund"
    if event_type.startswith("charge."):
        return "charge"
    if event_type.startswith("invoice."):
        return "invoice"
    return event_type.split(".", 1)[0]


async def apply_event(deps: Deps, ref: PaymentEventRef) -> str:
    """Re-read the object the event is about and apply it; returns what was done (for the job log)."""
    kind, object_id = ref.object_kind, ref.object_id
    if kind == "checkout.session":
        await billing_sync.sync_checkout(deps, object_id)
    elif kind == "invoice":
        await billing_sync.sync_invoice(deps, object_id)
    elif kind == "subscription":
        await billing_sync.sync_subscription(deps, object_id)
    elif kind == "charge" and ref.type in {"charge.refunded", "charge.refund.updated"}:
        await billing_sync.sync_charge(deps, object_id)
    elif kind == "dispute":
        await billing_sync.sync_dispute(deps, object_id)
    else:
        return f"ignored {ref.type}"
    return f"applied {ref.type} {object_id}"


async def process_event(deps: Deps, payload: Payload) -> str:
    """Job: apply one stored event, then mark it processed. Failures are counted and the job retried."""
    decoder = deps.payment_events
    if decoder is None:
        raise RuntimeError("no payment event decoder is configured")

    async def apply(body: str) -> str:
        return await apply_event(deps, decoder.decode(body))

    return await process_message(deps, UUID(str(payload["messageId"])), apply)


async def recover_inbox(deps: Deps, payload: Payload) -> int:
    """Cron: process events whose job was lost (worker killed, Redis flushed). Returns how many were applied."""
    del payload
    async with deps.uow() as uow:
        pending = await uow.inbox.pending(PROVIDER, received_before=deps.clock.now() - RECOVERY_DELAY, limit=200)
    applied = 0
    for message in pending:
        try:
            await process_event(deps, {"messageId": str(message.id)})
            applied += 1
        except ComponentUnavailable:
            raise  # the provider or database is down: stop, the next run retries
        except Exception:
            logger.warning("recovery of provider event %s failed", message.event_key, exc_info=True)
    return applied


async def reconcile(deps: Deps, payload: Payload) -> dict[str, int]:
    """Cron: re-list recent provider events and apply any we never stored; re-read open invoices. A successful
    run is recorded: payouts need one less than an hour old (§7)."""
    del payload
    started = deps.clock.now()
    provider = billing_sync.gateway(deps)
    seen = missing = failed = 0
    cursor: str | None = None
    while True:
        page = await provider.list_events(created_after=started - RECONCILE_LOOKBACK, starting_after=cursor)
        for event in page.items:
            if not event.type.startswith(HANDLED_PREFIXES) or event.object_id is None:
                continue
            seen += 1
            async with deps.uow() as uow:
                stored = await uow.inbox.by_key(PROVIDER, event.id)
            if stored is not None:
                continue
            missing += 1
            ref = PaymentEventRef(
                id=event.id,
                type=event.type,
                object_kind=kind_of(event.type),
                object_id=event.object_id,
                customer_id=None,
                created_at=event.created_at,
            )
            try:
                await apply_event(deps, ref)
            except billing_sync.UnknownSubject:
                failed += 1
                logger.warning("reconciliation: %s is about something we do not know", event.id)
        if not page.has_more or page.next_cursor is None:
            break
        cursor = page.next_cursor
    finished = deps.clock.now()
    detail: dict[str, object] = {"seen": seen, "missing": missing, "unknown": failed}
    async with deps.uow() as uow:
        await uow.billing.record_reconciliation(
            kind=RECONCILE_KIND, started_at=started, finished_at=finished, ok=True, drift_cents=0, detail=detail
        )
        await uow.commit()
    if missing:
        logger.warning("reconciliation applied %d provider events that never arrived", missing)
    return {"seen": seen, "missing": missing, "unknown": failed}


MONEY_TYPES = frozenset({"charge", "payment", "refund", "payment_refund", "adjustment"})
"""Balance-transaction types that move member money (amounts are signed: refunds and dispute withdrawals are
negative), compared gross with the ledger's cash from payments, refunds and disputes."""


async def reconcile_money(deps: Deps, payload: Payload) -> dict[str, Any]:
    """Daily: compare the provider's balance transactions with ledger cash from member payments, post provider
    fees the ledger does not hold yet (Dr processing_fees / Cr cash, §9), and record the drift."""
    del payload
    started = deps.clock.now()
    provider = billing_sync.gateway(deps)
    provider_cents = fees_posted = 0
    cursor: str | None = None
    while True:
        page = await provider.list_balance_transactions(created_after=MONEY_EPOCH, starting_after=cursor)
        async with deps.uow() as uow:
            for txn in page.items:
                if txn.type not in MONEY_TYPES:
                    continue
                provider_cents += txn.amount.cents
                if txn.fee.is_positive:
                    posted = await uow.ledger.post(
                        ledger.provider_fee(balance_transaction_id=txn.id, fee=txn.fee, at=txn.created_at)
                    )
                    fees_posted += int(posted)
            await uow.commit()
        if not page.has_more or page.next_cursor is None:
            break
        cursor = page.next_cursor
    async with deps.uow() as uow:
        ledger_cents = (await uow.ledger.member_cash()).cents
        drift = provider_cents - ledger_cents
        finished = deps.clock.now()
        detail: dict[str, object] = {
            "provider_cents": provider_cents,
            "ledger_cents": ledger_cents,
            "fees_posted": fees_posted,
        }
        await uow.billing.record_reconciliation(
            kind=MONEY_KIND, started_at=started, finished_at=finished, ok=drift == 0, drift_cents=drift, detail=detail
        )
        await uow.commit()
    if drift:
        logger.error("money reconciliation drift of %s cents between the provider and the ledger", drift)
    return {"drift_cents": drift, **detail}


DUNNING_BUFFER_DAYS = 2
"""Margin between our grace end and the provider's last retry: the sweep's interval, events still in flight."""


async def check_provider_dunning(deps: Deps, *, grace_days: int | None = None) -> str:
    """Start-up: the provider's own dunning must never end a subscription before our grace ends (§5).

    Refuses (raises) a configuration that cancels too early; returns a warning text when the settings are not
    stated, and "" when they are safe. See docs/operations.md. ``grace_days``: check a proposed grace instead of
    the longest known one (a rules change must not make the next start-up refuse).
    """
    settings = await billing_sync.gateway(deps).dunning_settings()
    longest = max(rules.grace_days for rules in deps.rules.history.versions)
    needed = max(longest, grace_days or 0) + DUNNING_BUFFER_DAYS
    if settings.terminal_action in {"past_due", "mark_unpaid"}:
        return ""
    if settings.terminal_action == "cancel":
        if settings.retry_window_days is not None and settings.retry_window_days >= needed:
            return ""
        raise RuntimeError(
            f"the payment provider cancels subscriptions after {settings.retry_window_days} days of failed payments, "
            f"before our grace ends; set its retries to at least {needed} days or its final action to leave the "
            "subscription past due (docs/operations.md)"
        )
    return (
        "the payment provider's dunning settings are not stated (TENURE_STRIPE_DUNNING_*); make sure it never "
        f"cancels within {needed} days of a failed payment (docs/operations.md)"
    )
