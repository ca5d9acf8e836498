"""The payment provider as the use cases see it: checkout, invoices, subscriptions, refunds, portal, events.

Objects are described in our terms; no provider SDK type crosses this port. Times are aware UTC datetimes,
amounts are `domain.money.Money`.

Errors (RELIABILITY 13): a provider that cannot be reached, times out, rate-limits or answers 5xx raises
`ports.outbound.errors.ComponentUnavailable("payments", ...)`, which is retryable. A request the provider refuses
(4xx: unknown object, invalid parameters, an idempotency key reused with other parameters, a card error) raises
`PaymentProviderError`, which is NOT retryable with the same request.

Idempotency (RELIABILITY 8): every method that changes provider state takes a required keyword `idempotency_key`.
Callers derive it deterministically from our own ids and the purpose, e.g. `f"join:{membership_id}"`,
`f"cancel-at-period-end:{membership_id}:{request_id}"`, `f"refund:{payment_id}:{reason}"`, so a retry of the same
business action (after a crash, a timeout or a duplicate delivery) reuses the key and the provider replays the
first result instead of acting twice. A key must never be reused for a different request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from domain.money import Money
from ports.outbound.errors import PortError

T = TypeVar("T")


class PaymentProviderError(PortError):
    """The provider refused the request (4xx); retrying the same request will not help."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(f"payments: {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str  # open | complete | expired
    payment_status: str  # unpaid | paid | no_payment_required
    membership_id: str | None
    customer_id: str | None
    subscription_id: str | None
    invoice_id: str | None
    amount_total: Money | None
    expires_at: datetime
    purpose: str = "joining"  # metadata: joining | retention
    payment_intent_id: str | None = None  # payment mode only
    paid_at: datetime | None = None  # payment mode only: when the payment intent succeeded


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderInvoice:
    id: str
    subscription_id: str | None  # from parent.subscription_details.subscription
    customer_id: str | None
    status: str  # draft | open | paid | void | uncollectible
    amount_due: Money
    amount_paid: Money
    created_at: datetime
    due_at: datetime  # due_date, else when finalized (charged automatically), else created
    paid_at: datetime | None  # status_transitions.paid_at
    billing_reason: str | None  # subscription_create | subscription_cycle | ...
    payment_intent_id: str | None  # via invoice_payments (the paid, else default, else newest payment)
    charge_id: str | None  # the payment intent's latest charge
    period_start: datetime | None
    period_end: datetime | None
    attempt_count: int = 0
    next_attempt_at: datetime | None = None  # the provider's next automatic attempt, if any
    hosted_invoice_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSubscription:
    id: str
    status: str  # incomplete | active | past_due | unpaid | canceled | paused | ...
    customer_id: str | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    current_period_start: datetime | None  # from the subscription items
    current_period_end: datetime | None  # from the subscription items
    collection_paused: bool
    pause_behavior: str | None  # void | keep_as_draft | mark_uncollectible
    ended_at: datetime | None
    membership_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderRefund:
    id: str
    amount: Money
    status: str  # pending | succeeded | failed | canceled | requires_action
    charge_id: str | None
    payment_intent_id: str | None
    created_at: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    """What we attached when asking for it (a staff refund's period choice, D155)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCharge:
    """A card charge with its refunds (the object `charge.refunded` is about)."""

    id: str
    payment_intent_id: str | None
    amount: Money
    amount_refunded: Money
    refunds: Sequence[ProviderRefund]
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderDispute:
    id: str
    charge_id: str | None
    payment_intent_id: str | None
    amount: Money
    status: str
    """warning_needs_response | warning_under_review | warning_closed | needs_response | under_review | won | lost"""
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceTransaction:
    """One movement of money at the provider (for the daily money reconciliation)."""

    id: str
    type: str  # charge | payment | refund | payment_refund | adjustment | payout | stripe_fee | ...
    amount: Money
    fee: Money
    net: Money
    source_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DunningSettings:
    """What the provider does on its own after failed payments (checked at start-up, docs/operations.md)."""

    retry_window_days: int | None
    """How long the provider keeps retrying an unpaid invoice; None = not known."""
    terminal_action: str
    """What it does after the last retry: cancel | mark_unpaid | past_due (leave it) | unknown (not stated)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentEventRef:
    """What a stored provider event is about; the processor re-reads the object itself (never trusts the body)."""

    id: str
    type: str
    object_kind: str  # checkout.session | invoice | subscription | charge | dispute | refund | ...
    object_id: str
    customer_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalLink:
    id: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderEvent:
    id: str
    type: str
    created_at: datetime
    object_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of a newest-first list; pass `next_cursor` back as `starting_after` for the next page."""

    items: Sequence[T] = field(default_factory=tuple)
    has_more: bool = False
    next_cursor: str | None = None


class PaymentGateway(Protocol):
    """Outbound port to the payment provider. All methods may raise ComponentUnavailable or PaymentProviderError."""

    async def create_joining_checkout(
        self,
        *,
        membership_id: str,
        customer_email: str,
        monthly_dues: Money,
        joining_fee: Money,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        """Hosted checkout, subscription mode, card only; the first invoice totals exactly `joining_fee`."""
        ...

    async def create_retention_checkout(
        self,
        *,
        membership_id: str,
        customer_id: str,
        amount: Money,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        """Hosted checkout, payment mode, card only, one line of `amount` (DOMAIN.md §7 retention prepayment);
        metadata carries our membership id and `purpose=retention`."""
        ...

    async def get_checkout_session(self, session_id: str) -> CheckoutSession: ...

    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> CheckoutSession: ...

    async def get_invoice(self, invoice_id: str) -> ProviderInvoice: ...

    async def list_invoices(
        self,
        *,
        subscription_id: str | None = None,
        customer_id: str | None = None,
        created_after: datetime | None = None,
        limit: int = 20,
        starting_after: str | None = None,
    ) -> Page[ProviderInvoice]:
        """Newest first; exactly one of `subscription_id` / `customer_id` is required."""
        ...

    async def get_subscription(self, subscription_id: str) -> ProviderSubscription: ...

    async def set_cancel_at_period_end(
        self, subscription_id: str, *, on: bool, idempotency_key: str
    ) -> ProviderSubscription: ...

    async def pause_collection(
        self, subscription_id: str, *, idempotency_key: str, behavior: str = "void"
    ) -> ProviderSubscription: ...

    async def resume_collection(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription: ...

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription: ...

    async def restart_subscription(
        self, previous_subscription_id: str, *, billing_cycle_anchor: datetime, membership_id: str, idempotency_key: str
    ) -> ProviderSubscription:
        """A new subscription for the same customer, price and card as an ended one, first billed at
        `billing_cycle_anchor` (nothing charged before it, no proration); metadata carries our membership id.
        Used after a late-truth reinstatement, whose default had cancelled the old subscription (§5)."""
        ...

    async def refund_payment(
        self,
        *,
        charge_id: str | None = None,
        payment_intent_id: str | None = None,
        amount: Money | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> ProviderRefund:
        """Refund a charge (or a payment intent's charge); `amount=None` refunds what remains."""
        ...

    async def create_billing_portal_link(
        self, *, customer_id: str, return_url: str, idempotency_key: str
    ) -> PortalLink: ...

    async def get_charge(self, charge_id: str) -> ProviderCharge:
        """The charge with every refund of it."""
        ...

    async def get_dispute(self, dispute_id: str) -> ProviderDispute: ...

    async def list_balance_transactions(
        self, *, created_after: datetime, limit: int = 100, starting_after: str | None = None
    ) -> Page[BalanceTransaction]:
        """Balance transactions created at or after `created_after`, newest first."""
        ...

    async def dunning_settings(self) -> DunningSettings:
        """The account's automatic-collection settings (Stripe: subscription and invoice retry settings)."""
        ...

    async def list_events(
        self,
        *,
        created_after: datetime,
        types: Sequence[str] = (),
        limit: int = 100,
        starting_after: str | None = None,
    ) -> Page[ProviderEvent]:
        """Events created at or after `created_after`, newest first (for reconciliation)."""
        ...


class PaymentEventDecoder(Protocol):
    """Reads a stored provider event body (already verified at intake) into a reference."""

    def decode(self, body: str) -> PaymentEventRef:
        """Raise ValueError for a body that is not a provider event."""
        ...
