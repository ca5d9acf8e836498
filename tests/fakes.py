"""In-memory fakes of the outbound ports, for fast use-case tests. A capability is done only when its
PostgreSQL integration test passes too; these fakes are for speed, not for proof."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from ports.outbound.errors import ComponentUnavailable
from ports.outbound.inbox import InboxMessage
from ports.outbound.outbox import OutboxMessage
from ports.outbound.tasks import Payload


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class FakeStore:
    """What the fake unit of work commits to: plain dicts standing in for tables."""

    def __init__(self) -> None:
        self.outbox: dict[UUID, tuple[OutboxMessage, datetime | None, str | None]] = {}
        self.inbox: dict[tuple[str, str], InboxMessage] = {}


class FakeOutbox:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def add(self, **fields: Any) -> UUID:
        message = OutboxMessage(id=uuid4(), attempts=0, **fields)
        self._store.outbox[message.id] = (message, None, None)
        return message.id

    async def get(self, message_id: UUID) -> OutboxMessage | None:
        found = self._store.outbox.get(message_id)
        return found[0] if found else None

    async def claim_pending(self, *, limit: int) -> Sequence[OutboxMessage]:
        pending = [m for m, dispatched, _ in self._store.outbox.values() if dispatched is None]
        return sorted(pending, key=lambda m: m.occurred_at)[:limit]

    async def mark_dispatched(self, message_id: UUID, *, at: datetime) -> None:
        message, _, _ = self._store.outbox[message_id]
        self._store.outbox[message_id] = (replace(message, attempts=message.attempts + 1), at, None)

    async def mark_failed(self, message_id: UUID, *, error: str) -> None:
        message, dispatched, _ = self._store.outbox[message_id]
        self._store.outbox[message_id] = (replace(message, attempts=message.attempts + 1), dispatched, error)


class FakeInbox:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def store(
        self, *, provider: str, event_key: str, event_type: str, body: str, received_at: datetime
    ) -> tuple[UUID, bool]:
        existing = self._store.inbox.get((provider, event_key))
        if existing:
            return existing.id, False
        message = InboxMessage(
            id=uuid4(),
            provider=provider,
            event_key=event_key,
            event_type=event_type,
            body=body,
            received_at=received_at,
            processed_at=None,
            attempts=0,
        )
        self._store.inbox[(provider, event_key)] = message
        return message.id, True

    async def get(self, message_id: UUID) -> InboxMessage | None:
        return next((m for m in self._store.inbox.values() if m.id == message_id), None)

    async def unprocessed_count(self, provider: str) -> int:
        return sum(1 for (p, _), m in self._store.inbox.items() if p == provider and m.processed_at is None)


class FakeUnitOfWork:
    """Commits by mutating the shared store. Recorded events become outbox rows only at commit."""

    def __init__(self, store: FakeStore, clock: FakeClock) -> None:
        self._store = store
        self._clock = clock
        self.outbox = FakeOutbox(store)
        self.inbox = FakeInbox(store)
        self._pending: list[dict[str, Any]] = []
        self.commits = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.rollback()

    def record(self, *, event_name: str, aggregate_type: str, aggregate_id: str, payload: dict[str, Any]) -> None:
        self._pending.append(
            {
                "event_name": event_name,
                "aggregate_type": aggregate_type,
                "aggregate_id": aggregate_id,
                "payload": payload,
            }
        )

    async def commit(self) -> None:
        for event in self._pending:
            await self.outbox.add(occurred_at=self._clock.now(), **event)
        self._pending = []
        self.commits += 1

    async def rollback(self) -> None:
        self._pending = []


class FakeTaskQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, dict[str, Any], str | None]] = []
        self.down = False

    component = "queue"

    async def enqueue(
        self, task: str, payload: Payload | None = None, *, key: str | None = None, delay: timedelta | None = None
    ) -> bool:
        if self.down:
            raise ComponentUnavailable("queue", "fake outage")
        self.enqueued.append((task, dict(payload or {}), key))
        return True

    async def ping(self) -> None:
        if self.down:
            raise ComponentUnavailable("queue", "fake outage")

    async def check(self) -> None:
        await self.ping()
