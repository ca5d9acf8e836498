"""Announcements on SQL. Publishing finds the batch boundaries in one window-function pass over the member
accounts (a primary-key-ordered walk), so the enqueue side never touches individual recipients; each batch
job writes its feed rows in one multi-row insert-or-skip (`ON CONFLICT (event_id, account_id) DO NOTHING`)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from ports.outbound.announcements import Announcement, AnnouncementStatus, Audience

FEED_TITLE_MAX = 255


def _announcement(row: models.Announcement) -> Announcement:
    return Announcement(
        id=row.id,
        title=row.title,
        body=row.body,
        email=row.email,
        status=AnnouncementStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
        published_at=row.published_at,
        published_by=row.published_by,
        recipients=row.recipients,
        batches=row.batches,
    )


def _audience_filter(as_of: datetime) -> list[ColumnElement[bool]]:
    a = models.Account
    return [a.role == "member", a.status == "active", a.created_at <= as_of]


class SqlAnnouncementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, announcement: Announcement) -> None:
        self._session.add(
            models.Announcement(
                id=announcement.id,
                title=announcement.title,
                body=announcement.body,
                email=announcement.email,
                status=announcement.status.value,
                created_by=announcement.created_by,
                created_at=announcement.created_at,
            )
        )
        await self._session.flush()

    async def get(self, announcement_id: UUID, *, for_update: bool = False) -> Announcement | None:
        stmt = select(models.Announcement).where(models.Announcement.id == announcement_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()
        return _announcement(row) if row else None

    async def page(self, *, limit: int, before: UUID | None) -> Sequence[Announcement]:
        a = models.Announcement
        stmt = select(a)
        if before is not None:
            stmt = stmt.where(a.id < before)
        rows = await self._session.scalars(stmt.order_by(a.id.desc()).limit(limit))
        return [_announcement(r) for r in rows]

    async def audience(self, *, batch_size: int, as_of: datetime) -> Audience:
        a = models.Account
        walk = (
            select(
                a.id.label("id"),
                func.row_number().over(order_by=a.id).label("rn"),
                func.count().over().label("total"),
            )
            .where(*_audience_filter(as_of))
            .subquery()
        )
        # Rows: the last id of every full batch, and the audience's last row (which carries the total).
        rows = (
            await self._session.execute(
                select(walk.c.id, walk.c.rn, walk.c.total)
                .where((walk.c.rn % batch_size == 0) | (walk.c.rn == walk.c.total))
                .order_by(walk.c.rn)
            )
        ).all()
        if not rows:
            return Audience(recipients=0, boundaries=())
        total = int(rows[-1].total)
        return Audience(recipients=total, boundaries=[r.id for r in rows if int(r.rn) < total])

    async def mark_published(
        self, announcement_id: UUID, *, at: datetime, by: UUID, recipients: int, batches: int
    ) -> None:
        a = models.Announcement
        await self._session.execute(
            update(a)
            .where(a.id == announcement_id, a.status == AnnouncementStatus.DRAFT.value)
            .values(
                status=AnnouncementStatus.PUBLISHED.value,
                published_at=at,
                published_by=by,
                recipients=recipients,
                batches=batches,
            )
        )

    def _batch(self, announcement: Announcement, *, after: UUID | None, upto: UUID | None) -> Any:
        """The audience accounts in the id range `(after, upto]` fixed at publish (open-ended without `upto`)."""
        if announcement.published_at is None:
            raise ValueError("only a published announcement is delivered")
        a = models.Account
        walk = select(a.id).where(*_audience_filter(announcement.published_at))
        if after is not None:
            walk = walk.where(a.id > after)
        if upto is not None:
            walk = walk.where(a.id <= upto)
        return walk.order_by(a.id)

    async def mailable(self, announcement: Announcement, *, after: UUID | None, upto: UUID | None) -> Sequence[UUID]:
        batch = self._batch(announcement, after=after, upto=upto).subquery()
        p = models.Profile
        bounced = select(p.account_id).where(p.account_id == batch.c.id, p.email_bounced.is_(True)).exists()
        return list(await self._session.scalars(select(batch.c.id).where(~bounced).order_by(batch.c.id)))

    async def deliver_batch(
        self,
        announcement: Announcement,
        *,
        after: UUID | None,
        upto: UUID | None,
        event_id: str,
        event_name: str,
    ) -> int:
        account_ids = list(await self._session.scalars(self._batch(announcement, after=after, upto=upto)))
        if not account_ids:
            return 0
        insert = dialect_insert(self._session)
        stmt = (
            insert(models.Notification)
            .values(
                [
                    {
                        "id": uuid7(),
                        "account_id": account_id,
                        "event_id": event_id,
                        "event_name": event_name,
                        "title": announcement.title[:FEED_TITLE_MAX],
                        "body": announcement.body,
                        "created_at": announcement.published_at,
                    }
                    for account_id in account_ids
                ]
            )
            .on_conflict_do_nothing(index_elements=["event_id", "account_id"])
        )
        result = await self._session.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]
