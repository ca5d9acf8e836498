"""`OutboxRepository` on SQL: pending rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from ports.outbound.outbox import OutboxMessage

MAX_DISPATCH_ATTEMPTS = 10
"""After this many failed dispatches a message stays pending for an operator (and raises an alert)."""


def _message(row: models.OutboxMessage) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        event_name=row.event_name,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        payload=row.payload,
        occurred_at=row.occurred_at,
        attempts=row.attempts,
    )


class SqlOutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        event_name: str,
        aggregate_type: str,
        aggregate_id: str,
        payload: dict[str, Any],
        occurred_at: datetime,
    ) -> UUID:
        row = models.OutboxMessage(
            event_name=event_name,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload=payload,
            occurred_at=occurred_at,
            attempts=0,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def get(self, message_id: UUID) -> OutboxMessage | None:
        row = await self._session.get(models.OutboxMessage, message_id)
        return _message(row) if row else None

    async def claim_pending(self, *, limit: int) -> Sequence[OutboxMessage]:
        stmt = (
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.dispatched_at.is_(None),
                models.OutboxMessage.attempts < MAX_DISPATCH_ATTEMPTS,
            )
            .order_by(models.OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_message(r) for r in (await self._session.scalars(stmt)).all()]

    async def mark_dispatched(self, message_id: UUID, *, at: datetime) -> None:
        await self._session.execute(
            update(models.OutboxMessage)
            .where(models.OutboxMessage.id == message_id)
            .values(dispatched_at=at, attempts=models.OutboxMessage.attempts + 1, last_error=None)
        )

    async def mark_failed(self, message_id: UUID, *, error: str) -> None:
        await self._session.execute(
            update(models.OutboxMessage)
            .where(models.OutboxMessage.id == message_id)
            .values(attempts=models.OutboxMessage.attempts + 1, last_error=error[:2000])
        )
