"""`EmailSender` that 'sends' into the `sandbox_mailbox` table, for development and tests (refused in
production). One row per idempotency key, however often or concurrently a message is sent."""

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from uuid_utils.compat import uuid7

from adapters.email import recipient_hash
from adapters.sql import models
from adapters.sql.engine import dialect_insert
from adapters.sql.unit_of_work import database_unavailable
from ports.outbound.clock import Clock
from ports.outbound.email import EmailMessage
from ports.outbound.errors import ComponentUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxMessage:
    id: UUID
    idempotency_key: str
    to: str
    subject: str
    text: str
    template: str
    sent_at: datetime


class SandboxEmailSender:
    component = "email"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        production: bool,
        recipient_hash_key: bytes = b"",
    ) -> None:
        if production:
            raise RuntimeError("sandbox email is refused in production")
        self._sessions = sessions
        self._clock = clock
        self._hash_key = recipient_hash_key

    async def send(self, message: EmailMessage) -> str:
        try:
            async with self._sessions() as session, session.begin():
                message_id, created = await self._store(session, message)
        except SQLAlchemyError as exc:
            if database_unavailable(exc):
                raise ComponentUnavailable("email", f"sandbox mailbox: {type(exc).__name__}") from exc
            raise
        logger.info(
            "email sent" if created else "email already sent",
            extra={
                "message_id": message_id,
                "template": message.template,
                "recipient": recipient_hash(message.to, self._hash_key),
            },
        )
        return message_id

    async def _store(self, session: AsyncSession, message: EmailMessage) -> tuple[str, bool]:
        insert = dialect_insert(session)
        stmt = (
            insert(models.SandboxEmail)
            .values(
                id=uuid7(),
                idempotency_key=message.idempotency_key,
                to_address=message.to,
                subject=message.subject,
                text_body=message.text,
                template=message.template,
                sent_at=self._clock.now(),
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(models.SandboxEmail.id)
        )
        new_id = (await session.execute(stmt)).scalar_one_or_none()
        if new_id is not None:
            return str(new_id), True
        existing = await session.scalar(
            select(models.SandboxEmail.id).where(models.SandboxEmail.idempotency_key == message.idempotency_key)
        )
        assert existing is not None, "a conflicting row must be visible once the other insert committed"
        return str(existing), False

    async def recent_for(self, to_address: str, *, limit: int = 5) -> list[SandboxMessage]:
        """The newest `limit` messages to `to_address`, newest first (the `tenure mailbox` command)."""
        stmt = (
            select(models.SandboxEmail)
            .where(models.SandboxEmail.to_address == to_address)
            .order_by(models.SandboxEmail.sent_at.desc(), models.SandboxEmail.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.scalars(stmt)).all()
        return [self._message(row) for row in rows]

    async def latest_for(self, to_address: str, template: str | None = None) -> SandboxMessage | None:
        """The most recent message to `to_address` (optionally of one template), or None."""
        stmt = select(models.SandboxEmail).where(models.SandboxEmail.to_address == to_address)
        if template is not None:
            stmt = stmt.where(models.SandboxEmail.template == template)
        stmt = stmt.order_by(models.SandboxEmail.sent_at.desc(), models.SandboxEmail.id.desc()).limit(1)
        async with self._sessions() as session:
            row = await session.scalar(stmt)
        return self._message(row) if row is not None else None

    @staticmethod
    def _message(row: models.SandboxEmail) -> SandboxMessage:
        return SandboxMessage(
            id=row.id,
            idempotency_key=row.idempotency_key,
            to=row.to_address,
            subject=row.subject,
            text=row.text_body,
            template=row.template,
            sent_at=row.sent_at,
        )
