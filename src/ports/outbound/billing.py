"""Memberships, invoices, payments, refunds and disputes as stored, and what billing asks of the store.

Records are plain frozen values; a use case changes one with `dataclasses.replace` and saves it inside its unit
of work. Every "find the row for this provider object" read can take the membership's row lock, so concurrent
paths (ten deliveries of one event, the checkout redirect, reconciliation) serialise on the membership and each
sees what the one before it committed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.membership import MembershipState, PaymentKind
from domain.money import Money


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipRecord:
    id: UUID
    account_id: UUID
    status: MembershipState
    rules_version: int
    created_at: datetime
    member_number: int | None = None
    tenure_start: datetime | None = None
    activated_at: datetime | None = None
    cancel_effective_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    provider_customer_id: str | None = None
    provider_subscription_id: str | None = None
    checkout_session_id: str | None = None
    checkout_url: str | None = None
    checkout_expires_at: datetime | None = None
    joining_invoice_id: str | None = None
    grace_ends_at: datetime | None = None
    billing_paused_at: datetime | None = None
    retention_prepaid_at: datetime | None = None
    next_due_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceRecord:
    id: UUID
    membership_id: UUID
    provider_invoice_id: str
    purpose: PaymentKind
    period_index: int
    amount: Money
    status: str  # open | paid | void | uncollectible | refunded
    due_at: datetime
    rules_version: int
    paid_at: datetime | None = None
    first_failed_at: datetime | None = None
    grace_start: datetime | None = None
    grace_ends_at: datetime | None = None
    reversed_at: datetime | None = None
    hosted_invoice_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRecord:
    id: UUID
    invoice_id: UUID
    provider_payment_id: str
    amount: Money
    paid_at: datetime
    provider_charge_id: str | None = None
    refunded: Money | None = None
    dispute_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeRecord:
    id: UUID
    payment_id: UUID
    provider_dispute_id: str
    amount: Money
    status: str  # open | won | lost
    opened_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TermsRecord:
    terms_version: str
    payment_authorization: bool
    accepted_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentHistoryItem:
    payment_id: UUID
    membership_id: UUID
    purpose: PaymentKind
    amount: Money
    refunded: Money
    paid_at: datetime
    period_index: int
    provider_invoice_id: str
    receipt_url: str | None


class BillingRepository(Protocol):
    # memberships ---------------------------------------------------------------------------------------------
    async def add_membership(self, *, account_id: UUID, rules_version: int, at: datetime) -> MembershipRecord:
        """A new PENDING membership; the database refuses a second live one for the account (ConflictError)."""
        ...

    async def get_membership(self, membership_id: UUID, *, for_update: bool = False) -> MembershipRecord | None: ...

    async def memberships_of(self, account_id: UUID) -> Sequence[MembershipRecord]:
        """Every membership of the account, newest first."""
        ...

    async def membership_by_subscription(
        self, subscription_id: str, *, for_update: bool = False
    ) -> MembershipRecord | None: ...

    async def membership_by_checkout(self, session_id: str, *, for_update: bool = False) -> MembershipRecord | None: ...

    async def save_membership(self, record: MembershipRecord, *, at: datetime) -> None: ...

    async def next_member_number(self) -> int: ...

    async def lock_account_memberships(self, account_id: UUID) -> None:
        """Serialise joins of one person (two tabs): lock the account row."""
        ...

    async def sweep_candidates(
        self, *, now: datetime, upcoming_until: datetime, after: UUID | None, limit: int
    ) -> Sequence[UUID]:
        """Memberships the billing sweep must look at: expired checkouts, unpaid invoices, past grace, scheduled
        cancellations that took effect, and dues falling due before `upcoming_until`; keyset-paged by id."""
        ...

    # invoices and payments -----------------------------------------------------------------------------------
    async def invoices_of(self, membership_id: UUID) -> Sequence[InvoiceRecord]: ...

    async def invoice_by_provider_id(self, provider_invoice_id: str) -> InvoiceRecord | None: ...

    async def add_invoice(self, record: InvoiceRecord, *, at: datetime) -> None: ...

    async def save_invoice(self, record: InvoiceRecord, *, at: datetime) -> None: ...

    async def payment_of_invoice(self, invoice_id: UUID) -> PaymentRecord | None: ...

    async def get_payment(self, payment_id: UUID) -> PaymentRecord | None: ...

    async def payment_by_intent(self, provider_payment_id: str) -> PaymentRecord | None: ...

    async def payment_by_charge(self, charge_id: str) -> PaymentRecord | None: ...

    async def add_payment(self, record: PaymentRecord, *, at: datetime) -> None: ...

    async def save_payment(self, record: PaymentRecord, *, at: datetime) -> None: ...

    async def invoice(self, invoice_id: UUID) -> InvoiceRecord | None: ...

    async def add_refund(self, *, payment_id: UUID, provider_refund_id: str, amount: Money, at: datetime) -> bool:
        """Record a provider refund once; False if it was already recorded."""
        ...

    async def dispute_by_provider_id(self, provider_dispute_id: str) -> DisputeRecord | None: ...

    async def save_dispute(self, record: DisputeRecord, *, new: bool) -> None: ...

    async def open_disputes(self, membership_id: UUID) -> int: ...

    async def payment_history(
        self, account_id: UUID, *, before: tuple[datetime, UUID] | None, limit: int
    ) -> Sequence[PaymentHistoryItem]:
        """The account's payments, newest first, strictly before the `(paid_at, payment_id)` cursor."""
        ...

    # consent and notices -------------------------------------------------------------------------------------
    async def record_terms(
        self, *, account_id: UUID, terms_version: str, payment_authorization: bool, at: datetime, ip: str | None
    ) -> None: ...

    async def latest_terms(self, account_id: UUID) -> TermsRecord | None: ...

    async def raise_notice_once(self, *, membership_id: UUID, notice_key: str, at: datetime) -> bool:
        """True the first time a time-based notice is raised for the membership, False ever after."""
        ...

    # reconciliation ------------------------------------------------------------------------------------------
    async def record_reconciliation(
        self,
        *,
        kind: str,
        started_at: datetime,
        finished_at: datetime,
        ok: bool,
        drift_cents: int,
        detail: dict[str, object],
    ) -> None: ...

    async def last_reconciliation(self, kind: str, *, ok_only: bool = True) -> datetime | None: ...

    async def subscriptions_since(self, since: datetime, *, limit: int) -> Sequence[str]:
        """Subscription ids of memberships that are live or ended after `since` (for invoice reconciliation)."""
        ...
