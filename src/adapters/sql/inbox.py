"""`InboxRepository` on SQL: idempotent on (provider, event key) through a unique constraint."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from ports.outbound.inbox import InboxMessage


class SqlInboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(
        self, *, provider: str, event_key: str, event_type: str, body: str, received_at: datetime
    ) -> tuple[UUID, bool]:
        insert = dialect_insert(self._session)
        stmt = (
            insert(models.InboxMessage)
            .values(
                id=uuid7(),
                provider=provider,
                event_key=event_key,
                event_type=event_type,
                body=body,
                received_at=received_at,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["provider", "event_key"])
            .returning(models.InboxMessage.id)
        )
        new_id = (await self._session.execute(stmt)).scalar_one_or_none()
        if new_id is not None:
            return new_id, True
        existing = await self._session.scalar(
            select(models.InboxMessage.id).where(
                models.InboxMessage.provider == provider, models.InboxMessage.event_key == event_key
            )
        )
        assert existing is not None
        return existing, False

    async def get(self, message_id: UUID) -> InboxMessage | None:
        row = await self._session.get(models.InboxMessage, message_id)
        if row is None:
            return None
        return InboxMessage(
            id=row.id,
            provider=row.provider,
            event_key=row.event_key,
            event_type=row.event_type,
            body=row.body,
            received_at=row.received_at,
            processed_at=row.processed_at,
            attempts=row.attempts,
        )

    async def unprocessed_count(self, provider: str) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(models.InboxMessage)
            .where(models.InboxMessage.provider == provider, models.InboxMessage.processed_at.is_(None))
        )
        return int(count or 0)
