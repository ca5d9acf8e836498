"""The provider inbox: every verified inbound provider message is stored before we answer 2xx."""

from collections.abc import Sequence
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
    subject: str | None = None
    last_error: str | None = None


class InboxRepository(Protocol):
    async def store(
        self,
        *,
        provider: str,
        event_key: str,
        event_type: str,
        body: str,
        received_at: datetime,
        subject: str | None = None,
    ) -> tuple[UUID, bool]:
        """Store a message idempotently; returns its id and whether it was new."""
        ...

    async def get(self, message_id: UUID, *, for_update: bool = False) -> InboxMessage | None: ...

    async def by_key(self, provider: str, event_key: str) -> InboxMessage | None: ...

    async def unprocessed_count(self, provider: str) -> int: ...

    async def unprocessed_for_subject(self, provider: str, subject: str) -> int:
        """Unprocessed messages about one provider customer (the default sweep waits for them)."""
        ...

    async def oldest_unprocessed(self, provider: str) -> datetime | None:
        """When the oldest unprocessed message arrived (inbox lag; payouts need no backlog)."""
        ...

    async def pending(self, provider: str, *, received_before: datetime, limit: int) -> Sequence[InboxMessage]:
        """Unprocessed messages received before the cut-off, oldest first (the recovery sweep's work)."""
        ...

    async def mark_processed(self, message_id: UUID, *, at: datetime) -> None: ...

    async def mark_failed(self, message_id: UUID, *, error: str) -> None:
        """Count a failed attempt; the message stays unprocessed and is retried."""
        ...
