"""The provider inbox: every verified inbound provider message is stored before we answer 2xx."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxMessage:
    id: UUID
    provider: str
    event_key: str
    event_type: str
    body: str
    received_at: datetime
    processed_at: datetime | None
    attempts: int


class InboxRepository(Protocol):
    async def store(
        self, *, provider: str, event_key: str, event_type: str, body: str, received_at: datetime
    ) -> tuple[UUID, bool]:
        """Store a message idempotently; returns its id and whether it was new."""
        ...

    async def get(self, message_id: UUID) -> InboxMessage | None: ...

    async def unprocessed_count(self, provider: str) -> int: ...
