"""The staff's member directory: find a member by email, name, member number or membership status."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberQuery:
    text: str | None = None
    """An email (or its start), a name (first, last or both, any case), or a member number."""
    status: str | None = None
    """The status of the account's latest membership (`none`: never joined)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRow:
    account_id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    member_number: int | None
    membership_status: str | None
    account_status: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRow:
    payment_id: UUID
    account_id: UUID
    email: str
    member_number: int | None
    purpose: str
    period_index: int
    amount_cents: int
    fee_cents: int
    refunded_cents: int
    currency: str
    paid_at: datetime
    dispute_status: str | None


class MemberDirectory(Protocol):
    async def search(self, query: MemberQuery, *, after: UUID | None, limit: int) -> Sequence[MemberRow]:
        """Member accounts matching `query`, oldest first (by account id), after `after`."""
        ...

    async def payments(self, *, after: UUID | None, limit: int) -> Sequence[PaymentRow]:
        """Every payment received, oldest first (by payment id), with whose it is."""
        ...
