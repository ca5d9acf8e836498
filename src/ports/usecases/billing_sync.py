"""Bringing our memberships in line with the payment provider's objects (DOMAIN.md §3, §5, §9).

Every path that learns about money — a webhook, the checkout redirect, the default sweep, reconciliation —
re-reads the provider's *current* object and calls one of the `sync_*` functions here. Each takes the
membership's row lock, so concurrent paths run one after another, and each effect is keyed by the business
identity of the movement (the provider invoice, refund or dispute id): a second path finds the effect already
there and does nothing. Because the current object is read rather than the event's snapshot, the order in which
events arrive cannot change the outcome, and a stale event cannot revive anything.
"""

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain import billing as billing_rules
from domain import ledger
from domain.calendar import months_between
from domain.events import MembershipActivated, MembershipCured, MembershipRejoined, PaymentFailed
from domain.membership import (
    ENDED_STATES,
    QUEUE_STATES,
    DisputeOutcome,
    LatePaymentAction,
    MembershipEvent,
    MembershipState,
    PaymentKind,
    ReversalEffect,
    dispute_decision,
    late_payment_decision,
    refund_decision,
    transition,
)
from domain.money import Money
from domain.staff_refunds import keeps_period_paid
from ports.outbound.billing import DisputeRecord, InvoiceRecord, MembershipRecord, PaymentRecord
from ports.outbound.errors import PortError
from ports.outbound.payments import (
    CheckoutSession,
    PaymentGateway,
    ProviderInvoice,
    ProviderRefund,
    ProviderSubscription,
)
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.audit import record_audit
from ports.usecases.deps import Deps

logger = logging.getLogger(__name__)

PROVIDER = "provider"
"""The audit actor for changes caused by the payment provider's facts."""

REFUND_REQUESTED = "billing.refund_requested"
STAFF_REFUND_KEY = "tenure_staff_refund"
PERIOD_EFFECT_KEY = "tenure_period"
STAFF_REFUND_REQUEST = "refund"
"""Metadata of a staff refund at the provider: which request, and whether the period stays paid (D155)."""
CANCEL_SUBSCRIPTION_REQUESTED = "billing.cancel_subscription_requested"
CANCEL_AT_PERIOD_END_REQUESTED = "billing.cancel_at_period_end_requested"
COLLECTION_PAUSE_REQUESTED = "billing.collection_pause_requested"
PROVIDER_ALERT = "billing.provider_alert"
SUBSCRIPTION_RESTART_REQUESTED = "billing.subscription_restart_requested"


class UnknownSubject(PortError):
    """The provider object belongs to nothing we know yet: keep the event and retry (never 200-and-drop)."""


def gateway(deps: Deps) -> PaymentGateway:
    if deps.payments is None:
        raise RuntimeError("no payment provider is configured")
    return deps.payments


# -- shared effects ---------------------------------------------------------------------------------------------


def notify(uow: UnitOfWork, name: str, membership: MembershipRecord, **payload: Any) -> None:
    """Record a member notice in the outbox with the state change (delivered once per channel later)."""
    body: dict[str, Any] = {"accountId": str(membership.account_id), "membershipId": str(membership.id)}
    for key, value in payload.items():
        body[key] = value.isoformat() if isinstance(value, datetime) else value
    uow.record(event_name=name, aggregate_type="membership", aggregate_id=str(membership.id), payload=body)


def command(uow: UnitOfWork, name: str, membership: MembershipRecord, **payload: Any) -> None:
    """Ask for a provider-side effect (refund, cancellation) through the outbox: it happens after commit."""
    uow.record(
        event_name=name,
        aggregate_type="membership",
        aggregate_id=str(membership.id),
        payload={"membershipId": str(membership.id), **payload},
    )


async def change_state(
    uow: UnitOfWork,
    membership: MembershipRecord,
    event: MembershipEvent,
    *,
    at: datetime,
    actor: str = PROVIDER,
    reason: str | None = None,
    **changes: Any,
) -> MembershipRecord:
    """Apply one transition of the table (or raise), save it and audit it in the same transaction."""
    status = transition(membership.status, event)
    changed = replace(membership, status=status, **changes)
    await uow.billing.save_membership(changed, at=at)
    await record_audit(
        uow,
        entity_type="membership",
        entity_id=str(membership.id),
        actor=actor,
        action=event.value,
        at=at,
        before={"status": membership.status.value},
        after={"status": status.value, **{k: _audit_value(v) for k, v in changes.items() if k in _AUDITED}},
        reason=reason,
    )
    return changed


_AUDITED = frozenset({"member_number", "tenure_start", "grace_ends_at", "cancel_effective_at", "end_reason"})


def _audit_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _split(deps: Deps, amount: Money, rules_version: int) -> ledger.PaymentSplit:
    return ledger.split_payment(amount, deps.rules.version(rules_version))


async def post_payment(
    deps: Deps, uow: UnitOfWork, *, reference_id: str, amount: Money, rules_version: int, paid_at: datetime
) -> None:
    """Payment P into the ledger under `invoice:<id>:paid` (a $0 invoice posts nothing)."""
    if amount.is_positive:
        split = _split(deps, amount, rules_version)
        await uow.ledger.post(ledger.payment_received(invoice_id=reference_id, split=split, at=paid_at))


# -- checkout sessions ------------------------------------------------------------------------------------------


async def sync_checkout(deps: Deps, session_id: str) -> MembershipRecord | None:
    """The checkout redirect and `checkout.session.*` events: both end here, and in `sync_invoice`."""
    session = await gateway(deps).get_checkout_session(session_id)
    if session.purpose == "retention":
        return await _sync_retention(deps, session)
    if session.status == "complete" and session.invoice_id:
        return await sync_invoice(deps, session.invoice_id)
    if session.status == "expired":
        now = deps.clock.now()
        async with deps.uow() as uow:
            membership = await uow.billing.membership_by_checkout(session.id, for_update=True)
            if membership is not None and membership.status is MembershipState.PENDING:
                membership = await change_state(
                    uow, membership, MembershipEvent.ABANDON, at=now, reason="checkout_expired", checkout_url=None
                )
            await uow.commit()
        return membership
    async with deps.uow() as uow:
        return await uow.billing.membership_by_checkout(session.id)


async def close_expired_checkout(deps: Deps, session_id: str) -> MembershipRecord | None:
    """Ask the provider before abandoning: expire a session that is still open there, then apply what it says
    (a checkout paid at the last second activates instead)."""
    provider = gateway(deps)
    session = await provider.get_checkout_session(session_id)
    if session.status == "open":
        await provider.expire_checkout_session(session.id, idempotency_key=f"expire:{session.id}")
    return await sync_checkout(deps, session.id)


async def _sync_retention(deps: Deps, session: CheckoutSession) -> MembershipRecord | None:
    """A paid retention prepayment (§7): recorded once per membership; a second one, or one for a membership that
    can no longer use it, is refunded automatically."""
    if session.payment_status != "paid" or session.membership_id is None or session.payment_intent_id is None:
        return None
    now = deps.clock.now()
    paid_at = session.paid_at or now
    amount = session.amount_total or Money(cents=0)
    async with deps.uow() as uow:
        membership = await uow.billing.get_membership(UUID(session.membership_id), for_update=True)
        if membership is None:
            raise UnknownSubject(f"retention checkout {session.id} for an unknown membership")
        if await uow.billing.invoice_by_provider_id(session.id) is not None:
            return membership
        rules_version = deps.rules.in_force(paid_at).version
        invoice = InvoiceRecord(
            id=deps.new_id(),
            membership_id=membership.id,
            provider_invoice_id=session.id,
            purpose=PaymentKind.RETENTION,
            period_index=await _free_period(uow, membership.id, PaymentKind.RETENTION, 0),
            amount=amount,
            status="paid",
            due_at=paid_at,
            rules_version=rules_version,
            paid_at=paid_at,
        )
        await uow.billing.add_invoice(invoice, at=now)
        payment = PaymentRecord(
            id=deps.new_id(),
            invoice_id=invoice.id,
            provider_payment_id=session.payment_intent_id,
            amount=amount,
            paid_at=paid_at,
        )
        await uow.billing.add_payment(payment, at=now)
        await post_payment(
            deps, uow, reference_id=session.id, amount=amount, rules_version=rules_version, paid_at=paid_at
        )
        usable = membership.retention_prepaid_at is None and membership.status in QUEUE_STATES | {MembershipState.WON}
        if usable:
            membership = replace(membership, retention_prepaid_at=paid_at)
            await uow.billing.save_membership(membership, at=now)
            await record_audit(
                uow,
                entity_type="membership",
                entity_id=str(membership.id),
                actor=PROVIDER,
                action="retention_prepaid",
                at=now,
                after={"retention_prepaid_at": paid_at.isoformat()},
            )
        else:
            command(uow, REFUND_REQUESTED, membership, paymentId=str(payment.id), reason="retention_not_usable")
        await uow.commit()
    return membership


async def _free_period(uow: UnitOfWork, membership_id: UUID, purpose: PaymentKind, wanted: int) -> int:
    taken = {i.period_index for i in await uow.billing.invoices_of(membership_id) if i.purpose is purpose}
    index = wanted
    while index in taken:
        index += 1
    return index


# -- invoices ---------------------------------------------------------------------------------------------------


async def sync_invoice(deps: Deps, invoice_id: str) -> MembershipRecord | None:
    """Re-read one invoice (and its subscription) and apply what it says: activation, dues paid or failed, late
    truth. Returns the membership as it is afterwards."""
    provider = gateway(deps)
    invoice = await provider.get_invoice(invoice_id)
    if invoice.subscription_id is None:
        logger.info("ignoring invoice %s without a subscription", invoice.id)
        return None
    subscription = await provider.get_subscription(invoice.subscription_id)
    async with deps.uow() as uow:
        membership = await _membership_for(uow, subscription, lock=True)
        result = await apply_invoice(deps, uow, membership, invoice, subscription)
        await uow.commit()
    return result


async def _membership_for(uow: UnitOfWork, subscription: ProviderSubscription, *, lock: bool) -> MembershipRecord:
    membership = None
    if subscription.membership_id:
        try:
            membership = await uow.billing.get_membership(UUID(subscription.membership_id), for_update=lock)
        except ValueError:
            membership = None
    if membership is None:
        membership = await uow.billing.membership_by_subscription(subscription.id, for_update=lock)
    if membership is None:
        raise UnknownSubject(f"subscription {subscription.id} belongs to no membership we know")
    return membership


async def apply_invoice(
    deps: Deps,
    uow: UnitOfWork,
    membership: MembershipRecord,
    invoice: ProviderInvoice,
    subscription: ProviderSubscription,
) -> MembershipRecord:
    """Apply one invoice's facts to a locked membership (inside the caller's unit of work)."""
    if invoice.billing_reason == "subscription_create":
        return await _apply_joining(deps, uow, membership, invoice, subscription)
    if membership.tenure_start is None:
        if membership.status is MembershipState.PENDING:
            raise UnknownSubject(f"dues invoice {invoice.id} before its membership was activated")
        return membership  # an abandoned checkout never had dues
    return await _apply_dues(deps, uow, membership, invoice)


async def _apply_joining(
    deps: Deps,
    uow: UnitOfWork,
    membership: MembershipRecord,
    invoice: ProviderInvoice,
    subscription: ProviderSubscription,
) -> MembershipRecord:
    if membership.joining_invoice_id == invoice.id:
        return membership  # already fulfilled: the redirect, the webhook and reconciliation all end here
    if invoice.status != "paid" or invoice.paid_at is None:
        return membership
    now = deps.clock.now()
    existing = await uow.billing.invoice_by_provider_id(invoice.id)
    if existing is not None:
        return membership  # a stray joining payment already recorded (and its refund requested)
    paid_at = invoice.paid_at
    rules_version = membership.rules_version
    activating = membership.status is MembershipState.PENDING
    record = InvoiceRecord(
        id=deps.new_id(),
        membership_id=membership.id,
        provider_invoice_id=invoice.id,
        purpose=PaymentKind.JOINING,
        period_index=0 if activating else await _free_period(uow, membership.id, PaymentKind.JOINING, 1),
        amount=invoice.amount_paid,
        status="paid",
        due_at=invoice.due_at,
        rules_version=rules_version,
        paid_at=paid_at,
        hosted_invoice_url=invoice.hosted_invoice_url,
    )
    await uow.billing.add_invoice(record, at=now)
    payment = await _record_payment(deps, uow, record, invoice, now=now)
    await post_payment(
        deps, uow, reference_id=invoice.id, amount=invoice.amount_paid, rules_version=rules_version, paid_at=paid_at
    )
    if not activating:
        # Two tabs, or a payment after the checkout was abandoned: never a second joining (§3).
        command(uow, REFUND_REQUESTED, membership, paymentId=str(payment.id), reason="joining_not_pending")
        if subscription.id != membership.provider_subscription_id and subscription.status != "canceled":
            command(uow, CANCEL_SUBSCRIPTION_REQUESTED, membership, subscriptionId=subscription.id, reason="stray")
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=PROVIDER,
            action="stray_joining_payment",
            at=now,
            after={"invoice": invoice.id, "status": membership.status.value},
            reason="joining payment for a membership that is not pending: refunded",
        )
        return membership
    number = await uow.billing.next_member_number()
    earlier = [m for m in await uow.billing.memberships_of(membership.account_id) if m.id != membership.id]
    activated = await change_state(
        uow,
        membership,
        MembershipEvent.ACTIVATE,
        at=now,
        member_number=number,
        tenure_start=paid_at,
        activated_at=now,
        provider_customer_id=invoice.customer_id or subscription.customer_id,
        provider_subscription_id=subscription.id,
        joining_invoice_id=invoice.id,
        checkout_url=None,
        next_due_at=billing_rules.dues_due_at(paid_at, 1),
    )
    notify(uow, MembershipActivated.name, activated, memberNumber=number, tenureStart=paid_at)
    if earlier:
        notify(uow, MembershipRejoined.name, activated, memberNumber=number, previousMembershipId=str(earlier[0].id))
    return activated


async def _record_payment(
    deps: Deps, uow: UnitOfWork, record: InvoiceRecord, invoice: ProviderInvoice, *, now: datetime
) -> PaymentRecord:
    existing = await uow.billing.payment_of_invoice(record.id)
    if existing is not None:
        return existing
    assert record.paid_at is not None
    payment = PaymentRecord(
        id=deps.new_id(),
        invoice_id=record.id,
        provider_payment_id=invoice.payment_intent_id or f"invoice:{invoice.id}",
        provider_charge_id=invoice.charge_id,
        amount=invoice.amount_paid,
        paid_at=record.paid_at,
    )
    await uow.billing.add_payment(payment, at=now)
    return payment


def dues_period(anchor: datetime, due_at: datetime) -> int:
    """Which dues invoice (n ≥ 1) a provider invoice falling due at `due_at` is: the nearest anchor month, so a
    provider finalising a little before or after our due instant still lands on the right period."""
    return max(1, months_between(anchor, due_at + timedelta(days=14)))


_STATUS = {"paid": "paid", "open": "open", "void": "void", "uncollectible": "uncollectible"}


async def _apply_dues(
    deps: Deps, uow: UnitOfWork, membership: MembershipRecord, invoice: ProviderInvoice
) -> MembershipRecord:
    status = _STATUS.get(invoice.status)
    if status is None:
        return membership  # a draft: not due yet
    assert membership.tenure_start is not None
    now = deps.clock.now()
    anchor = membership.tenure_start
    existing = await uow.billing.invoice_by_provider_id(invoice.id)
    n = existing.period_index if existing else dues_period(anchor, invoice.due_at)
    due_at = billing_rules.dues_due_at(anchor, n)
    rules_version = existing.rules_version if existing else deps.rules.in_force(invoice.created_at).version
    paid = status == "paid" and invoice.paid_at is not None
    failed_attempts = invoice.attempt_count - (1 if paid else 0)
    first_failed_at = existing.first_failed_at if existing else None
    if first_failed_at is None and failed_attempts > 0:
        first_failed_at = max(invoice.due_at, due_at)  # the automatic first attempt happens when it falls due
    reversed_at = existing.reversed_at if existing else None
    facts = billing_rules.Invoice(
        invoice_id=invoice.id,
        rules_version=rules_version,
        due_at=due_at,
        first_failed_at=first_failed_at,
        paid_at=invoice.paid_at if paid else None,
        reversed_at=reversed_at if paid else None,
    )
    grace = billing_rules.invoice_grace(facts, deps.rules.history)
    record = InvoiceRecord(
        id=existing.id if existing else deps.new_id(),
        membership_id=membership.id,
        provider_invoice_id=invoice.id,
        purpose=PaymentKind.DUES,
        period_index=n,
        amount=invoice.amount_due,
        status="refunded" if paid and reversed_at else status,
        due_at=due_at,
        rules_version=rules_version,
        paid_at=facts.paid_at,
        first_failed_at=first_failed_at,
        grace_start=grace.grace_start,
        grace_ends_at=grace.grace_ends_at,
        reversed_at=facts.reversed_at,
        hosted_invoice_url=invoice.hosted_invoice_url,
    )
    if existing is None:
        await uow.billing.add_invoice(record, at=now)
    elif existing != record:
        await uow.billing.save_invoice(record, at=now)
    if paid and invoice.amount_paid.is_positive:
        payment = await _record_payment(deps, uow, record, invoice, now=now)
        await post_payment(
            deps,
            uow,
            reference_id=invoice.id,
            amount=invoice.amount_paid,
            rules_version=rules_version,
            paid_at=payment.paid_at,
        )
        if membership.status in ENDED_STATES:
            return await _late_payment(deps, uow, membership, record, payment)
    if paid and membership.next_due_at is not None:
        following = billing_rules.dues_due_at(anchor, n + 1)
        if following > membership.next_due_at:
            membership = replace(membership, next_due_at=following)
            await uow.billing.save_membership(membership, at=now)
    return await reconcile_status(deps, uow, membership)


def domain_invoices(records: list[InvoiceRecord] | tuple[InvoiceRecord, ...]) -> list[billing_rules.Invoice]:
    """Dues invoices as the grace rules see them (void and uncollectible-but-paid aside)."""
    facts = []
    for record in records:
        if record.purpose is not PaymentKind.DUES or record.status == "void":
            continue
        facts.append(
            billing_rules.Invoice(
                invoice_id=record.provider_invoice_id,
                rules_version=record.rules_version,
                due_at=record.due_at,
                first_failed_at=record.first_failed_at,
                paid_at=record.paid_at,
                reversed_at=record.reversed_at,
            )
        )
    return facts


async def reconcile_status(deps: Deps, uow: UnitOfWork, membership: MembershipRecord) -> MembershipRecord:
    """PAST_DUE while an invoice is unpaid past its grace start, ACTIVE again (same place) when all are paid."""
    if membership.status not in QUEUE_STATES:
        return membership
    now = deps.clock.now()
    invoices = domain_invoices(list(await uow.billing.invoices_of(membership.id)))
    status = billing_rules.billing_status(invoices, deps.rules.history, now)
    event = billing_rules.status_event(membership.status, status)
    if event is MembershipEvent.BECOME_PAST_DUE:
        membership = await change_state(uow, membership, event, at=now, grace_ends_at=status.grace_ends_at)
    if status.past_due:
        await _tell_overdue(deps, uow, membership, invoices, status.overdue_invoice_ids)
    if event is MembershipEvent.BECOME_PAST_DUE:
        return membership
    if event is MembershipEvent.CURE:
        cured = await change_state(uow, membership, event, at=now, grace_ends_at=None)
        notify(uow, MembershipCured.name, cured)
        return cured
    if membership.status is MembershipState.PAST_DUE and membership.grace_ends_at != status.grace_ends_at:
        membership = replace(membership, grace_ends_at=status.grace_ends_at)
        await uow.billing.save_membership(membership, at=now)
    return membership


async def _tell_overdue(
    deps: Deps,
    uow: UnitOfWork,
    membership: MembershipRecord,
    invoices: list[billing_rules.Invoice],
    overdue: tuple[str, ...],
) -> None:
    """`payment.failed` once per overdue invoice (failed, action required, unpaid a day after falling due, or
    fully refunded), with that invoice's grace end."""
    now = deps.clock.now()
    by_id = {invoice.invoice_id: invoice for invoice in invoices}
    for invoice_id in overdue:
        if await uow.billing.raise_notice_once(membership_id=membership.id, notice_key=f"failed:{invoice_id}", at=now):
            grace = billing_rules.invoice_grace(by_id[invoice_id], deps.rules.history)
            notify(uow, PaymentFailed.name, membership, invoiceId=invoice_id, graceEndsAt=grace.grace_ends_at)


async def _late_payment(
    deps: Deps, uow: UnitOfWork, membership: MembershipRecord, record: InvoiceRecord, payment: PaymentRecord
) -> MembershipRecord:
    """A dues payment for an ended membership: late truth reinstates a default it contradicts, else refund."""
    now = deps.clock.now()
    invoices = domain_invoices(list(await uow.billing.invoices_of(membership.id)))
    others = [m for m in await uow.billing.memberships_of(membership.account_id) if m.id != membership.id]
    joining = await uow.billing.invoice_by_provider_id(membership.joining_invoice_id or "")
    decision = late_payment_decision(
        state=membership.status,
        paid_at=payment.paid_at,
        grace_ends_at=membership.grace_ends_at,
        default_still_justified=billing_rules.default_was_justified(
            invoices, deps.rules.history, membership.ended_at or now
        ),
        joining_payment_reversed=joining is not None and joining.reversed_at is not None,
        person_has_other_live_membership=any(m.status not in ENDED_STATES for m in others),
    )
    if decision.action is LatePaymentAction.REINSTATE:
        reinstated = await change_state(
            uow,
            membership,
            MembershipEvent.REINSTATE,
            at=now,
            reason=f"late truth: {record.provider_invoice_id} paid before grace ended",
            ended_at=None,
            end_reason=None,
            grace_ends_at=None,
        )
        reinstated = await reconcile_status(deps, uow, reinstated)
        if membership.provider_subscription_id and membership.tenure_start:
            # The default cancelled the subscription: billing restarts on the same card from the next due date
            # of the original schedule (an older unpaid invoice stays payable and keeps its own grace).
            command(
                uow,
                SUBSCRIPTION_RESTART_REQUESTED,
                reinstated,
                previousSubscriptionId=membership.provider_subscription_id,
                anchor=billing_rules.next_due_after(membership.tenure_start, now).isoformat(),
            )
        return reinstated
    if decision.action is LatePaymentAction.REFUND:
        command(uow, REFUND_REQUESTED, membership, paymentId=str(payment.id), reason=decision.reason.value)
    return membership


# -- refunds and disputes ---------------------------------------------------------------------------------------


async def _payment_context(
    uow: UnitOfWork, payment: PaymentRecord, *, lock: bool
) -> tuple[MembershipRecord, InvoiceRecord]:
    invoice = await uow.billing.invoice(payment.invoice_id)
    assert invoice is not None  # a foreign key
    membership = await uow.billing.get_membership(invoice.membership_id, for_update=lock)
    assert membership is not None
    return membership, invoice


def refund_kind(membership: MembershipRecord, invoice: InvoiceRecord) -> PaymentKind:
    """A stray joining payment (never the activating one) is a plain refund case, not a reversal of joining."""
    if invoice.purpose is PaymentKind.JOINING and invoice.provider_invoice_id != membership.joining_invoice_id:
        return PaymentKind.RETENTION  # ledger only
    return invoice.purpose


async def sync_charge(deps: Deps, charge_id: str) -> MembershipRecord | None:
    """`charge.refunded` and friends: record each new refund once and apply what a full reversal means."""
    charge = await gateway(deps).get_charge(charge_id)
    now = deps.clock.now()
    async with deps.uow() as uow:
        payment = await uow.billing.payment_by_charge(charge.id)
        if payment is None and charge.payment_intent_id:
            payment = await uow.billing.payment_by_intent(charge.payment_intent_id)
        if payment is None:
            raise UnknownSubject(f"charge {charge.id} is not a payment we recorded (yet)")
        membership, invoice = await _payment_context(uow, payment, lock=True)
        split = _split(deps, payment.amount, invoice.rules_version)
        refunded = payment.refunded or Money(cents=0, currency=payment.amount.currency)
        reversed_total = refunded + _lost_dispute(payment)
        changed = False
        for refund in sorted(charge.refunds, key=lambda r: (r.created_at, r.id)):
            if refund.status in {"failed", "canceled"}:
                await _settle_staff_refund(uow, payment, refund, outcome="failed", at=now)  # finance may ask again
                continue
            if refund.status not in {"succeeded", "pending"} or not refund.amount.is_positive:
                continue
            if not await uow.billing.add_refund(
                payment_id=payment.id, provider_refund_id=refund.id, amount=refund.amount, at=refund.created_at
            ):
                continue
            await uow.ledger.post(
                ledger.refund_issued(
                    refund_id=refund.id,
                    amount=refund.amount,
                    original=split,
                    already_reversed=reversed_total,
                    at=refund.created_at,
                )
            )
            refunded, reversed_total, changed = refunded + refund.amount, reversed_total + refund.amount, True
            await _settle_staff_refund(uow, payment, refund, outcome="refunded", at=now)
            kind = refund_kind(membership, invoice)
            if (
                refunded >= payment.amount
                and kind is PaymentKind.DUES
                and keeps_period_paid(refund.metadata.get(PERIOD_EFFECT_KEY))
            ):
                await record_audit(
                    uow,
                    entity_type="membership",
                    entity_id=str(membership.id),
                    actor=PROVIDER,
                    action="refund_kept_period_paid",
                    at=now,
                    after={"refund": refund.id, "amount_cents": refund.amount.cents, "invoice": str(invoice.id)},
                    reason="staff_refund",
                )
            elif refunded >= payment.amount:
                membership = await _full_reversal(
                    deps,
                    uow,
                    membership,
                    invoice,
                    refund_decision(
                        state=membership.status,
                        kind=kind,
                        refunded=payment.amount,
                        payment=payment.amount,
                    ).effect,
                    at=refund.created_at,
                    why="full_refund",
                )
        if changed:
            await uow.billing.save_payment(replace(payment, refunded=refunded), at=now)
        await uow.commit()
    return membership


async def _settle_staff_refund(
    uow: UnitOfWork, payment: PaymentRecord, refund: ProviderRefund, *, outcome: str, at: datetime
) -> None:
    """Close the payment's open staff refund request this refund carries out (another may then be asked for)."""
    request_id = refund.metadata.get(STAFF_REFUND_KEY)
    if request_id is not None:
        await close_staff_refund(uow, payment.id, request_id, outcome=outcome, at=at)


async def close_staff_refund(uow: UnitOfWork, payment_id: UUID, request_id: str, *, outcome: str, at: datetime) -> bool:
    """Close the payment's open staff refund request if it is ``request_id``; False when that one is not open."""
    pending = await uow.payouts.open_request(STAFF_REFUND_REQUEST, str(payment_id))
    if pending is None or str(pending.id) != request_id:
        return False
    await uow.payouts.resolve_request(pending.id, by=pending.requested_by, at=at, outcome=outcome)
    return True


def _lost_dispute(payment: PaymentRecord) -> Money:
    """What a lost dispute already reversed of the payment. The provider refuses to refund a disputed charge, so
    a refund after a lost dispute cannot happen; the whole payment counts as reversed then."""
    zero = Money(cents=0, currency=payment.amount.currency)
    return zero if payment.dispute_status != "lost" else payment.amount


async def _full_reversal(
    deps: Deps,
    uow: UnitOfWork,
    membership: MembershipRecord,
    invoice: InvoiceRecord,
    effect: ReversalEffect,
    *,
    at: datetime,
    why: str,
) -> MembershipRecord:
    now = deps.clock.now()
    if effect is ReversalEffect.PERIOD_UNPAID:
        await uow.billing.save_invoice(replace(invoice, status="refunded", reversed_at=at), at=now)
        return await reconcile_status(deps, uow, membership)
    if effect is ReversalEffect.CANCEL_MEMBERSHIP:
        await uow.billing.save_invoice(replace(invoice, status="refunded", reversed_at=at), at=now)
        cancelled = await change_state(
            uow,
            membership,
            MembershipEvent.REVERSE_JOINING,
            at=now,
            reason=why,
            ended_at=now,
            end_reason="joining_payment_reversed",
            cancel_effective_at=None,
        )
        notify(uow, "membership.cancelled", cancelled, reason="joining_payment_reversed")
        if membership.provider_subscription_id:
            command(
                uow,
                CANCEL_SUBSCRIPTION_REQUESTED,
                cancelled,
                subscriptionId=membership.provider_subscription_id,
                reason="joining_payment_reversed",
            )
        return cancelled
    if effect is ReversalEffect.DISQUALIFY_WINNER:
        uow.record(
            event_name=PROVIDER_ALERT,
            aggregate_type="membership",
            aggregate_id=str(membership.id),
            payload={"membershipId": str(membership.id), "alert": "winner_joining_payment_reversed"},
        )
    if invoice.reversed_at is None and invoice.purpose is PaymentKind.JOINING:
        await uow.billing.save_invoice(replace(invoice, status="refunded", reversed_at=at), at=now)
    return membership


_DISPUTE_STATUS = {
    "warning_needs_response": "open",
    "warning_under_review": "open",
    "needs_response": "open",
    "under_review": "open",
    "warning_closed": "won",
    "won": "won",
    "lost": "lost",
}


async def sync_dispute(deps: Deps, dispute_id: str) -> MembershipRecord | None:
    """Disputes: opened → not eligible while open (money held); won → reversed; lost → like a full refund."""
    dispute = await gateway(deps).get_dispute(dispute_id)
    now = deps.clock.now()
    status = _DISPUTE_STATUS.get(dispute.status)
    if status is None:
        # e.g. `prevented` or `charge_refunded`: never guess "lost" (it would end a membership); keep the event
        # unprocessed and visible until someone decides what it means.
        raise ValueError(f"dispute {dispute.id} has a status we do not handle: {dispute.status}")
    withdrawn = not dispute.status.startswith("warning_")  # inquiries (warnings) hold no money
    async with deps.uow() as uow:
        payment = None
        if dispute.charge_id:
            payment = await uow.billing.payment_by_charge(dispute.charge_id)
        if payment is None and dispute.payment_intent_id:
            payment = await uow.billing.payment_by_intent(dispute.payment_intent_id)
        if payment is None:
            raise UnknownSubject(f"dispute {dispute.id} is about a payment we have not recorded (yet)")
        membership, invoice = await _payment_context(uow, payment, lock=True)
        known = await uow.billing.dispute_by_provider_id(dispute.id)
        if known is not None and known.status == status:
            return membership
        record = DisputeRecord(
            id=known.id if known else deps.new_id(),
            payment_id=payment.id,
            provider_dispute_id=dispute.id,
            amount=dispute.amount,
            status=status,
            opened_at=known.opened_at if known else dispute.created_at,
            closed_at=None if status == "open" else now,
        )
        await uow.billing.save_dispute(record, new=known is None)
        if withdrawn:
            await uow.ledger.post(
                ledger.dispute_opened(dispute_id=dispute.id, amount=dispute.amount, at=dispute.created_at)
            )
        if status == "won" and withdrawn:
            await uow.ledger.post(ledger.dispute_won(dispute_id=dispute.id, amount=dispute.amount, at=now))
        if status == "lost":
            refunded = payment.refunded or Money(cents=0, currency=payment.amount.currency)
            await uow.ledger.post(
                ledger.dispute_lost(
                    dispute_id=dispute.id,
                    amount=dispute.amount,
                    original=_split(deps, payment.amount, invoice.rules_version),
                    already_reversed=refunded,
                    at=now,
                )
            )
            effect = dispute_decision(
                state=membership.status, kind=refund_kind(membership, invoice), outcome=DisputeOutcome.LOST
            ).effect
            membership = await _full_reversal(deps, uow, membership, invoice, effect, at=now, why="dispute_lost")
        await uow.billing.save_payment(replace(payment, dispute_status=status), at=now)
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=PROVIDER,
            action=f"dispute_{status}",
            at=now,
            after={"dispute": dispute.id, "payment": str(payment.id)},
        )
        await uow.commit()
    return membership


# -- subscriptions ----------------------------------------------------------------------------------------------


async def sync_subscription(deps: Deps, subscription_id: str) -> MembershipRecord | None:
    """A subscription's *current* state: an end we asked for completes a cancellation; one we did not ask for is
    recorded and alerted, never obeyed blindly (§5). An old `updated` after `deleted` reads `canceled` too, so it
    cannot revive anything."""
    subscription = await gateway(deps).get_subscription(subscription_id)
    now = deps.clock.now()
    async with deps.uow() as uow:
        membership = await _membership_for(uow, subscription, lock=True)
        if membership.provider_subscription_id != subscription.id:
            return membership  # a stray subscription (refunded joining): its cancellation is ours
        if subscription.status == "canceled" and membership.status in QUEUE_STATES:
            if membership.cancel_effective_at is None:
                await _alert_once(uow, membership, "subscription_ended_unasked", now)
            elif membership.cancel_effective_at <= now:
                membership = await finish_cancellation(deps, uow, membership)
            # else: the provider ended it at the period end we asked for, a moment before our clock got there;
            # the sweep ends the membership at that instant.
        await uow.commit()
    return membership


async def finish_cancellation(deps: Deps, uow: UnitOfWork, membership: MembershipRecord) -> MembershipRecord:
    """A scheduled voluntary cancellation takes effect (end of the period): leaves the queue."""
    now = deps.clock.now()
    cancelled = await change_state(
        uow,
        membership,
        MembershipEvent.CANCEL,
        at=now,
        actor="member",
        reason="cancellation scheduled by the member took effect",
        ended_at=membership.cancel_effective_at or now,
        end_reason="member_cancelled",
    )
    notify(uow, "membership.cancelled", cancelled, reason="member_cancelled")
    if membership.provider_subscription_id:
        command(
            uow,
            CANCEL_SUBSCRIPTION_REQUESTED,
            cancelled,
            subscriptionId=membership.provider_subscription_id,
            reason="member_cancelled",
        )
    return cancelled


async def _alert_once(uow: UnitOfWork, membership: MembershipRecord, alert: str, now: datetime) -> None:
    if await uow.billing.raise_notice_once(membership_id=membership.id, notice_key=f"alert:{alert}", at=now):
        logger.error("billing alert %s for membership %s", alert, membership.id)
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=PROVIDER,
            action="provider_alert",
            at=now,
            after={"alert": alert},
            reason="the provider did something we did not ask for; staff must look",
        )
