"""Program rules changes on SQL."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from ports.outbound.errors import ConflictError
from ports.outbound.rules_changes import RulesChangeRecord

T = models.RulesChange


def _record(row: models.RulesChange) -> RulesChangeRecord:
    return RulesChangeRecord(
        id=row.id,
        changes={str(k): int(v) for k, v in row.changes.items()},
        effective_at=row.effective_at,
        reason=row.reason,
        status=row.status,
        proposed_by=row.proposed_by,
        proposed_at=row.proposed_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        version=row.version,
    )


class SqlRulesChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def approved(self) -> Sequence[RulesChangeRecord]:
        rows = await self._session.scalars(select(T).where(T.status == "approved").order_by(T.version))
        return [_record(r) for r in rows]

    async def recent(self, *, limit: int) -> Sequence[RulesChangeRecord]:
        rows = await self._session.scalars(select(T).order_by(T.proposed_at.desc(), T.id.desc()).limit(limit))
        return [_record(r) for r in rows]

    async def get(self, change_id: UUID, *, for_update: bool = False) -> RulesChangeRecord | None:
        stmt = select(T).where(T.id == change_id)
        row = (await self._session.scalars(stmt.with_for_update() if for_update else stmt)).first()
        return _record(row) if row else None

    async def propose(self, record: RulesChangeRecord) -> None:
        row = T(
            id=record.id,
            changes=dict(record.changes),
            effective_at=record.effective_at,
            reason=record.reason,
            status="proposed",
            proposed_by=record.proposed_by,
            proposed_at=record.proposed_at,
        )
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError:
            raise ConflictError("another rules change is open") from None

    async def decide(self, record: RulesChangeRecord) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(T)
                    .where(T.id == record.id, T.status == "proposed")
                    .values(
                        status=record.status,
                        decided_by=record.decided_by,
                        decided_at=record.decided_at,
                        version=record.version,
                    )
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            raise ConflictError(f"rules version {record.version} exists already") from None
