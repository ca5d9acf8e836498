"""The ledger on PostgreSQL: idempotent by business reference, balances that always equal the postings,
and no commit that overdraws the fund — also when requests race."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.errors import FundWouldGoNegative, LedgerConflict
from domain.ledger import Account, payment_received, reward_committed, split_payment
from domain.money import Money
from domain.rules import ProgramRules
from entrypoints.settings import Settings

MakeUow = Callable[..., SqlUnitOfWork]
AT = datetime(2026, 3, 1, tzinfo=UTC)
RULES = ProgramRules()


def payment(cents: int, invoice: str | None = None):  # type: ignore[no-untyped-def]
    return payment_received(
        invoice_id=invoice or f"in_{uuid.uuid4().hex}", split=split_payment(Money(cents=cents), RULES), at=AT
    )


async def fund(make_uow: MakeUow) -> int:
    async with make_uow() as uow:
        return (await uow.ledger.balance(Account.FUND)).cents


async def post(make_uow: MakeUow, entry) -> bool:  # type: ignore[no-untyped-def]
    async with make_uow() as uow:
        posted = await uow.ledger.post(entry)
        await uow.commit()
        return posted


async def test_a_movement_posts_once_by_its_business_reference(make_uow: MakeUow) -> None:
    before = await fund(make_uow)
    entry = payment(30000)
    assert await post(make_uow, entry) is True
    assert await post(make_uow, entry) is False, "replaying the reference posts nothing"
    assert await fund(make_uow) == before + 30000
    async with make_uow() as uow:
        stored = await uow.ledger.entry(entry.reference)
    assert stored is not None
    assert stored.same_movement(entry)

    different = payment(25000, invoice=entry.reference.split(":")[1])
    assert different.reference == entry.reference
    with pytest.raises(LedgerConflict):
        await post(make_uow, different)


async def test_the_same_payment_posted_ten_times_at_once_is_one_entry(make_uow: MakeUow) -> None:
    before = await fund(make_uow)
    entry = payment(2500)
    results = await asyncio.gather(*(post(make_uow, entry) for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await fund(make_uow) == before + 2500


async def test_a_commit_larger_than_the_fund_is_refused_and_leaves_nothing(make_uow: MakeUow) -> None:
    available = await fund(make_uow)
    too_much = reward_committed(payout_id=str(uuid.uuid4()), gross=Money(cents=available + 1), at=AT)
    with pytest.raises(FundWouldGoNegative):
        await post(make_uow, too_much)
    assert await fund(make_uow) == available
    async with make_uow() as uow:
        assert await uow.ledger.entry(too_much.reference) is None


async def test_two_racing_commits_cannot_both_spend_the_same_money(make_uow: MakeUow) -> None:
    available = await fund(make_uow)
    await post(make_uow, payment(15_000_000))  # the fund now holds 1.5 rewards more than before
    rewards = [
        reward_committed(payout_id=str(uuid.uuid4()), gross=Money(cents=available + 10_000_000), at=AT)
        for _ in range(2)
    ]

    async def commit(entry) -> bool:  # type: ignore[no-untyped-def]
        try:
            return await post(make_uow, entry)
        except FundWouldGoNegative:
            return False

    results = await asyncio.gather(*(commit(r) for r in rewards))
    assert sorted(results) == [False, True]
    assert await fund(make_uow) == 5_000_000


async def test_balances_always_equal_the_sum_of_postings(make_uow: MakeUow, test_settings: Settings) -> None:
    await asyncio.gather(*(post(make_uow, payment(cents)) for cents in (2500, 30000, 1, 99)))
    conn = await asyncpg.connect(test_settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        mismatches = await conn.fetch(
            """
            SELECT b.account, b.currency, b.debit_balance_cents, coalesce(sum(p.amount_cents), 0) AS postings
            FROM ledger_balances b
            LEFT JOIN ledger_postings p ON p.account = b.account AND p.currency = b.currency
            GROUP BY b.account, b.currency, b.debit_balance_cents
            HAVING b.debit_balance_cents <> coalesce(sum(p.amount_cents), 0)
            """
        )
        trial = await conn.fetchval("SELECT coalesce(sum(amount_cents), 0) FROM ledger_postings")
    finally:
        await conn.close()
    assert list(mismatches) == []
    assert trial == 0, "the ledger as a whole balances"
