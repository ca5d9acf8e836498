"""A payout round on the embedded SQLite database (the `make run` default): the same evaluation, snapshot,
payouts, ledger commitments, append-only tables and two-person cancellation as on PostgreSQL."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters.security.crypto import AesGcmSecretBox, SystemRandom, derive_key
from adapters.sql import migrations
from adapters.sql.engine import create_engine, ensure_sqlite_directory, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.kyc import KycStatus
from domain.ledger import Account, payment_received, split_payment
from domain.membership import MembershipState
from domain.money import Money
from domain.rules import ProgramRules, RulesHistory
from domain.sessions import Role
from ports.outbound.kyc_records import StoredKyc
from ports.usecases import payouts, rounds
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps, PayoutServices
from ports.usecases.payment_events import RECONCILE_KIND
from tests.fakes import FakeClock, FakeTaskQueue

NOW = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
RULES = ProgramRules(launch_date=date(2025, 1, 1))


@pytest.fixture
async def deps(tmp_path: Path) -> AsyncIterator[Deps]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rounds.db'}"
    ensure_sqlite_directory(url)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(url)
    clock = FakeClock(NOW)
    sessions = session_factory(engine)
    yield Deps(
        uow=lambda: SqlUnitOfWork(sessions, clock=clock),
        tasks=FakeTaskQueue(),
        clock=clock,
        rules=RulesHistory.of(RULES),
        payouts=PayoutServices(box=AesGcmSecretBox(derive_key("k" * 32, "payout")), random=SystemRandom()),
    )
    await engine.dispose()


async def seed(deps: Deps, *, members: int, verified: set[int], fund_cents: int) -> list[uuid.UUID]:
    """Members 0..n−1 in queue order (ACTIVE), the verified ones KYC-verified, and the fund at ``fund_cents``."""
    ids = []
    async with deps.uow() as uow:
        for i in range(members):
            account = await uow.accounts.add(
                email=f"m{i}-{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=NOW
            )
            record = await uow.billing.add_membership(account_id=account.id, rules_version=1, at=NOW)
            await uow.billing.save_membership(
                replace(
                    record,
                    status=MembershipState.ACTIVE,
                    tenure_start=NOW - timedelta(days=400 - i),
                    member_number=await uow.billing.next_member_number(),
                    activated_at=NOW - timedelta(days=400 - i),
                ),
                at=NOW,
            )
            if i in verified:
                stored = await uow.kyc.get_or_create(account.id, at=NOW)
                await uow.kyc.save(
                    StoredKyc(
                        account_id=account.id,
                        record=replace(
                            stored.record,
                            status=KycStatus.VERIFIED,
                            verified_at=NOW - timedelta(days=1),
                            status_at=NOW - timedelta(days=1),
                            date_of_birth=date(1980, 1, 1),
                            country="US",
                            fingerprint=f"{i:064x}",
                        ),
                    ),
                    at=NOW,
                )
            ids.append(account.id)
        await uow.ledger.post(
            payment_received(
                invoice_id="in_history",
                split=split_payment(Money(cents=fund_cents, currency="USD"), RULES),
                at=NOW,
            )
        )
        await uow.billing.record_reconciliation(
            kind=RECONCILE_KIND, started_at=NOW, finished_at=NOW, ok=True, drift_cents=0, detail={}
        )
        await uow.commit()
    return ids


def staff(account_id: uuid.UUID) -> Principal:
    return Principal(
        account_id=account_id,
        email="staff@example.com",
        role=Role.ADMIN,
        session_id=account_id,
        authenticated_at=NOW,
        second_factor=True,
    )


async def test_a_round_opens_once_and_a_cancellation_restores_the_member(deps: Deps) -> None:
    accounts = await seed(deps, members=4, verified={1, 2, 3}, fund_cents=25_000_000)

    first = await rounds.evaluate(deps, triggered_by="test")
    assert first.outcome == "round_opened"
    assert len(first.winners) == 2
    assert (await rounds.evaluate(deps, triggered_by="test")).outcome == "round_exists"
    check = await rounds.verify_round(deps, NOW.date())
    assert check.ok, check.problems
    assert check.entries == 4

    async with deps.uow() as uow:
        assert (await uow.ledger.balance(Account.FUND)).cents == 5_000_000
        won = [m for a in accounts for m in await uow.billing.memberships_of(a)]
        assert [m.status for m in won] == [
            MembershipState.ACTIVE,
            MembershipState.WON,
            MembershipState.WON,
            MembershipState.ACTIVE,
        ]
        with pytest.raises(DBAPIError, match="append-only"):
            await uow.session.execute(text("UPDATE round_entries SET eligible = 1"))

    async with deps.uow() as uow:
        admins = [
            await uow.accounts.add(
                email=f"s{i}-{uuid.uuid4().hex}@example.com", password_hash=None, role="admin", now=NOW
            )
            for i in range(2)
        ]
        await uow.commit()
    payout = first.winners[0]
    requested = await payouts.cancel(deps, staff(admins[0].id), payout, "not_disqualifying")
    assert requested.pending is not None
    done = await payouts.cancel(deps, staff(admins[1].id), payout, "not_disqualifying")
    assert done.pending is None
    async with deps.uow() as uow:
        assert (await uow.ledger.balance(Account.FUND)).cents == 15_000_000
        place = await uow.queue.place_of_account(accounts[1])
    assert place is not None
    assert place.position == 2, "back at the old rank"
