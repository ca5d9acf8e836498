"""The unit of work on PostgreSQL: state and events commit together or not at all; the outbox is
dispatched once per message even with concurrent dispatchers; the inbox is idempotent under races."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from adapters.sql import models
from adapters.sql.engine import create_engine, session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.outbox import OutboxMessage
from ports.usecases.deps import Deps
from ports.usecases.outbox import dispatch_outbox
from tests.fakes import FakeTaskQueue

MakeUow = Callable[..., SqlUnitOfWork]


async def outbox_rows(uow_factory: MakeUow, aggregate_id: str) -> int:
    async with uow_factory() as uow:
        return int(
            await uow.session.scalar(
                select(func.count())
                .select_from(models.OutboxMessage)
                .where(models.OutboxMessage.aggregate_id == aggregate_id)
            )
            or 0
        )


async def account_exists(uow_factory: MakeUow, email: str) -> bool:
    async with uow_factory() as uow:
        return await uow.session.scalar(select(models.Account.id).where(models.Account.email == email)) is not None


async def test_state_and_events_commit_in_one_transaction(make_uow: MakeUow) -> None:
    wakes: list[str] = []

    async def wake() -> None:
        wakes.append("woken")

    email = f"{uuid.uuid4().hex}@example.com"
    async with make_uow(wake) as uow:
        uow.session.add(models.Account(email=email))
        uow.record(event_name="account.created", aggregate_type="account", aggregate_id=email, payload={"e": 1})
        await uow.commit()

    assert await account_exists(make_uow, email)
    assert await outbox_rows(make_uow, email) == 1
    assert wakes == ["woken"], "the dispatcher is woken once, after the commit"


async def test_a_failure_before_commit_keeps_neither_state_nor_events(make_uow: MakeUow) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    with pytest.raises(RuntimeError):
        async with make_uow() as uow:
            uow.session.add(models.Account(email=email))
            uow.record(event_name="account.created", aggregate_type="account", aggregate_id=email, payload={})
            await uow.session.flush()
            raise RuntimeError("crash between the change and the commit")

    assert not await account_exists(make_uow, email)
    assert await outbox_rows(make_uow, email) == 0


async def test_a_failed_wake_up_does_not_undo_the_commit(make_uow: MakeUow) -> None:
    async def broken_wake() -> None:
        raise ComponentUnavailable("queue", "redis down")

    email = f"{uuid.uuid4().hex}@example.com"
    async with make_uow(broken_wake) as uow:
        uow.session.add(models.Account(email=email))
        uow.record(event_name="account.created", aggregate_type="account", aggregate_id=email, payload={})
        await uow.commit()
    assert await outbox_rows(make_uow, email) == 1


async def test_no_wake_up_without_events(make_uow: MakeUow) -> None:
    wakes: list[str] = []

    async def wake() -> None:
        wakes.append("woken")

    async with make_uow(wake) as uow:
        uow.session.add(models.Account(email=f"{uuid.uuid4().hex}@example.com"))
        await uow.commit()
    assert wakes == []


async def test_concurrent_dispatchers_hand_each_message_to_its_handler_once(make_uow: MakeUow) -> None:
    event = f"test.concurrent.{uuid.uuid4().hex}"
    async with make_uow() as uow:
        for i in range(300):
            uow.record(event_name=event, aggregate_type="test", aggregate_id=str(i), payload={"i": i})
        await uow.commit()

    seen: Counter[int] = Counter()

    async def handler(_deps: Deps, message: OutboxMessage) -> None:
        seen[message.payload["i"]] += 1
        await asyncio.sleep(0)

    deps = Deps(uow=make_uow, tasks=FakeTaskQueue(), clock=SystemClock(), event_handlers={event: [handler]})
    counts = await asyncio.gather(*(dispatch_outbox(deps, {}) for _ in range(4)))

    assert sum(counts) >= 300  # other tests' pending rows may be dispatched too
    assert set(seen) == set(range(300))
    assert set(seen.values()) == {1}


async def test_the_inbox_stores_a_provider_event_once_under_concurrent_delivery(make_uow: MakeUow) -> None:
    key = f"evt_{uuid.uuid4().hex}"

    async def deliver() -> tuple[uuid.UUID, bool]:
        async with make_uow() as uow:
            result = await uow.inbox.store(
                provider="stripe", event_key=key, event_type="invoice.paid", body="{}", received_at=datetime.now(UTC)
            )
            await uow.commit()
            return result

    results = await asyncio.gather(*(deliver() for _ in range(10)))
    assert len({message_id for message_id, _ in results}) == 1
    assert sum(1 for _, new in results if new) == 1

    async with make_uow() as uow:
        stored = await uow.inbox.get(results[0][0])
        assert stored is not None
        assert (stored.provider, stored.event_key, stored.processed_at) == ("stripe", key, None)
        assert await uow.inbox.unprocessed_count("stripe") >= 1


async def test_an_unreachable_database_surfaces_as_component_unavailable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", connect_timeout_s=1)
    try:
        with pytest.raises(ComponentUnavailable) as excinfo:
            async with SqlUnitOfWork(session_factory(engine), clock=SystemClock()) as uow:
                await uow.outbox.claim_pending(limit=1)
        assert excinfo.value.component == "database"
    finally:
        await engine.dispose()
