"""Staff notes on SQL."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from ports.outbound.notes import MemberNote


def _note(row: models.MemberNote) -> MemberNote:
    return MemberNote(
        id=row.id, account_id=row.account_id, author_id=row.author_id, body=row.body, created_at=row.created_at
    )


class SqlMemberNoteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, *, account_id: UUID, author_id: UUID, body: str, now: datetime) -> MemberNote:
        row = models.MemberNote(account_id=account_id, author_id=author_id, body=body, created_at=now)
        self._session.add(row)
        await self._session.flush()
        return _note(row)

    async def for_account(self, account_id: UUID, *, limit: int) -> Sequence[MemberNote]:
        rows = await self._session.scalars(
            select(models.MemberNote)
            .where(models.MemberNote.account_id == account_id)
            .order_by(models.MemberNote.created_at.desc(), models.MemberNote.id.desc())
            .limit(limit)
        )
        return [_note(r) for r in rows]

    async def erase(self, account_id: UUID) -> int:
        result = await self._session.execute(
            delete(models.MemberNote).where(models.MemberNote.account_id == account_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
