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

from adapters.rails.manual import ManualTransferRail
from adapters.security.crypto import AesGcmSecretBox, SystemRandom, derive_key
from adapters.sql import migrations
from adapters.sql.engine import create_engine, ensure_sqlite_directory, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.kyc import KycStatus
from domain.ledger import Account, payment_received, split_payment
from domain.membership import MembershipState
from domain.money import Money
from domain.rules import ProgramRules
from domain.sessions import Role
from ports.outbound.kyc_records import StoredKyc
from ports.outbound.payout_rail import PayoutMethod, account_context
from ports.outbound.payouts import PayoutDetailsRecord
from ports.usecases import payouts, rounds
from ports.usecases.auth import Principal
from ports.usecases.deps import AuthServices, Deps, PayoutServices
from ports.usecases.eligibility import facts_of, has_won
from ports.usecases.errors import Refused
from ports.usecases.payment_events import RECONCILE_KIND
from ports.usecases.rules_book import RulesBook
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
        rules=RulesBook.of(RULES),
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


async def test_a_round_opens_once_and_a_cancellation_restores_the_member(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rounds, "CHUNK", 2)  # several chunks even in a small queue: proofs cross chunk roots
    accounts = await seed(deps, members=5, verified={1, 2, 3}, fund_cents=25_000_000)

    first = await rounds.evaluate(deps, triggered_by="test")
    assert first.outcome == "round_opened"
    assert len(first.winners) == 2
    assert (await rounds.evaluate(deps, triggered_by="test")).outcome == "round_exists"
    check = await rounds.verify_round(deps, NOW.date())
    assert check.ok, check.problems
    assert check.entries == 5
    for account in accounts:  # every member's proof verifies against the published root; a forged one does not
        mine = await rounds.my_round_entry(deps, replace(staff(account), role=Role.MEMBER), NOW.date())
        assert await rounds.check_entry(deps, NOW.date(), entry=mine.entry, salt=mine.salt, proof=mine.proof)
        forged = replace(mine.entry, position=mine.entry.position % 5 + 1)
        assert not await rounds.check_entry(deps, NOW.date(), entry=forged, salt=mine.salt, proof=mine.proof)

    async with deps.uow() as uow:
        assert (await uow.ledger.balance(Account.FUND)).cents == 5_000_000
        won = [m for a in accounts for m in await uow.billing.memberships_of(a)]
        assert [m.status for m in won] == [
            MembershipState.ACTIVE,
            MembershipState.WON,
            MembershipState.WON,
            MembershipState.ACTIVE,
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


class BrokenRail:
    """A rail that passes its check, then fails while sending (a crash after PROCESSING committed)."""

    name = "broken"

    def check(self, transfers: object, *, reference: str | None = None) -> None:
        return None

    async def submit(self, transfers: object, *, actor: str, reference: str | None = None) -> list[object]:
        raise RuntimeError("the bank's portal timed out")


def finance(account_id: uuid.UUID) -> Principal:
    return replace(staff(account_id), role=Role.FINANCE)


async def test_money_never_leaves_twice_for_one_attempt_and_disputed_payouts_wait(deps: Deps) -> None:
    accounts = await seed(deps, members=2, verified={0, 1}, fund_cents=20_000_000)
    opened = await rounds.evaluate(deps, triggered_by="test")
    first, second = opened.winners
    async with deps.uow() as uow:
        people = [
            await uow.accounts.add(
                email=f"f{i}-{uuid.uuid4().hex}@example.com",
                password_hash=None,
                role="finance" if i < 3 else "admin",
                now=NOW,
            )
            for i in range(4)
        ]
        await uow.commit()
    fin1, fin2, fin3, admin = (p.id for p in people)
    rails = {"broken": BrokenRail(), "manual": ManualTransferRail()}
    box = deps.payouts.box if deps.payouts else None
    assert box is not None
    deps = replace(
        deps,
        payouts=PayoutServices(box=box, random=SystemRandom(), rails=rails),  # type: ignore[dict-item]
        auth=AUTH,
    )
    for payout in (first, second):
        await put_details(deps, payout)
        await payouts.approve(deps, finance(fin1), payout)
        await payouts.approve(deps, staff(admin), payout)
        await payouts.schedule(deps, finance(fin2), payout)

    # An open cancellation request holds the payout: nothing is sent until it is confirmed or withdrawn, and only
    # the one who asked may withdraw it.
    await payouts.cancel(deps, staff(admin), second, "fraud")
    with pytest.raises(Refused) as held:
        await payouts.process(deps, finance(fin2), [second], rail="manual", reference="W-1")
    assert held.value.problems == ("cancellation_pending",)
    with pytest.raises(Refused) as not_mine:
        await payouts.withdraw_cancellation(deps, finance(fin2), second)
    assert not_mine.value.problems == ("not_requester",)
    await payouts.withdraw_cancellation(deps, staff(admin), second)

    # The rail fails after PROCESSING committed: the attempt is claimed but never sent.
    with pytest.raises(RuntimeError):
        await payouts.process(deps, finance(fin2), [first], rail="broken")
    with pytest.raises(Refused) as unsent:
        await payouts.complete(deps, finance(fin3), first)
    assert unsent.value.problems == ("transfer_not_sent",)
    with pytest.raises(Refused) as again:
        await payouts.process(deps, finance(fin2), [first], rail="manual", reference="W-2")
    assert "wrong_status" in again.value.problems
    with pytest.raises(Refused) as unknown:  # did the money leave? Nobody knows yet: finance must find out
        await payouts.fail(deps, finance(fin2), first, "portal timed out")
    assert unknown.value.problems == ("transfer_unconfirmed",)
    failed = await payouts.fail(deps, finance(fin2), first, "portal timed out; the bank has nothing", not_sent=True)
    assert failed.approvals == ()
    with pytest.raises(Refused) as alone:
        await payouts.process(deps, finance(fin2), [first], rail="manual", reference="W-3")
    assert "approvals_missing" in alone.value.problems, "one finance person cannot fail and resend alone"
    await payouts.approve(deps, finance(fin1), first)
    await payouts.approve(deps, staff(admin), first)
    sent = await payouts.process(deps, finance(fin2), [first], rail="manual", reference="W-4")
    assert [(s.attempt, s.reference) for s in sent] == [(2, "W-4")]
    done = await payouts.complete(deps, finance(fin3), first)
    assert done.status.value == "completed"

    # A winner disqualified on cancellation has still won: no new win, no new membership (§3, §6.4).
    await payouts.cancel(deps, staff(admin), second, "fraud")
    await payouts.cancel(deps, finance(fin1), second, "fraud")
    async with deps.uow() as uow:
        assert await has_won(uow, accounts[1]) == (True, False)
        assert (await facts_of(uow, accounts[1], NOW)).person_has_won


AUTH = AuthServices(
    hasher=None,  # type: ignore[arg-type]  # only the session policy (step-up window) is read here
    common_passwords=None,  # type: ignore[arg-type]
    box=AesGcmSecretBox(derive_key("k" * 32, "auth")),
    random=SystemRandom(),
    limiter=None,  # type: ignore[arg-type]
    code_key=b"",
)


async def put_details(deps: Deps, payout_id: uuid.UUID) -> None:
    """Bank details on file, as the winner's request would leave them (the member flow is tested end to end)."""
    assert deps.payouts is not None
    async with deps.uow() as uow:
        await uow.payouts.put_details(
            PayoutDetailsRecord(
                payout_id=payout_id,
                method=PayoutMethod.ACH,
                updated_at=NOW,
                holder_name="Ada Lovelace",
                routing_number="011000015",
                account_type="checking",
                account_last4="6789",
                account_sealed=deps.payouts.box.seal(b"000123456789", context=account_context(payout_id)),
            )
        )
        await uow.commit()


async def test_no_eligible_member_means_no_round_but_the_evaluation_is_recorded_and_staff_alerted(
    deps: Deps,
) -> None:
    await seed(deps, members=3, verified=set(), fund_cents=25_000_000)
    result = await rounds.evaluate(deps, triggered_by="test")
    assert (result.outcome, result.winners) == ("no_eligible_member", ())
    async with deps.uow() as uow:
        assert await uow.payouts.round_by_key(NOW.date()) is None
        assert (await uow.ledger.balance(Account.FUND)).cents == 25_000_000
        (recorded,) = await uow.payouts.evaluations(limit=5)
        alerts = await uow.session.scalar(text("SELECT count(*) FROM outbox WHERE event_name = 'round.not_opened'"))
    assert (recorded.outcome, recorded.queue_size) == ("no_eligible_member", 3)
    assert alerts == 1
    # The day is not used up (D120): once someone is eligible, a later evaluation that day opens the round.
    async with deps.uow() as uow:
        first = (await uow.queue.page(limit=1))[0]
        stored = await uow.kyc.get_or_create(first.account_id, at=NOW)
        await uow.kyc.save(
            StoredKyc(
                account_id=first.account_id,
                record=replace(
                    stored.record,
                    status=KycStatus.VERIFIED,
                    verified_at=NOW,
                    status_at=NOW,
                    date_of_birth=date(1980, 1, 1),
                    country="US",
                    fingerprint="f" * 64,
                ),
            ),
            at=NOW,
        )
        await uow.commit()
    later = await rounds.evaluate(deps, triggered_by="test")
    assert (later.outcome, len(later.winners)) == ("round_opened", 1)


async def test_an_unconfirmed_attempt_found_at_the_bank_is_recorded_as_sent_and_completed(deps: Deps) -> None:
    await seed(deps, members=1, verified={0}, fund_cents=10_000_000)
    (payout,) = (await rounds.evaluate(deps, triggered_by="test")).winners
    async with deps.uow() as uow:
        fin1, fin2, admin = [
            (await uow.accounts.add(email=f"{role}{i}@example.com", password_hash=None, role=role, now=NOW)).id
            for i, role in enumerate(("finance", "finance", "admin"))
        ]
        await uow.commit()
    assert deps.payouts is not None
    deps = replace(
        deps,
        payouts=replace(deps.payouts, rails={"broken": BrokenRail()}),  # type: ignore[dict-item]
        auth=AUTH,
    )
    await put_details(deps, payout)
    await payouts.approve(deps, finance(fin1), payout)
    await payouts.approve(deps, staff(admin), payout)
    await payouts.schedule(deps, finance(fin2), payout)
    with pytest.raises(RuntimeError):
        await payouts.process(deps, finance(fin2), [payout], rail="broken")
    sent = await payouts.confirm_sent(deps, finance(fin2), payout, "BANK-REF-9")
    assert sent.status.value == "processing"
    with pytest.raises(Refused):
        await payouts.confirm_sent(deps, finance(fin2), payout, "BANK-REF-9")  # once
    done = await payouts.complete(deps, finance(fin2), payout)
    assert done.status.value == "completed"
    async with deps.uow() as uow:
        (transfer,) = await uow.payouts.transfers(payout)
    assert (transfer.reference, transfer.attempt) == ("BANK-REF-9", 1)
