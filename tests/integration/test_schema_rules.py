"""Rules the database itself enforces, so no code path (or operator with psql) can break them."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from adapters.sql import models
from adapters.sql.engine import session_factory
from adapters.sql.member_numbers import next_member_number

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session
        await session.rollback()


async def post_entry(session: AsyncSession, postings: list[tuple[str, int]]) -> uuid.UUID:
    entry = models.LedgerEntry(reference=f"test:{uuid.uuid4()}", kind="test", occurred_at=NOW, recorded_at=NOW)
    session.add(entry)
    await session.flush()
    for account, cents in postings:
        session.add(models.LedgerPosting(entry_id=entry.id, account=account, amount_cents=cents, currency="USD"))
    await session.flush()
    return entry.id


async def test_a_balanced_entry_commits(session: AsyncSession) -> None:
    entry_id = await post_entry(session, [("schema_test_cash", 30000), ("schema_test_fund", -30000)])
    await session.commit()
    total = await session.scalar(
        text("SELECT sum(amount_cents) FROM ledger_postings WHERE entry_id = :e"), {"e": entry_id}
    )
    assert total == 0


async def test_an_unbalanced_entry_is_refused_at_commit(session: AsyncSession) -> None:
    await post_entry(session, [("schema_test_cash", 30000), ("schema_test_fund", -29999)])
    with pytest.raises(DBAPIError, match="does not balance"):
        await session.commit()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_postings SET amount_cents = amount_cents * 2",
        "DELETE FROM ledger_postings",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_entries SET memo = 'edited'",
        "TRUNCATE ledger_postings",
    ],
)
async def test_the_ledger_is_append_only(engine: AsyncEngine, statement: str) -> None:
    async with session_factory(engine)() as session:
        await post_entry(session, [("schema_test_cash", 100), ("schema_test_fund", -100)])
        await session.commit()
    async with session_factory(engine)() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement))


async def test_the_audit_log_is_append_only(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session:
        session.add(
            models.AuditRecord(
                entity_type="membership",
                entity_id="m1",
                seq=1,
                actor="system",
                action="created",
                at=NOW,
                prev_hash="0" * 64,
                hash="1" * 64,
            )
        )
        await session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("UPDATE audit_log SET reason = 'rewritten'"))


async def test_member_numbers_are_never_reused_even_after_rollback(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        first = await next_member_number(session)
        await session.rollback()
    async with sessions() as session:
        second = await next_member_number(session)
        await session.commit()
    assert second > first

    async def allocate() -> int:
        async with sessions() as s:
            n = await next_member_number(s)
            await s.commit()
            return n

    numbers = await asyncio.gather(*(allocate() for _ in range(20)))
    assert len(set(numbers)) == 20
    assert min(numbers) > second


async def make_account(session: AsyncSession) -> uuid.UUID:
    account = models.Account(email=f"{uuid.uuid4().hex}@example.com")
    session.add(account)
    await session.flush()
    return account.id


def membership(account_id: uuid.UUID, status: str, number: int | None = None) -> models.Membership:
    return models.Membership(
        account_id=account_id,
        status=status,
        rules_version=1,
        member_number=number,
        tenure_start=NOW if number else None,
    )


async def test_a_person_holds_at_most_one_live_membership(session: AsyncSession) -> None:
    account_id = await make_account(session)
    session.add(membership(account_id, "PENDING"))
    await session.flush()
    session.add(membership(account_id, "PENDING"))
    with pytest.raises(IntegrityError, match="uq_memberships_one_live_per_account"):
        await session.flush()


async def test_a_rejoin_is_allowed_once_the_earlier_membership_ended(session: AsyncSession) -> None:
    account_id = await make_account(session)
    session.add(membership(account_id, "CANCELLED", number=await next_member_number(session)))
    await session.flush()
    session.add(membership(account_id, "PENDING"))
    await session.flush()


async def test_an_activated_membership_needs_tenure_and_member_number(session: AsyncSession) -> None:
    account_id = await make_account(session)
    session.add(membership(account_id, "ACTIVE"))
    with pytest.raises(IntegrityError, match="activated_has_tenure"):
        await session.flush()


async def test_money_columns_refuse_impossible_amounts(session: AsyncSession) -> None:
    account_id = await make_account(session)
    m = membership(account_id, "PENDING")
    session.add(m)
    await session.flush()
    session.add(
        models.Invoice(
            membership_id=m.id,
            purpose="joining",
            period_index=0,
            amount_cents=-1,
            currency="USD",
            status="open",
            due_at=NOW,
            rules_version=1,
        )
    )
    with pytest.raises(IntegrityError, match="amount_not_negative"):
        await session.flush()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE round_entries SET eligible = NOT eligible",
        "DELETE FROM round_entries",
        "UPDATE payout_rounds SET digest = repeat('0', 64)",
        "DELETE FROM payout_rounds",
        "TRUNCATE round_evaluations",
    ],
)
async def test_a_round_and_its_snapshot_cannot_be_edited(engine: AsyncEngine, statement: str) -> None:
    async with session_factory(engine)() as session:
        account_id = await make_account(session)
        member = membership(account_id, "WON", await next_member_number(session))  # outside the queue
        session.add(member)
        await session.flush()
        round_id = uuid.uuid4()
        session.add(
            models.PayoutRound(
                id=round_id,
                round_key=datetime(2000 + int(uuid.uuid4().int % 900), 1, 1, tzinfo=UTC).date(),
                evaluated_at=NOW,
                triggered_by="test",
                rules_version=1,
                currency="USD",
                fund_before_cents=10_000_000,
                reward_cents=10_000_000,
                winners=1,
                queue_size=1,
                evaluated_through=1,
                digest="a" * 64,
            )
        )
        await session.flush()
        session.add(
            models.RoundEntry(
                round_id=round_id,
                position=1,
                member_number=member.member_number,
                membership_id=member.id,
                tenure_start=NOW,
                eligible=True,
                reasons="",
                salt=bytes(32),
            )
        )
        await session.commit()
    async with session_factory(engine)() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement))
