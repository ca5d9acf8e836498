"""Notification preferences, the in-app feed and the delivery log on SQL.

Idempotency lives in unique constraints: one feed item per (event, account), one delivery per
(event, account, channel). Inserts are insert-or-skip (`ON CONFLICT DO NOTHING`), and the right to send is a
conditional UPDATE (a lease), so ten concurrent attempts at one delivery send once.
"""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from domain.events import Channel
from domain.preferences import EventGroup, Preferences
from ports.outbound.notifications import Delivery, DeliveryStatus, FeedPosition, Notification

LEASABLE = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


def _choices(stored: dict[str, object]) -> dict[EventGroup, list[Channel]]:
    """Stored choices, dropping names this version no longer knows (a removed group or channel)."""
    groups = {g.value for g in EventGroup}
    channels = {c.value for c in Channel}
    return {
        EventGroup(group): [Channel(c) for c in picked if c in channels]
        for group, picked in stored.items()
        if group in groups and isinstance(picked, list)
    }


class SqlNotificationPreferenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, account_id: UUID, *, for_update: bool = False) -> Preferences | None:
        stmt = select(models.NotificationPreference).where(models.NotificationPreference.account_id == account_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._session.scalars(stmt)).one_or_none()
        return Preferences.from_choices(_choices(row.choices)) if row else None

    async def save(self, account_id: UUID, preferences: Preferences, *, at: datetime) -> None:
        choices = {group.value: sorted(c.value for c in chans) for group, chans in preferences.as_choices().items()}
        insert = dialect_insert(self._session)
        await self._session.execute(
            insert(models.NotificationPreference)
            .values(account_id=account_id, choices=choices, updated_at=at)
            .on_conflict_do_update(index_elements=["account_id"], set_={"choices": choices, "updated_at": at})
        )
        self._session.expire_all()


def _notification(row: models.Notification) -> Notification:
    return Notification(
        id=row.id,
        account_id=row.account_id,
        event_id=row.event_id,
        event_name=row.event_name,
        title=row.title,
        body=row.body,
        created_at=row.created_at,
        read_at=row.read_at,
    )


class SqlNotificationFeed:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, *, account_id: UUID, event_id: str, event_name: str, title: str, body: str, at: datetime
    ) -> bool:
        insert = dialect_insert(self._session)
        stmt = (
            insert(models.Notification)
            .values(
                id=uuid7(),
                account_id=account_id,
                event_id=event_id,
                event_name=event_name,
                title=title[:255],
                body=body,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["event_id", "account_id"])
            .returning(models.Notification.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None

    async def page(self, account_id: UUID, *, limit: int, after: FeedPosition | None) -> Sequence[Notification]:
        n = models.Notification
        stmt = select(n).where(n.account_id == account_id)
        if after is not None:
            stmt = stmt.where(
                or_(n.created_at < after.created_at, and_(n.created_at == after.created_at, n.id < after.id))
            )
        rows = await self._session.scalars(stmt.order_by(n.created_at.desc(), n.id.desc()).limit(limit))
        return [_notification(r) for r in rows]

    async def mark_read(self, account_id: UUID, notification_id: UUID, *, at: datetime) -> bool:
        n = models.Notification
        result = await self._session.execute(
            update(n)
            .where(n.id == notification_id, n.account_id == account_id)
            .values(read_at=func.coalesce(n.read_at, at))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_all_read(self, account_id: UUID, *, at: datetime) -> int:
        n = models.Notification
        result = await self._session.execute(
            update(n).where(n.account_id == account_id, n.read_at.is_(None)).values(read_at=at)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def unread_count(self, account_id: UUID) -> int:
        n = models.Notification
        count = await self._session.scalar(
            select(func.count()).select_from(n).where(n.account_id == account_id, n.read_at.is_(None))
        )
        return int(count or 0)

    async def erase(self, account_id: UUID) -> int:
        result = await self._session.execute(
            delete(models.Notification).where(models.Notification.account_id == account_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _delivery(row: models.NotificationDelivery) -> Delivery:
    return Delivery(
        event_id=row.event_id,
        account_id=row.account_id,
        channel=Channel(row.channel),
        event_name=row.event_name,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        sent_at=row.sent_at,
        provider_message_id=row.provider_message_id,
        detail=row.detail,
    )


class SqlDeliveryLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _key(event_id: str, account_id: UUID, channel: Channel) -> list[ColumnElement[bool]]:
        d = models.NotificationDelivery
        return [d.event_id == event_id, d.account_id == account_id, d.channel == channel.value]

    async def ensure(self, *, event_id: str, account_id: UUID, channel: Channel, event_name: str, at: datetime) -> bool:
        insert = dialect_insert(self._session)
        stmt = (
            insert(models.NotificationDelivery)
            .values(
                id=uuid7(),
                event_id=event_id,
                account_id=account_id,
                channel=channel.value,
                event_name=event_name,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["event_id", "account_id", "channel"])
            .returning(models.NotificationDelivery.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None

    async def lease(self, *, event_id: str, account_id: UUID, channel: Channel, at: datetime, until: datetime) -> bool:
        d = models.NotificationDelivery
        result = await self._session.execute(
            update(d)
            .where(
                *self._key(event_id, account_id, channel),
                d.status.in_([s.value for s in LEASABLE]),
                or_(d.leased_until.is_(None), d.leased_until < at),
            )
            .values(status=DeliveryStatus.SENDING.value, leased_until=until, attempts=d.attempts + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish(
        self,
        *,
        event_id: str,
        account_id: UUID,
        channel: Channel,
        status: DeliveryStatus,
        at: datetime,
        provider_message_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        d = models.NotificationDelivery
        final = status in (DeliveryStatus.SENT, DeliveryStatus.SKIPPED)
        await self._session.execute(
            update(d)
            .where(*self._key(event_id, account_id, channel))
            .values(
                status=status.value,
                leased_until=None,
                sent_at=at if final else None,
                provider_message_id=provider_message_id,
                detail=(detail or "")[:2000] or None,
            )
        )

    async def carrier_status(
        self, *, channel: Channel, provider_message_id: str, status: DeliveryStatus, detail: str | None
    ) -> bool:
        d = models.NotificationDelivery
        result = await self._session.execute(
            update(d)
            .where(
                d.channel == channel.value,
                d.provider_message_id == provider_message_id,
                d.status == DeliveryStatus.SENT.value,
            )
            .values(status=status.value, detail=(detail or "")[:2000] or None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def has_provider_message(self, *, channel: Channel, provider_message_id: str) -> bool:
        d = models.NotificationDelivery
        found = await self._session.scalar(
            select(d.id).where(d.channel == channel.value, d.provider_message_id == provider_message_id).limit(1)
        )
        return found is not None

    async def get(self, *, event_id: str, account_id: UUID, channel: Channel) -> Delivery | None:
        row = await self._session.scalar(
            select(models.NotificationDelivery).where(*self._key(event_id, account_id, channel))
        )
        return _delivery(row) if row else None

    async def for_event(self, event_id: str) -> Sequence[Delivery]:
        d = models.NotificationDelivery
        rows = await self._session.scalars(select(d).where(d.event_id == event_id).order_by(d.channel))
        return [_delivery(r) for r in rows]
