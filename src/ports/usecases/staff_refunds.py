"""Finance staff refund a member's payment, choosing whether the period it paid for stays paid (D155).

The decision commits with an open `refund` request on the payment (at most one at a time: two people clicking
"refund" at once cannot send two refunds) and an outbox command; the provider call happens after commit with an
idempotency key of the request. The refund's own webhook then posts the ledger reversal and, for a full refund,
applies the period choice, which travels with the refund as provider metadata.
"""

from dataclasses import dataclass
from uuid import UUID

from domain.errors import InvalidAmount
from domain.money import Money
from domain.staff_refunds import PeriodEffect, StaffRefund, plan_staff_refund
from ports.outbound.billing import InvoiceRecord, MembershipRecord, PaymentRecord
from ports.outbound.errors import ConflictError
from ports.outbound.payouts import StaffRequestRecord
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync
from ports.usecases.admin_members import member_account
from ports.usecases.admin_support import staff_reason
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal
from ports.usecases.credentials import require_recent_authentication
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound, Refused
from ports.usecases.payouts import require_finance


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundRequested:
    request_id: UUID
    payment_id: UUID
    amount: Money
    effect: PeriodEffect
    completes_refund: bool


def _effect(value: str) -> PeriodEffect:
    try:
        return PeriodEffect(value)
    except ValueError:
        raise InvalidInput("period must be stays_paid or becomes_unpaid", ["period_unknown"]) from None


async def refund(
    deps: Deps,
    staff: Principal,
    account_id: UUID,
    payment_id: UUID,
    *,
    amount_cents: int | None,
    period: str,
    reason: str,
) -> RefundRequested:
    """Ask the provider to refund ``amount_cents`` (``None``: all that remains) of the member's payment."""
    require_finance(staff)
    require_recent_authentication(deps, staff)
    effect = _effect(period)
    why = staff_reason(reason)
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        payment, membership, invoice = await _payment_of(uow, account.id, payment_id)
        currency = payment.amount.currency
        try:
            plan = plan_staff_refund(
                kind=billing_sync.refund_kind(membership, invoice),
                state=membership.status,
                payment=payment.amount,
                refunded=payment.refunded or Money(cents=0, currency=currency),
                requested=None if amount_cents is None else Money(cents=amount_cents, currency=currency),
                effect=effect,
                dispute_status=payment.dispute_status,
            )
        except InvalidAmount as exc:
            raise InvalidInput(str(exc), ["amount_invalid"]) from None
        if not isinstance(plan, StaffRefund):
            raise Refused("this refund is not allowed", [r.value for r in plan])
        request = StaffRequestRecord(
            id=deps.new_id(),
            kind=billing_sync.STAFF_REFUND_REQUEST,
            target_id=str(payment.id),
            reason=f"{effect.value}:{plan.amount.cents}",
            requested_by=staff.account_id,
            requested_at=now,
        )
        try:
            await uow.payouts.add_request(request)
        except ConflictError:
            raise Refused("a refund of this payment is already on its way", ["refund_in_flight"]) from None
        note = await uow.notes.add(
            account_id=account.id,
            author_id=staff.account_id,
            body=f"Refund of {plan.amount} asked ({effect.value}): {why}",
            now=now,
        )
        billing_sync.command(
            uow,
            billing_sync.REFUND_REQUESTED,
            membership,
            paymentId=str(payment.id),
            reason="staff",
            staffRefund=str(request.id),
            amountCents=plan.amount.cents,
            period=effect.value,
        )
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=f"account:{staff.account_id}",
            action="refund_requested",
            at=now,
            after={
                "payment": str(payment.id),
                "amount_cents": plan.amount.cents,
                "period": effect.value,
                "completes_refund": plan.completes_refund,
                "note": str(note.id),
            },
            reason="staff_refund",
        )
        await uow.commit()
    return RefundRequested(
        request_id=request.id,
        payment_id=payment.id,
        amount=plan.amount,
        effect=effect,
        completes_refund=plan.completes_refund,
    )


async def withdraw(deps: Deps, staff: Principal, account_id: UUID, payment_id: UUID) -> None:
    """Close the payment's open staff refund request (finance; audited), for when the provider never answered:
    another refund may then be asked for. A refund the provider did make still arrives by its webhook and is
    recorded like any other."""
    require_finance(staff)
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await member_account(uow, account_id, for_update=True)
        payment, membership, _ = await _payment_of(uow, account.id, payment_id)
        pending = await uow.payouts.open_request(billing_sync.STAFF_REFUND_REQUEST, str(payment.id))
        if pending is None:
            raise NotFound("no refund of this payment is open")
        await uow.payouts.resolve_request(pending.id, by=staff.account_id, at=now, outcome="withdrawn")
        await record_audit(
            uow,
            entity_type="membership",
            entity_id=str(membership.id),
            actor=f"account:{staff.account_id}",
            action="refund_withdrawn",
            at=now,
            after={"payment": str(payment.id), "request": str(pending.id)},
        )
        await uow.commit()


async def _payment_of(
    uow: UnitOfWork, account_id: UUID, payment_id: UUID
) -> tuple[PaymentRecord, MembershipRecord, InvoiceRecord]:
    payment = await uow.billing.get_payment(payment_id)
    if payment is None:
        raise NotFound("no such payment")
    invoice = await uow.billing.invoice(payment.invoice_id)
    assert invoice is not None  # a foreign key
    membership = await uow.billing.get_membership(invoice.membership_id, for_update=True)
    if membership is None or membership.account_id != account_id:
        raise NotFound("no such payment of this member")
    return payment, membership, invoice
