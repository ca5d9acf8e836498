"""Notification preferences, the in-app feed and the delivery log, as the use cases see them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from domain.events import Channel
from domain.preferences import Preferences


class NotificationPreferenceRepository(Protocol):
    async def get(self, account_id: UUID, *, for_update: bool = False) -> Preferences | None:
        """The stored choices (groups added since take their defaults), or None if never saved."""
        ...

    async def save(self, account_id: UUID, preferences: Preferences, *, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    id: UUID
    account_id: UUID
    event_id: str
    event_name: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedPosition:
    """A keyset position in a feed ordered newest first by (created_at, id)."""

    created_at: datetime
    id: UUID


class NotificationFeed(Protocol):
    async def add(
        self, *, account_id: UUID, event_id: str, event_name: str, title: str, body: str, at: datetime
    ) -> bool:
        """Insert one item per (event id, account); False if it was already there."""
        ...

    async def page(self, account_id: UUID, *, limit: int, after: FeedPosition | None) -> Sequence[Notification]:
        """Newest first, strictly older than `after` when given."""
        ...

    async def mark_read(self, account_id: UUID, notification_id: UUID, *, at: datetime) -> bool:
        """False if the item is not this account's (or does not exist); reading twice keeps the first time."""
        ...

    async def mark_all_read(self, account_id: UUID, *, at: datetime) -> int: ...

    async def unread_count(self, account_id: UUID) -> int: ...

    async def erase(self, account_id: UUID) -> int:
        """Delete the account's feed (its texts are about a person being erased); how many items."""
        ...


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    DELIVERED = "delivered"
    """The carrier confirmed it (SMS status callback)."""
    UNDELIVERED = "undelivered"
    """The carrier gave up on it (SMS status callback): recorded for support, never resent automatically."""


FINAL_STATUSES = frozenset({DeliveryStatus.SENT, DeliveryStatus.SKIPPED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    event_id: str
    account_id: UUID
    channel: Channel
    event_name: str
    status: DeliveryStatus
    attempts: int
    sent_at: datetime | None
    provider_message_id: str | None
    detail: str | None


class DeliveryLog(Protocol):
    """One row per (event id, recipient, channel): the idempotency record of the notification core."""

    async def ensure(self, *, event_id: str, account_id: UUID, channel: Channel, event_name: str, at: datetime) -> bool:
        """Insert the delivery if it is not there yet (insert-or-skip); True if this call inserted it."""
        ...

    async def lease(self, *, event_id: str, account_id: UUID, channel: Channel, at: datetime, until: datetime) -> bool:
        """Take the right to send: True for exactly one caller while the delivery is neither final nor leased
        (a lease that ran out — a crashed worker — can be taken again)."""
        ...

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
    ) -> None: ...

    async def get(self, *, event_id: str, account_id: UUID, channel: Channel) -> Delivery | None: ...

    async def carrier_status(
        self, *, channel: Channel, provider_message_id: str, status: DeliveryStatus, detail: str | None
    ) -> bool:
        """Record the carrier's final word on a sent message (only SENT moves, to DELIVERED or UNDELIVERED, so a
        late or repeated callback changes nothing); False when nothing moved."""
        ...

    async def has_provider_message(self, *, channel: Channel, provider_message_id: str) -> bool: ...

    async def for_event(self, event_id: str) -> Sequence[Delivery]: ...
