"""Staff announcements (news feed) and their fan-out into members' in-app feeds.

The audience of an announcement is every account with role `member` and status `active` that existed when it
was published (`created_at <= published_at`), walked in account-id order. Batches are keyset ranges of that
walk fixed at publish: a batch is the id range `(after, upto]` (`after` None: from the beginning; `upto` None:
everything that is left), so accounts that change meanwhile cannot shift anyone out of a batch.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID


class AnnouncementStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    id: UUID
    title: str
    body: str
    email: bool
    status: AnnouncementStatus
    created_by: UUID
    created_at: datetime
    published_at: datetime | None = None
    published_by: UUID | None = None
    recipients: int | None = None
    batches: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Audience:
    """The size of an audience and where its batches start: batch 0 starts at the beginning, batch i (i ≥ 1)
    strictly after `boundaries[i - 1]`, so there are `len(boundaries) + 1` batches (none if `recipients` is 0)."""

    recipients: int
    boundaries: Sequence[UUID]


class AnnouncementRepository(Protocol):
    async def add(self, announcement: Announcement) -> None: ...

    async def get(self, announcement_id: UUID, *, for_update: bool = False) -> Announcement | None: ...

    async def page(self, *, limit: int, before: UUID | None) -> Sequence[Announcement]:
        """Newest first (by id, which is time-ordered), strictly older than `before` when given."""
        ...

    async def audience(self, *, batch_size: int, as_of: datetime) -> Audience:
        """Count the audience as of `as_of` and the last account id of every full batch but the last, in one
        statement (one pass over the accounts, however many members)."""
        ...

    async def mark_published(
        self, announcement_id: UUID, *, at: datetime, by: UUID, recipients: int, batches: int
    ) -> None: ...

    async def mailable(self, announcement: Announcement, *, after: UUID | None, upto: UUID | None) -> Sequence[UUID]:
        """The accounts of this batch whose mail has not bounced (those an email copy goes to)."""
        ...

    async def deliver_batch(
        self,
        announcement: Announcement,
        *,
        after: UUID | None,
        upto: UUID | None,
        event_id: str,
        event_name: str,
    ) -> int:
        """Add the announcement to the in-app feed of every audience member of this batch: one item per
        (event id, account), insert-or-skip, so a replayed batch adds nothing. Returns the items added."""
        ...
