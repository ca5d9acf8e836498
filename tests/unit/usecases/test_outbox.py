import pytest

from ports.outbound.outbox import OutboxMessage
from ports.usecases import outbox as outbox_usecase
from ports.usecases.deps import Deps, EventHandler
from ports.usecases.outbox import dispatch_outbox
from tests.fakes import FakeClock, FakeStore, FakeTaskQueue, FakeUnitOfWork


def make_deps(store: FakeStore, handlers: dict[str, list[EventHandler]]) -> Deps:
    clock = FakeClock()
    return Deps(uow=lambda: FakeUnitOfWork(store, clock), tasks=FakeTaskQueue(), clock=clock, event_handlers=handlers)


async def record(deps: Deps, n: int, name: str = "membership.activated") -> None:
    async with deps.uow() as uow:
        for i in range(n):
            uow.record(event_name=name, aggregate_type="membership", aggregate_id=str(i), payload={"i": i})
        await uow.commit()


def collector() -> tuple[list[OutboxMessage], EventHandler]:
    seen: list[OutboxMessage] = []

    async def handler(_deps: Deps, message: OutboxMessage) -> None:
        seen.append(message)

    return seen, handler


async def test_events_recorded_but_not_committed_never_reach_the_outbox() -> None:
    store = FakeStore()
    deps = make_deps(store, {})
    async with deps.uow() as uow:
        uow.record(event_name="x", aggregate_type="t", aggregate_id="1", payload={})
    assert store.outbox == {}


async def test_dispatch_hands_every_message_to_its_handlers_once() -> None:
    store = FakeStore()
    seen, handler = collector()
    deps = make_deps(store, {"membership.activated": [handler]})
    await record(deps, 3)

    assert await dispatch_outbox(deps, {}) == 3
    assert sorted(m.payload["i"] for m in seen) == [0, 1, 2]
    assert await dispatch_outbox(deps, {}) == 0
    assert len(seen) == 3


async def test_messages_without_handlers_are_marked_dispatched() -> None:
    store = FakeStore()
    deps = make_deps(store, {})
    await record(deps, 2, name="nobody.listens")
    assert await dispatch_outbox(deps, {}) == 2
    assert all(dispatched is not None for _, dispatched, _ in store.outbox.values())


async def test_a_failing_handler_leaves_its_message_pending_and_does_not_block_others() -> None:
    store = FakeStore()
    _, good = collector()

    async def bad(_deps: Deps, message: OutboxMessage) -> None:
        if message.payload["i"] == 1:
            raise RuntimeError("mail server down")

    deps = make_deps(store, {"membership.activated": [bad, good]})
    await record(deps, 3)
    assert await dispatch_outbox(deps, {}) == 2
    failed = [(m, err) for m, dispatched, err in store.outbox.values() if dispatched is None]
    assert [(m.payload["i"], err) for m, err in failed] == [(1, "RuntimeError: mail server down")]


@pytest.mark.parametrize("batch_size", [1, 2, 5])
async def test_dispatch_drains_more_than_one_batch(monkeypatch: pytest.MonkeyPatch, batch_size: int) -> None:
    monkeypatch.setattr(outbox_usecase, "BATCH_SIZE", batch_size)
    store = FakeStore()
    seen, handler = collector()
    deps = make_deps(store, {"membership.activated": [handler]})
    await record(deps, 7)
    assert await dispatch_outbox(deps, {}) == 7
    assert len(seen) == 7
