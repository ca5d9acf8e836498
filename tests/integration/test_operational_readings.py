"""What `/metrics` reads at each scrape, on a database of its own (the readings are program-wide aggregates), and
the readiness probe that compares this process's clock with PostgreSQL's."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import migrations, models
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.health import ClockSkewProbe
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from domain.money import Money
from domain.rules import ProgramRules
from ports.outbound.errors import ComponentUnavailable
from ports.usecases.deps import Deps
from ports.usecases.operations import program_readings
from ports.usecases.rules_book import RulesBook
from tests.fakes import FakeClock, FakeTaskQueue

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
async def own_engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(migrations.upgrade, fresh_database)
    engine = create_engine(fresh_database)
    yield engine
    await engine.dispose()


def deps_for(engine: AsyncEngine, clock: FakeClock, rules: ProgramRules) -> Deps:
    sessions = session_factory(engine)
    return Deps(
        uow=lambda: SqlUnitOfWork(sessions, clock=clock),
        tasks=FakeTaskQueue(),
        clock=clock,
        rules=RulesBook.of(rules),
    )


async def test_an_empty_program_reads_as_nothing_waiting(own_engine: AsyncEngine) -> None:
    deps = deps_for(own_engine, FakeClock(NOW), ProgramRules())
    found = await program_readings(deps)
    assert found.readings.inbox_backlog == {}
    assert found.readings.fund_balance_cents == 0
    assert found.readings.last_round_age_s is None
    assert found.readings.open_payouts == {}
    assert found.payout_threshold_cents == ProgramRules().payout_threshold.cents
    assert found.payouts_started is False, "no launch date: payouts cannot have started"


async def test_backlog_lag_reconciliation_and_fund_are_read_as_stored(own_engine: AsyncEngine) -> None:
    clock = FakeClock(NOW)
    launch = (NOW - timedelta(days=400)).date()
    deps = deps_for(own_engine, clock, ProgramRules(launch_date=launch, reward=Money(cents=10_000_000)))
    async with session_factory(own_engine)() as session:
        for provider, received, processed in (
            ("stripe", NOW - timedelta(minutes=7), None),
            ("stripe", NOW - timedelta(minutes=2), None),
            ("stripe", NOW - timedelta(hours=3), NOW - timedelta(hours=2)),  # done: neither backlog nor lag
            ("twilio", NOW - timedelta(seconds=30), None),
        ):
            session.add(
                models.InboxMessage(
                    provider=provider,
                    event_key=uuid.uuid4().hex,
                    event_type="x",
                    body="{}",
                    received_at=received,
                    processed_at=processed,
                )
            )
        for kind, finished, ok, drift in (
            ("payments.events", NOW - timedelta(minutes=50), True, 0),
            ("payments.events", NOW - timedelta(minutes=5), False, 0),  # a failed run does not count as reconciled
            ("payments.money", NOW - timedelta(hours=33), True, 0),
            ("payments.money", NOW - timedelta(hours=9), False, -1_234),  # drift: the run is not ok
        ):
            session.add(
                models.ReconciliationRun(
                    kind=kind, started_at=finished, finished_at=finished, ok=ok, drift_cents=drift, detail={}
                )
            )
        session.add(models.LedgerBalance(account="fund", currency="USD", debit_balance_cents=-2_500_000))
        await session.commit()

    found = await program_readings(deps)
    readings = found.readings
    assert readings.inbox_backlog == {"stripe": 2, "twilio": 1}
    assert readings.inbox_oldest_s == {"stripe": 420.0, "twilio": 30.0}
    assert readings.reconciliation_age_s == {"payments.events": 3000.0, "payments.money": 33 * 3600.0}
    assert readings.money_drift_cents == -1_234
    assert readings.fund_balance_cents == 2_500_000, "the fund is credit-normal: $25,000 held"
    assert found.payout_threshold_cents == 10_000_000
    assert found.payouts_started is True


async def test_the_clock_probe_passes_on_this_clock_and_names_a_skewed_one(engine: AsyncEngine) -> None:
    await ClockSkewProbe(engine, SystemClock()).check()
    skewed = FakeClock(datetime.now(UTC) + timedelta(seconds=30))
    with pytest.raises(ComponentUnavailable) as refused:
        await ClockSkewProbe(engine, skewed).check()
    assert refused.value.component == "clock"
    assert "off the database" in refused.value.detail
