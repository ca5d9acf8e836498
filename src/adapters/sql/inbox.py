"""`InboxRepository` on SQL: idempotent on (provider, event key) through a unique constraint."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from ports.outbound.inbox import InboxMessage

Row = models.InboxMessage

_STORE_PG = text(
    """
    WITH inserted AS (
        INSERT INTO provider_inbox (id, provider, event_key, event_type, body, received_at, attempts, subject)
        VALUES (:id, :provider, :event_key, :event_type, :body, :received_at, 0, :subject)
        ON CONFLICT (provider, event_key) DO NOTHING
        RETURNING id
    )
    SELECT id, true AS new FROM inserted
    UNION ALL
    SELECT id, false AS new FROM provider_inbox
    WHERE provider = :provider AND event_key = :event_key AND NOT EXISTS (SELECT 1 FROM inserted)
    """
)
"""Intake's one statement on PostgreSQL: insert, or find the row a previous delivery stored. A plain text
statement is compiled once (the dialect's ON CONFLICT construct is compiled on every call), and a replay costs
one round trip instead of two — webhook intake is the hottest write path (PERFORMANCE.md P6)."""


def _message(row: Row) -> InboxMessage:
    return InboxMessage(
        id=row.id,
        provider=row.provider,
        event_key=row.event_key,
        event_type=row.event_type,
        body=row.body,
        received_at=row.received_at,
        processed_at=row.processed_at,
        attempts=row.attempts,
        subject=row.subject,
        last_error=row.last_error,
    )


class SqlInboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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
        values = {
            "id": uuid7(),
            "provider": provider,
            "event_key": event_key,
            "event_type": event_type,
            "body": body,
            "received_at": received_at,
            "subject": subject,
        }
        if self._session.bind.dialect.name == "postgresql":
            row = (await self._session.execute(_STORE_PG, values)).first()
            if row is not None:
                return UUID(str(row.id)), bool(row.new)
            # A concurrent delivery committed the row after this statement's snapshot: read it now.
            return await self._existing(provider, event_key), False
        insert = dialect_insert(self._session)
        stmt = (
            insert(Row)
            .values(attempts=0, **values)
            .on_conflict_do_nothing(index_elements=["provider", "event_key"])
            .returning(Row.id)
        )
        new_id = (await self._session.execute(stmt)).scalar_one_or_none()
        if new_id is not None:
            return new_id, True
        return await self._existing(provider, event_key), False

    async def _existing(self, provider: str, event_key: str) -> UUID:
        existing = await self._session.scalar(
            select(Row.id).where(Row.provider == provider, Row.event_key == event_key)
        )
        assert existing is not None
        return existing

    async def get(self, message_id: UUID, *, for_update: bool = False) -> InboxMessage | None:
        stmt = select(Row).where(Row.id == message_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return _message(row) if row is not None else None

    async def by_key(self, provider: str, event_key: str) -> InboxMessage | None:
        row = await self._session.scalar(select(Row).where(Row.provider == provider, Row.event_key == event_key))
        return _message(row) if row is not None else None

    async def unprocessed_count(self, provider: str) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(Row).where(Row.provider == provider, Row.processed_at.is_(None))
        )
        return int(count or 0)

    async def unprocessed_for_subject(self, provider: str, subject: str) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(Row)
            .where(Row.provider == provider, Row.subject == subject, Row.processed_at.is_(None))
        )
        return int(count or 0)

    async def oldest_unprocessed(self, provider: str) -> datetime | None:
        oldest: datetime | None = await self._session.scalar(
            select(func.min(Row.received_at)).where(Row.provider == provider, Row.processed_at.is_(None))
        )
        return oldest

    async def pending(self, provider: str, *, received_before: datetime, limit: int) -> Sequence[InboxMessage]:
        rows = await self._session.scalars(
            select(Row)
            .where(Row.provider == provider, Row.processed_at.is_(None), Row.received_at < received_before)
            .order_by(Row.received_at, Row.id)
            .limit(limit)
        )
        return [_message(row) for row in rows]

    async def mark_processed(self, message_id: UUID, *, at: datetime) -> None:
        await self._session.execute(
            update(Row)
            .where(Row.id == message_id, Row.processed_at.is_(None))
            .values(processed_at=at, attempts=Row.attempts + 1, last_error=None)
        )

    async def mark_failed(self, message_id: UUID, *, error: str) -> None:
        await self._session.execute(
            update(Row).where(Row.id == message_id).values(attempts=Row.attempts + 1, last_error=error[:2000])
        )
