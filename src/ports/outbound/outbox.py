"""Outbox rows as the use cases see them: domain events committed with the state change they describe."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    id: UUID
    event_name: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: datetime
    attempts: int


class OutboxRepository(Protocol):
    async def add(
        self,
        *,
        event_name: str,
        aggregate_type: str,
        aggregate_id: str,
        payload: dict[str, Any],
        occurred_at: datetime,
    ) -> UUID: ...

    async def get(self, message_id: UUID) -> OutboxMessage | None: ...

    async def claim_pending(self, *, limit: int) -> Sequence[OutboxMessage]:
        """Lock up to `limit` undispatched messages, oldest first, skipping rows other workers hold."""
        ...

    async def mark_dispatched(self, message_id: UUID, *, at: datetime) -> None: ...

    async def mark_failed(self, message_id: UUID, *, error: str) -> None: ...
