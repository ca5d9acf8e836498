"""The audit log on SQL. The table is append-only (database triggers); chains are keyed by entity.

Reading every chain pages by (entity_type, entity_id) with row-value comparisons over the unique index
(entity_type, entity_id, seq), never OFFSET, so each page costs the same however far the walk has got.
"""

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, literal, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from domain.audit import AuditLink, AuditRecord, ChainHead
from domain.errors import AuditError, DomainError
from ports.outbound.audit import AuditFilter, ChainKey
from ports.outbound.errors import ConflictError

_Row = models.AuditRecord


def _link(row: models.AuditRecord) -> AuditLink:
    try:
        return _decode(row)
    except (DomainError, ValueError) as exc:  # a row edited behind the triggers' back may not even decode
        raise AuditError(f"audit_log {row.entity_type}/{row.entity_id} seq {row.seq} is unreadable: {exc}") from exc


def _decode(row: models.AuditRecord) -> AuditLink:
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

    async def chains(self, *, after: ChainKey | None, limit: int) -> Sequence[list[AuditLink]]:
        keys = (
            select(_Row.entity_type, _Row.entity_id)
            .where(*_following(after))
            .group_by(_Row.entity_type, _Row.entity_id)
            .order_by(_Row.entity_type, _Row.entity_id)
            .limit(limit)
            .subquery()
        )
        rows = await self._session.scalars(
            select(_Row)
            .join(keys, and_(_Row.entity_type == keys.c.entity_type, _Row.entity_id == keys.c.entity_id))
            .order_by(_Row.entity_type, _Row.entity_id, _Row.seq)
        )
        return [[_link(r) for r in chain] for _, chain in groupby(rows, key=lambda r: (r.entity_type, r.entity_id))]

    async def heads(self, *, upto: datetime, after: ChainKey | None, limit: int) -> list[ChainHead]:
        last = (
            select(_Row.entity_type, _Row.entity_id, func.max(_Row.seq).label("seq"))
            .where(_Row.at < upto, *_following(after))
            .group_by(_Row.entity_type, _Row.entity_id)
            .order_by(_Row.entity_type, _Row.entity_id)
            .limit(limit)
            .subquery()
        )
        rows = await self._session.execute(
            select(_Row.entity_type, _Row.entity_id, _Row.seq, _Row.hash)
            .join(
                last,
                and_(
                    _Row.entity_type == last.c.entity_type,
                    _Row.entity_id == last.c.entity_id,
                    _Row.seq == last.c.seq,
                ),
            )
            .order_by(_Row.entity_type, _Row.entity_id)
        )
        return [
            ChainHead(entity_type=entity_type, entity_id=entity_id, seq=seq, hash=bytes.fromhex(hash_hex))
            for entity_type, entity_id, seq, hash_hex in rows
        ]

    async def browse(self, where: AuditFilter, *, before: UUID | None, limit: int) -> Sequence[tuple[UUID, AuditLink]]:
        stmt = select(_Row).order_by(_Row.id.desc()).limit(limit)
        for column, value in (
            (_Row.entity_type, where.entity_type),
            (_Row.entity_id, where.entity_id),
            (_Row.actor, where.actor),
            (_Row.action, where.action),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if before is not None:
            stmt = stmt.where(_Row.id < before)
        return [(row.id, _link(row)) for row in await self._session.scalars(stmt)]


def _following(after: ChainKey | None) -> list[ColumnElement[bool]]:
    """The keyset condition: chains strictly after `after` in (entity_type, entity_id) order."""
    return (
        []
        if after is None
        else [tuple_(_Row.entity_type, _Row.entity_id) > tuple_(literal(after[0]), literal(after[1]))]
    )
