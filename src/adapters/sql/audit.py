"""The audit log on SQL. The table is append-only (database triggers); chains are keyed by entity."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from domain.audit import AuditLink, AuditRecord
from ports.outbound.errors import ConflictError


def _link(row: models.AuditRecord) -> AuditLink:
    return AuditLink(
        record=AuditRecord(
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            seq=row.seq,
            actor=row.actor,
            at=row.at,
            action=row.action,
            before=row.before or {},
            after=row.after or {},
            reason=row.reason,
        ),
        prev_hash=bytes.fromhex(row.prev_hash),
        hash=bytes.fromhex(row.hash),
    )


class SqlAuditLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def head(self, entity_type: str, entity_id: str) -> AuditLink | None:
        row = await self._session.scalar(
            select(models.AuditRecord)
            .where(models.AuditRecord.entity_type == entity_type, models.AuditRecord.entity_id == entity_id)
            .order_by(models.AuditRecord.seq.desc())
            .limit(1)
        )
        return _link(row) if row else None

    async def add(self, link: AuditLink) -> None:
        record = link.record
        row = models.AuditRecord(
            entity_type=record.entity_type,
            entity_id=record.entity_id,
            seq=record.seq,
            actor=record.actor,
            action=record.action,
            at=record.at,
            before=dict(record.before),
            after=dict(record.after),
            reason=record.reason,
            prev_hash=link.prev_hash.hex(),
            hash=link.hash.hex(),
        )
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError as exc:
            raise ConflictError("the audit chain moved on concurrently; retry") from exc

    async def chain(self, entity_type: str, entity_id: str) -> list[AuditLink]:
        rows = await self._session.scalars(
            select(models.AuditRecord)
            .where(models.AuditRecord.entity_type == entity_type, models.AuditRecord.entity_id == entity_id)
            .order_by(models.AuditRecord.seq)
        )
        return [_link(r) for r in rows]
