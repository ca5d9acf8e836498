"""The ledger on SQL. Entries and postings are append-only (database triggers) and balanced (a deferred
constraint on PostgreSQL). Balances are kept per (account, currency) in the same transaction; updating the
fund's balance row locks it, so two concurrent commits cannot both spend the same money."""

from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from domain.errors import FundWouldGoNegative, LedgerConflict
from domain.ledger import Account, EntryKind, JournalEntry, Posting, Side, fund_inflow, normal_balance
from domain.money import Money


class SqlLedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def post(self, entry: JournalEntry) -> bool:
        insert = dialect_insert(self._session)
        entry_id = uuid7()
        inserted = await self._session.scalar(
            insert(models.LedgerEntry)
            .values(
                id=entry_id,
                reference=entry.reference,
                kind=str(entry.kind),
                occurred_at=entry.at,
                recorded_at=entry.at,
                memo=entry.memo or None,
            )
            .on_conflict_do_nothing(index_elements=["reference"])
            .returning(models.LedgerEntry.id)
        )
        if inserted is None:
            existing = await self.entry(entry.reference)
            if existing is None or not existing.same_movement(entry):
                raise LedgerConflict(f"{entry.reference} was already posted with different postings")
            return False
        # Balance rows are locked in one order (account, currency) by every entry, so two entries touching the same
        # accounts the other way round (a commit and a release) queue behind each other instead of deadlocking.
        for posting in sorted(entry.postings, key=lambda p: (str(p.account), p.amount.currency)):
            self._session.add(
                models.LedgerPosting(
                    entry_id=entry_id,
                    account=str(posting.account),
                    amount_cents=posting.signed_cents,
                    currency=posting.amount.currency,
                )
            )
            after = await self._add_to_balance(posting)
            if (
                entry.kind is EntryKind.COMMIT
                and posting.account is Account.FUND
                and normal_balance(Account.FUND, after) < 0
            ):
                raise FundWouldGoNegative(f"{entry.reference}: commit exceeds the fund")
        for currency, cents in fund_inflow(entry).items():
            await self._add_inflow(entry.at.date(), currency, cents)
        await self._session.flush()
        return True

    async def _add_inflow(self, day: date, currency: str, cents: int) -> None:
        insert = dialect_insert(self._session)(models.FundInflowDay).values(day=day, currency=currency, cents=cents)
        await self._session.execute(
            insert.on_conflict_do_update(
                index_elements=["day", "currency"], set_={"cents": models.FundInflowDay.cents + insert.excluded.cents}
            )
        )

    async def fund_inflow_since(self, day: date, currency: str = "USD") -> Money:
        cents = await self._session.scalar(
            select(func.coalesce(func.sum(models.FundInflowDay.cents), 0)).where(
                models.FundInflowDay.day >= day, models.FundInflowDay.currency == currency
            )
        )
        return Money(cents=int(cents or 0), currency=currency)

    async def _add_to_balance(self, posting: Posting) -> int:
        """Add the posting to its running balance (creating the row once) and return the new debit balance."""
        key = {"account": str(posting.account), "currency": posting.amount.currency}
        await self._session.execute(
            dialect_insert(self._session)(models.LedgerBalance)
            .values(**key, debit_balance_cents=0)
            .on_conflict_do_nothing(index_elements=["account", "currency"])
        )
        after = await self._session.scalar(
            update(models.LedgerBalance)
            .where(models.LedgerBalance.account == key["account"], models.LedgerBalance.currency == key["currency"])
            .values(debit_balance_cents=models.LedgerBalance.debit_balance_cents + posting.signed_cents)
            .returning(models.LedgerBalance.debit_balance_cents)
        )
        return int(after or 0)

    async def balance(self, account: Account, currency: str = "USD") -> Money:
        cents = await self._session.scalar(
            select(models.LedgerBalance.debit_balance_cents).where(
                models.LedgerBalance.account == str(account), models.LedgerBalance.currency == currency
            )
        )
        return Money(cents=normal_balance(account, int(cents or 0)), currency=currency)

    async def entry(self, reference: str) -> JournalEntry | None:
        row = await self._session.scalar(select(models.LedgerEntry).where(models.LedgerEntry.reference == reference))
        if row is None:
            return None
        postings = await self._session.scalars(
            select(models.LedgerPosting)
            .where(models.LedgerPosting.entry_id == row.id)
            .order_by(models.LedgerPosting.id)
        )
        return JournalEntry(
            reference=row.reference,
            kind=EntryKind(row.kind),
            at=row.occurred_at,
            memo=row.memo or "",
            postings=tuple(
                Posting(
                    account=Account(p.account),
                    side=Side.DEBIT if p.amount_cents > 0 else Side.CREDIT,
                    amount=Money(cents=abs(p.amount_cents), currency=p.currency),
                )
                for p in postings
            ),
        )

    async def member_cash(self, currency: str = "USD") -> Money:
        kinds = [str(k) for k in (EntryKind.PAYMENT, EntryKind.REFUND, EntryKind.DISPUTE_OPENED, EntryKind.DISPUTE_WON)]
        total = await self._session.scalar(
            select(func.coalesce(func.sum(models.LedgerPosting.amount_cents), 0))
            .join(models.LedgerEntry, models.LedgerEntry.id == models.LedgerPosting.entry_id)
            .where(
                models.LedgerPosting.account == str(Account.CASH),
                models.LedgerPosting.currency == currency,
                models.LedgerEntry.kind.in_(kinds),
            )
        )
        return Money(cents=int(total or 0), currency=currency)
