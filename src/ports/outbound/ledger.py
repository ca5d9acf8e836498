"""The ledger as stored: append-only journal entries, idempotent by their business reference."""

from datetime import date
from typing import Protocol

from domain.ledger import Account, JournalEntry
from domain.money import Money


class LedgerRepository(Protocol):
    async def post(self, entry: JournalEntry) -> bool:
        """Append `entry` in the current transaction; False if its reference was already posted with the same
        movement. Raises `domain.errors.LedgerConflict` for a known reference with different postings and
        `domain.errors.FundWouldGoNegative` for a commit larger than the fund (checked under a lock)."""
        ...

    async def balance(self, account: Account, currency: str = "USD") -> Money:
        """The account's balance on its normal side (the fund: DOMAIN.md §7)."""
        ...

    async def entry(self, reference: str) -> JournalEntry | None: ...

    async def fund_inflow_since(self, day: date, currency: str = "USD") -> Money:
        """Net member money into the fund from UTC ``day`` on (``domain.ledger.fund_inflow`` per entry)."""
        ...

    async def member_cash(self, currency: str = "USD") -> Money:
        """Net cash moved by member payments, refunds and disputes (signed; provider fees and payouts aside), for
        the money reconciliation against the provider's balance transactions."""
        ...
