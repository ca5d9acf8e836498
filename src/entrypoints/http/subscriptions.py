"""`/api/subscriptions` and `/api/billing`: my membership — join, status, cancel/undo, rejoin, card, pay now,
retention; next charge and payment history. Every route acts on the session's own membership only."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from entrypoints.http.schemas import MoneyOut, Problem, money_out
from ports.usecases import memberships
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

PROBLEMS = {
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="CSRF token missing, or a staff account"),
    404: ResponseSpec(Problem, description="You have no membership (or no such checkout)"),
    422: ResponseSpec(Problem, description="Well-formed but breaks a rule (e.g. not the current terms version)"),
    409: ResponseSpec(Problem, description="Not possible in the membership's current state; `problems` says why"),
    503: ResponseSpec(Problem, description="The payment provider is unavailable; retry shortly"),
}


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    accept_terms_version: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    """The terms version being accepted now (must be the current one); omit if accepted before."""
    accept_payment_authorization: bool = False
    """Authorise the joining fee and monthly dues to be charged to the card given at checkout."""


class CheckoutOut(msgspec.Struct, rename="camel", kw_only=True):
    membership_id: UUID
    checkout_url: str
    expires_at: datetime | None


class StatusOut(msgspec.Struct, rename="camel", kw_only=True):
    membership_id: UUID | None
    status: str
    """none | pending | active | past_due | won | paid | ended | cancelled | defaulted | abandoned"""
    member_number: int | None
    tenure_start: datetime | None
    grace_ends_at: datetime | None
    cancel_effective_at: datetime | None
    can_cancel: bool
    can_undo: bool
    can_rejoin: bool
    can_join: bool
    checkout_url: str | None
    position: int | None
    queue_size: int | None
    retention_prepaid: bool
    ended_at: datetime | None
    end_reason: str | None


class LinkOut(msgspec.Struct, rename="camel", kw_only=True):
    url: str


class NextChargeOut(msgspec.Struct, rename="camel", kw_only=True):
    due_at: datetime | None
    amount: MoneyOut | None
    overdue_invoices: list[str]


class PaymentOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    membership_id: UUID
    purpose: str
    amount: MoneyOut
    refunded: MoneyOut
    paid_at: datetime
    period: int
    invoice: str
    receipt_url: str | None


class PaymentPage(msgspec.Struct, rename="camel", kw_only=True):
    items: list[PaymentOut]
    next_cursor: str | None


def payment_page(page: memberships.HistoryPage) -> PaymentPage:
    return PaymentPage(
        items=[
            PaymentOut(
                id=item.payment_id,
                membership_id=item.membership_id,
                purpose=item.purpose.value,
                amount=money_out(item.amount),
                refunded=money_out(item.refunded),
                paid_at=item.paid_at,
                period=item.period_index,
                invoice=item.provider_invoice_id,
                receipt_url=item.receipt_url,
            )
            for item in page.items
        ],
        next_cursor=page.next_cursor,
    )


def status_out(view: memberships.MembershipStatus) -> StatusOut:
    return StatusOut(**{f: getattr(view, f) for f in StatusOut.__struct_fields__})


def _client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


async def _checkout(
    request: Request[Any, Any, Any], data: CheckoutIn, principal: Principal, deps: Deps, *, rejoin: bool
) -> CheckoutOut:
    started = await memberships.start_checkout(
        deps,
        principal,
        accept_terms_version=data.accept_terms_version,
        accept_payment_authorization=data.accept_payment_authorization,
        ip=_client_ip(request),
        rejoin=rejoin,
    )
    return CheckoutOut(membership_id=started.membership_id, checkout_url=started.url, expires_at=started.expires_at)


def next_charge_out(charge: memberships.NextCharge) -> NextChargeOut:
    return NextChargeOut(
        due_at=charge.due_at,
        amount=money_out(charge.amount) if charge.amount else None,
        overdue_invoices=list(charge.overdue_invoice_ids),
    )


class SubscriptionController(Controller):
    path = "/api/subscriptions"
    tags = ["subscriptions"]

    @post("/checkout", operation_id="startCheckout", status_code=200, responses=PROBLEMS)
    async def start_checkout(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CheckoutIn],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> CheckoutOut:
        """Start (or resume) the joining checkout; returns the provider's hosted page to send the member to."""
        return await _checkout(request, data, principal, deps, rejoin=False)

    @post("/rejoin", operation_id="rejoin", status_code=200, responses=PROBLEMS)
    async def rejoin(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CheckoutIn],
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> CheckoutOut:
        """A new membership after an ended one: new joining fee, new member number, back of the queue."""
        return await _checkout(request, data, principal, deps, rejoin=True)

    @get("/checkout/complete", operation_id="completeCheckout", responses=PROBLEMS)
    async def complete_checkout(
        self,
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        session_id: Annotated[str, QueryParameter(min_length=1, max_length=255)],
    ) -> StatusOut:
        """Where the provider sends the member back: fulfils the same way the webhook does, then reports."""
        return status_out(await memberships.complete_checkout(deps, principal, session_id))

    @get("/me", operation_id="getMyMembership", responses=PROBLEMS)
    async def status(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> StatusOut:
        return status_out(await memberships.membership_status(deps, principal))

    @post("/me/cancel", operation_id="scheduleCancellation", status_code=200, responses=PROBLEMS)
    async def cancel(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> StatusOut:
        """End the membership at the end of the current monthly period; it keeps its place until then."""
        return status_out(await memberships.cancel_at_period_end(deps, principal))

    @post("/me/undo-cancel", operation_id="undoCancellation", status_code=200, responses=PROBLEMS)
    async def undo(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> StatusOut:
        return status_out(await memberships.undo_cancel(deps, principal))

    @post("/me/portal", operation_id="createBillingPortalLink", status_code=200, responses=PROBLEMS)
    async def portal(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> LinkOut:
        """A provider-hosted page to update the card."""
        return LinkOut(url=(await memberships.billing_portal(deps, principal)).url)

    @post("/me/pay-now", operation_id="createPayNowLink", status_code=200, responses=PROBLEMS)
    async def pay_now(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> LinkOut:
        """The provider's page to pay the oldest overdue invoice."""
        return LinkOut(url=(await memberships.pay_now(deps, principal)).url)

    @post("/me/retention", operation_id="startRetentionCheckout", status_code=200, responses=PROBLEMS)
    async def retention(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> LinkOut:
        """Checkout for the optional, non-refundable retention prepayment."""
        return LinkOut(url=(await memberships.retention_checkout(deps, principal)).url)


class BillingController(Controller):
    path = "/api/billing"
    tags = ["billing"]

    @get("/next-charge", operation_id="getNextCharge", responses=PROBLEMS)
    async def next_charge(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> NextChargeOut:
        return next_charge_out(await memberships.next_charge(deps, principal))

    @get(
        "/payments",
        operation_id="listMyPayments",
        responses={**PROBLEMS, 422: ResponseSpec(Problem, description="The cursor is not one we issued")},
    )
    async def payments(
        self,
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=memberships.HISTORY_MAX_LIMIT)] = 20,
    ) -> PaymentPage:
        return payment_page(await memberships.payment_history(deps, principal, cursor=cursor, limit=limit))
