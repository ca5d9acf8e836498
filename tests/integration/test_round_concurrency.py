"""Payout rounds on PostgreSQL under concurrency (DOMAIN.md §4, §7).

1. Many workers evaluate the same day at once: exactly one round opens, it commits exactly ``floor(fund / reward)``
   rewards once each, its winners are the first eligible members in queue order, and every other evaluation sees
   the round (``round_exists``) or is refused (`ConflictError`, which the job retries) — never a second round.
2. The queue's concurrency property (tests/integration/test_queue_positions.py) with wins: while membership changes
   run concurrently, rounds select winners (WON leaves the queue) and two staff cancel payouts as not disqualifying
   (the member returns with the same tenure, hence the same place). Positions always equal the domain ordering and
   the index verifies.

Each test runs in a database of its own, because a round reads the whole fund and the whole queue: other tests'
members and payments (in the run's shared database, or the other test's here) would change who wins. The autouse
consistency checks of tests/integration/conftest.py check that database (``test_settings`` is overridden below).
"""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.security.crypto import AesGcmSecretBox, SystemRandom
from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.kyc import KycRecord, KycStatus
from domain.ledger import Account, payment_received, split_payment
from domain.membership import MembershipState
from domain.money import Money
from domain.queue import QueueEntry, QueueKey, positions
from domain.rules import ProgramRules
from domain.sessions import Role
from entrypoints.settings import Settings
from ports.outbound.errors import ConflictError
from ports.usecases import payouts, rounds
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps, PayoutServices
from ports.usecases.payment_events import RECONCILE_KIND
from ports.usecases.rules_book import RulesBook
from tests import services
from tests.fakes import FakeClock, FakeTaskQueue
from tests.integration.test_queue_positions import (
    BASE,
    OFFSETS,
    _apply,
    _check_positions,
    _history_positions,
    _last_seq,
    _new_memberships,
    transaction,
)

S = MembershipState
MakeUow = Callable[..., SqlUnitOfWork]
RULES = ProgramRules(launch_date=date(2025, 10, 1))
"""Default $100,000 reward and threshold; payouts possible from 2026-10-01, 13+ months after launch."""
REWARD = RULES.reward
START = datetime(2026, 11, 25, 12, tzinfo=UTC)
WORKERS = 8
DAYS = 12
NOT_DISQUALIFYING = "not_disqualifying"


_databases = itertools.count()


# -- a database of each test's own -------------------------------------------------------------------------------


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    name = f"tenure_rounds_{services.RUN_ID}_{next(_databases)}"
    await services.create_database(name)
    url = services.asyncpg_to_sqlalchemy(services.database_dsn(name))
    try:
        await asyncio.to_thread(migrations.upgrade, url)
        yield url
    finally:
        await services.drop_database(name)


@pytest.fixture
def test_settings(pg_database: str, redis_namespace: str) -> Settings:
    """The run's settings pointed at this module's database (so the autouse ledger and queue checks look here)."""
    from entrypoints.settings import load_settings

    return load_settings(
        {
            "TENURE_ENV": "test",
            "TENURE_DATABASE_URL": pg_database,
            "TENURE_REDIS_URL": services.REDIS_URL,
            "TENURE_QUEUE_NAME": redis_namespace,
        }
    )


@pytest.fixture
async def engine(pg_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database, pool_size=12)
    yield engine
    await engine.dispose()


def _deps(engine: AsyncEngine, clock: FakeClock) -> Deps:
    sessions = session_factory(engine)
    return Deps(
        uow=lambda: SqlUnitOfWork(sessions, clock=clock),
        tasks=FakeTaskQueue(),
        clock=clock,
        rules=RulesBook.of(RULES),
        payouts=PayoutServices(box=AesGcmSecretBox(bytes(range(32))), random=SystemRandom(), rails={}),
    )


def _sql(deps: Deps) -> SqlUnitOfWork:
    """The deps' unit of work as the SQL adapter, for the tests' own reads of the tables."""
    uow = deps.uow()
    assert isinstance(uow, SqlUnitOfWork)
    return uow


# -- seeding -------------------------------------------------------------------------------------------------------


def _kyc(at: datetime, *, country: str = "US") -> KycRecord:
    return KycRecord(
        status=KycStatus.VERIFIED,
        attempt_id=f"idv_{uuid.uuid4().hex}",
        attempt_started_at=at - timedelta(hours=1),
        status_at=at,
        verified_at=at,
        date_of_birth=date(1980, 5, 17),
        country=country,
        fingerprint=uuid.uuid4().hex + uuid.uuid4().hex,
    )


async def _verify(deps: Deps, account_ids: list[uuid.UUID], *, country: str = "US") -> None:
    now = deps.clock.now()
    async with deps.uow() as uow:
        for account_id in account_ids:
            stored = await uow.kyc.get_or_create(account_id, at=now)
            await uow.kyc.save(replace(stored, record=_kyc(now, country=country)), at=now)
        await uow.commit()


async def _fund(deps: Deps) -> Money:
    async with deps.uow() as uow:
        return await uow.ledger.balance(Account.FUND, REWARD.currency)


async def _ready_for_a_round(deps: Deps, *, fund_cents: int) -> Money:
    """Top the fund up to at least ``fund_cents`` with a member payment, and record a successful reconciliation
    a minute ago (§7's preconditions); returns the fund."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        fund = await uow.ledger.balance(Account.FUND, REWARD.currency)
        if fund.cents < fund_cents:
            split = split_payment(Money(cents=fund_cents - fund.cents, currency=REWARD.currency), RULES)
            await uow.ledger.post(payment_received(invoice_id=f"in_{uuid.uuid4().hex}", split=split, at=now))
        await uow.billing.record_reconciliation(
            kind=RECONCILE_KIND,
            started_at=now - timedelta(minutes=2),
            finished_at=now - timedelta(minutes=1),
            ok=True,
            drift_cents=0,
            detail={},
        )
        await uow.commit()
        return await uow.ledger.balance(Account.FUND, REWARD.currency)


async def _staff(deps: Deps, role: Role) -> Principal:
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await uow.accounts.add(
            email=f"staff-{uuid.uuid4().hex}@example.com", password_hash=None, role=role.value, now=now
        )
        await uow.commit()
    return Principal(
        account_id=account.id,
        email=account.email,
        role=role,
        session_id=uuid.uuid4(),
        authenticated_at=now,
        second_factor=True,
    )


# -- 1. concurrent evaluations -------------------------------------------------------------------------------------


async def _seed_queue(deps: Deps, count: int) -> list[tuple[uuid.UUID, QueueKey, bool]]:
    """``count`` ACTIVE memberships, ties and near neighbours included; every fourth one is verified outside the
    US and every seventh not at all (ineligible, so the round must pass them over). Returns (membership id, queue
    key, eligible) for each."""
    now = deps.clock.now()
    seeded = []
    async with deps.uow() as uow:
        for i in range(count):
            account = await uow.accounts.add(
                email=f"r-{uuid.uuid4().hex}@example.com", password_hash=None, role="member", now=now
            )
            record = await uow.billing.add_membership(account_id=account.id, rules_version=1, at=now)
            # Out of order, with ties at the same second: the member number breaks them.
            tenure_start = BASE + timedelta(seconds=OFFSETS[(i * 5) % len(OFFSETS)])
            record = replace(
                record,
                status=S.ACTIVE,
                tenure_start=tenure_start,
                member_number=await uow.billing.next_member_number(),
                activated_at=now,
            )
            await uow.billing.save_membership(record, at=now)
            eligible = True
            if i % 7 == 3:
                eligible = False  # no verification at all
            else:
                stored = await uow.kyc.get_or_create(account.id, at=now)
                country = "CA" if i % 4 == 1 else "US"
                eligible = country == "US"
                await uow.kyc.save(replace(stored, record=_kyc(now, country=country)), at=now)
            assert record.member_number is not None
            seeded.append(
                (record.id, QueueKey(tenure_start=tenure_start, member_number=record.member_number), eligible)
            )
        await uow.commit()
    return seeded


async def _round_facts(
    deps: Deps, day: date
) -> tuple[int, list[Row[tuple[uuid.UUID, uuid.UUID, int, datetime | None]]], int, int]:
    """(rounds on the day, the day's payouts in queue order, commit entries of those payouts, all commit entries)."""
    async with _sql(deps) as uow:
        session = uow.session
        rounds_that_day = await session.scalar(
            select(func.count()).select_from(models.PayoutRound).where(models.PayoutRound.round_key == day)
        )
        rows = list(
            await session.execute(
                select(
                    models.Payout.id,
                    models.Payout.membership_id,
                    models.Payout.gross_cents,
                    models.Payout.cancelled_at,
                )
                .join(models.PayoutRound, models.PayoutRound.id == models.Payout.round_id)
                .join(models.Membership, models.Membership.id == models.Payout.membership_id)
                .where(models.PayoutRound.round_key == day)
                .order_by(models.Membership.tenure_start, models.Membership.member_number)
            )
        )
        references = [f"payout:{row.id}:commit" for row in rows]
        commits = await session.scalar(
            select(func.count()).select_from(models.LedgerEntry).where(models.LedgerEntry.reference.in_(references))
        )
        all_commits = await session.scalar(
            select(func.count())
            .select_from(models.LedgerEntry)
            .where(models.LedgerEntry.reference.like("payout:%:commit"))
        )
    return int(rounds_that_day or 0), rows, int(commits or 0), int(all_commits or 0)


async def test_concurrent_evaluations_open_exactly_one_round_a_day_and_commit_each_reward_once(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(START)
    deps = _deps(engine, clock)
    seeded = await _seed_queue(deps, 60)
    order = sorted(seeded, key=lambda s: s[1])
    won: set[uuid.UUID] = set()
    payouts_so_far = 0

    for day_index in range(DAYS):
        clock.advance(timedelta(days=1) if day_index else timedelta(0))
        day = clock.now().date()
        # 1.5, 2.5 or 3.5 rewards: one, two or three winners, and half a reward left over.
        target = (1 + day_index % 3) * REWARD.cents + REWARD.cents // 2
        fund_before = await _ready_for_a_round(deps, fund_cents=target)
        assert fund_before.cents == target
        expected_winners = fund_before // REWARD

        results = await asyncio.gather(
            *(rounds.evaluate(deps, triggered_by=f"worker-{i}") for i in range(WORKERS)), return_exceptions=True
        )

        unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, ConflictError)]
        assert not unexpected, unexpected
        finished = [r for r in results if isinstance(r, rounds.EvaluationResult)]
        opened = [r for r in finished if r.outcome == "round_opened"]
        assert len(opened) == 1, [r.outcome for r in finished]
        assert all(r.outcome == "round_exists" for r in finished if r is not opened[0]), [r.outcome for r in finished]
        assert all(r.day == day for r in finished)
        assert len(opened[0].winners) == expected_winners

        rounds_that_day, rows, commits, all_commits = await _round_facts(deps, day)
        assert rounds_that_day == 1
        assert len(rows) == expected_winners
        assert {row.id for row in rows} == set(opened[0].winners)
        assert commits == expected_winners, "each payout's reward is committed exactly once"
        payouts_so_far += expected_winners
        assert all_commits == payouts_so_far, "no evaluation committed a reward it did not keep"
        assert all(row.gross_cents == REWARD.cents and row.cancelled_at is None for row in rows)

        # The winners are the first eligible members in queue order who had not won before.
        first_eligible = [m for m, _, eligible in order if eligible and m not in won][:expected_winners]
        assert [row.membership_id for row in rows] == first_eligible
        won.update(first_eligible)

        async with _sql(deps) as uow:
            for row in rows:
                membership = await uow.billing.get_membership(row.membership_id)
                assert membership is not None
                assert membership.status is S.WON
                open_payouts = await uow.session.scalar(
                    select(func.count())
                    .select_from(models.Payout)
                    .where(models.Payout.membership_id == row.membership_id, models.Payout.cancelled_at.is_(None))
                )
                assert open_payouts == 1
                assert await uow.queue.place_of_membership(row.membership_id) is None
            evaluations = list(
                await uow.session.scalars(
                    select(models.RoundEvaluation.outcome).where(models.RoundEvaluation.day == day)
                )
            )
            verified = await uow.queue.verify()
            assert verified.ok, verified
        # Refused evaluations rolled back whole: only finished ones left a record, and only one opened the round.
        assert sorted(evaluations) == sorted(r.outcome for r in finished)

        fund_after = await _fund(deps)
        assert fund_after.cents == fund_before.cents - expected_winners * REWARD.cents
        assert fund_after.cents == REWARD.cents // 2

        check = await rounds.verify_round(deps, day)
        assert check.ok, check.problems
        assert check.entries == len([s for s in seeded if s[0] not in won]) + expected_winners

        # A retry the same day (the job, or staff) finds the round and changes nothing.
        again = await rounds.evaluate(deps, triggered_by="retry")
        assert again.outcome == "round_exists"
        rounds_again, rows_again, commits_again, _ = await _round_facts(deps, day)
        assert (rounds_again, [r.id for r in rows_again], commits_again) == (1, [r.id for r in rows], commits)
        assert (await _fund(deps)).cents == fund_after.cents

    assert len(won) == payouts_so_far


# -- 2. the queue's concurrency property, with wins -----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Membership changes in one transaction: (slot, action, tenure offset), as in test_queue_positions."""

    actions: tuple[tuple[int, str, int], ...]


@dataclass(frozen=True)
class Round:
    """An evaluation (the cron job or a staff trigger)."""


@dataclass(frozen=True)
class CancelPayout:
    """Two staff cancel the slot's open payout as not disqualifying (skipped when it has none)."""

    slot: int


ROUND = Round()
change = transaction.map(lambda t: Change(tuple(t)))
cancellation = st.integers(0, 7).map(CancelPayout)
win_step = st.lists(st.one_of(change, change, st.just(ROUND), cancellation, cancellation), min_size=1, max_size=4)


async def _open_payout_of(deps: Deps, membership_id: uuid.UUID) -> uuid.UUID | None:
    async with _sql(deps) as uow:
        found: uuid.UUID | None = await uow.session.scalar(
            select(models.Payout.id).where(
                models.Payout.membership_id == membership_id, models.Payout.cancelled_at.is_(None)
            )
        )
    return found


async def _key_and_state(deps: Deps, membership_id: uuid.UUID) -> tuple[datetime | None, int | None, S]:
    async with deps.uow() as uow:
        record = await uow.billing.get_membership(membership_id)
    assert record is not None
    return record.tenure_start, record.member_number, record.status


async def _cancel_not_disqualifying(
    deps: Deps, membership_id: uuid.UUID, requester: Principal, confirmer: Principal
) -> bool:
    """Two staff cancel the member's open payout, if any; the member is back in the queue with the same key."""
    payout_id = await _open_payout_of(deps, membership_id)
    if payout_id is None:
        return False
    start, number, state = await _key_and_state(deps, membership_id)
    assert state is S.WON
    requested = await payouts.cancel(deps, requester, payout_id, NOT_DISQUALIFYING)
    assert requested.pending is not None
    confirmed = await payouts.cancel(deps, confirmer, payout_id, NOT_DISQUALIFYING)
    assert confirmed.pending is None
    assert confirmed.payout.cancellation is not None
    assert not confirmed.payout.cancellation.disqualifying
    assert await _key_and_state(deps, membership_id) == (start, number, S.ACTIVE)
    return True


async def _evaluate(deps: Deps) -> rounds.EvaluationResult | None:
    """One evaluation; None when refused because a selected member changed meanwhile (the job retries)."""
    try:
        return await rounds.evaluate(deps, triggered_by="cron")
    except ConflictError:
        return None


async def _domain_positions(deps: Deps) -> dict[uuid.UUID, int]:
    """``domain.queue.positions`` over every membership, whatever its state (the domain drops the non-queue ones)."""
    async with _sql(deps) as uow:
        rows = (
            await uow.session.execute(
                select(
                    models.Membership.id,
                    models.Membership.status,
                    models.Membership.tenure_start,
                    models.Membership.member_number,
                ).where(models.Membership.tenure_start.is_not(None), models.Membership.member_number.is_not(None))
            )
        ).all()
    entries = [
        QueueEntry(
            membership_id=str(i), key=QueueKey(tenure_start=t, member_number=n), state=MembershipState(status.lower())
        )
        for i, status, t, n in rows
    ]
    return {uuid.UUID(k): v for k, v in positions(entries).items()}


@pytest.fixture
def round_clock() -> FakeClock:
    """One clock for all of a property's examples: it only moves forward (a day per step), as round days are
    unique in the database the examples share."""
    return FakeClock(START)


@pytest.mark.usefixtures("engine")
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@example(steps=[[ROUND]])  # two winners who are the whole queue behind the first, in one commit
@given(steps=st.lists(win_step, min_size=1, max_size=5))
async def test_positions_equal_the_domain_ordering_with_wins_and_cancelled_payouts(
    engine: AsyncEngine,
    make_uow: MakeUow,
    round_clock: FakeClock,
    steps: list[list[Change | Round | CancelPayout]],
) -> None:
    deps = _deps(engine, round_clock)
    requester, confirmer = await _staff(deps, Role.ADMIN), await _staff(deps, Role.FINANCE)
    mine = await _new_memberships(make_uow, 8)
    async with make_uow() as uow:
        records = [await uow.billing.get_membership(m) for m in mine]
    accounts = [record.account_id for record in records if record is not None]
    assert len(accounts) == len(mine)
    await _verify(deps, accounts[:7])
    await _verify(deps, accounts[7:], country="CA")  # the last slot is never eligible: a round passes it over
    await asyncio.gather(*(_apply(make_uow, [(mine[i], "activate", 3 * i // 2)]) for i in range(0, 8, 2)))
    try:
        # A first round, so every example starts with winners out of the queue.
        round_clock.advance(timedelta(days=1))
        await _ready_for_a_round(deps, fund_cents=2 * REWARD.cents)
        first = await _evaluate(deps)
        assert first is not None
        assert first.outcome == "round_opened", first
        assert first.winners

        observed = [(await _last_seq(make_uow), await _check_positions(make_uow, mine))]
        for transactions in steps:
            round_clock.advance(timedelta(days=1))
            await _ready_for_a_round(deps, fund_cents=2 * REWARD.cents)
            work: list[Coroutine[Any, Any, object]] = []
            cancelling: set[int] = set()
            for item in transactions:
                if isinstance(item, Round):
                    work.append(_evaluate(deps))
                elif isinstance(item, CancelPayout):
                    if item.slot not in cancelling:  # one cancellation of a payout at a time
                        cancelling.add(item.slot)
                        work.append(_cancel_not_disqualifying(deps, mine[item.slot], requester, confirmer))
                else:
                    actions = [(mine[slot], name, second) for slot, name, second in item.actions]
                    work.append(_apply(make_uow, actions))
            results = await asyncio.gather(*work)
            day = round_clock.now().date()
            outcomes = [r.outcome for r in results if isinstance(r, rounds.EvaluationResult)]
            for outcome in outcomes:
                event(f"evaluation: {outcome}")
            event(f"payouts cancelled in a step: {sum(r is True for r in results)}")
            assert outcomes.count("round_opened") <= 1, outcomes
            if "round_opened" in outcomes:
                check = await rounds.verify_round(deps, day)
                assert check.ok, check.problems

            observed.append((await _last_seq(make_uow), await _check_positions(make_uow, mine)))
            truth = await _domain_positions(deps)
            for membership_id in mine:
                *_, state = await _key_and_state(deps, membership_id)
                place = observed[-1][1][membership_id]
                assert place == truth.get(membership_id), (membership_id, state)
                if state is S.WON:
                    assert place is None
                    assert await _open_payout_of(deps, membership_id) is not None
            async with make_uow() as uow:
                verified = await uow.queue.verify()
            assert verified.ok, verified

        for membership_id in mine:
            changes = await _history_positions(make_uow, membership_id)
            for last_seq, seen in observed:
                before = [position for seq, position in changes if seq <= last_seq]
                assert (before[-1] if before else None) == seen[membership_id], (membership_id, last_seq)
    finally:
        # Later examples share this database: this example's members leave the queue so they never win there.
        await asyncio.gather(*(_apply(make_uow, [(m, "cancel", 0)]) for m in mine))
