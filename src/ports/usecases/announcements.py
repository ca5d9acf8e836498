"""Staff announcements (news feed): create a draft, list, preview, publish once; publishing fans the announcement
out to members' in-app feeds in batched jobs.

Audience: every account with role `member` and status `active` that existed when the announcement was published
(so also members without a paying membership yet: the feed is part of their account). Staff accounts and
disabled accounts are not told.

Publishing locks the announcement row, so two concurrent publishes run one after the other and the second finds
it published (`Refused`, HTTP 409). It counts the audience and computes the batch boundaries in one statement
(every `BATCH`-th account id), then enqueues ceil(N / BATCH) jobs `announcements.deliver_batch` with payload
`{announcementId, publishedAt, batch, afterAccountId, uptoAccountId}` and dedupe key
`announcement:<id>:<publishedAt>:<batch>`; 100,000 members are
100 enqueues. The jobs are enqueued *inside* the publishing transaction, before it commits: a commit that
succeeds has its jobs queued already (nothing to lose in a crash between the two). A job that runs before the
commit is visible finds a draft and fails, so the queue retries it after the commit; a job of a publish that
rolled back fails its attempts and does nothing. Each batch is the id range fixed at publish,
`(afterAccountId, uptoAccountId]` (the last one open-ended), never "the next 1,000": an account activated or
disabled meanwhile cannot push anyone out of a batch.

A batch job writes one feed item per (event `announcement-<id>`, account), insert-or-skip: replaying a batch, or
two batches overlapping after a member was disabled meanwhile, adds nothing.

Email (optional, chosen per announcement): publishing also writes one outbox message holding the title and body
(no handler reacts to it: it is the notice the email deliveries render), and each batch job enqueues one
`notify.deliver` email job per member of its batch whose mail has not bounced. Those jobs are the notification
core's: at most one email per (message, member), however often a batch is replayed.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from domain.events import Channel
from ports.outbound.announcements import Announcement, AnnouncementStatus
from ports.outbound.tasks import Payload
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound, Refused
from ports.usecases.notifications import DELIVER_TASK as DELIVER_TASK_EMAIL
from ports.usecases.notifications import delivery_key

DELIVER_TASK = "announcements.deliver_batch"
EVENT_NAME = "announcement.published"
ENTITY = "announcement"
BATCH = 1000
"""Accounts per delivery job: one multi-row insert of feed items."""
TITLE_MAX = 120
BODY_MAX = 2000


class AnnouncementNotPublishedYet(Exception):
    """A delivery job ran before its publishing transaction committed: retry (the queue's backoff waits)."""


def event_id(announcement_id: UUID) -> str:
    return f"announcement-{announcement_id}"


def deliver_key(payload: Payload) -> str:
    """One job per batch of one publish (the publish instant tells a retried publish's jobs from a rolled-back
    one's, whose stale payloads must not shadow the new ones)."""
    return f"announcement:{payload['announcementId']}:{payload['publishedAt']}:{payload['batch']}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    announcement: Announcement
    title: str
    """As members will see it in their feed."""
    body: str
    recipients: int
    """How many members it would reach if published now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    announcement: Announcement
    recipients: int
    batches: int
    enqueued: int
    """Jobs newly enqueued (a job whose key is still queued from an earlier attempt is not counted)."""


def _clean(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    problems = []
    if not title:
        problems.append("title_required")
    if len(title) > TITLE_MAX:
        problems.append("title_too_long")
    if not body:
        problems.append("body_required")
    if len(body) > BODY_MAX:
        problems.append("body_too_long")
    if problems:
        raise InvalidInput("the announcement is not valid", problems)
    return title, body


async def create_announcement(
    deps: Deps, staff: Principal, *, title: str, body: str, email: bool, announcement_id: UUID | None = None
) -> Announcement:
    """A draft. ``announcement_id``: a caller that must create it at most once (a retried job) names it."""
    require_staff(staff)
    title, body = _clean(title, body)
    now = deps.clock.now()
    announcement = Announcement(
        id=announcement_id or deps.new_id(),
        title=title,
        body=body,
        email=email,
        status=AnnouncementStatus.DRAFT,
        created_by=staff.account_id,
        created_at=now,
    )
    async with deps.uow() as uow:
        await uow.announcements.add(announcement)
        await record_audit(
            uow,
            entity_type=ENTITY,
            entity_id=str(announcement.id),
            actor=f"account:{staff.account_id}",
            action="create",
            at=now,
            after={"status": announcement.status.value, "title": title, "by_email": email},
        )
        await uow.commit()
    return announcement


async def list_announcements(
    deps: Deps, staff: Principal, *, limit: int = 20, before: UUID | None = None
) -> Sequence[Announcement]:
    require_staff(staff)
    async with deps.uow() as uow:
        return await uow.announcements.page(limit=limit, before=before)


async def preview(deps: Deps, staff: Principal, announcement_id: UUID) -> Preview:
    require_staff(staff)
    async with deps.uow() as uow:
        announcement = await uow.announcements.get(announcement_id)
        if announcement is None:
            raise NotFound()
        audience = await uow.announcements.audience(batch_size=BATCH, as_of=deps.clock.now())
    return Preview(
        announcement=announcement, title=announcement.title, body=announcement.body, recipients=audience.recipients
    )


async def publish(deps: Deps, staff: Principal, announcement_id: UUID) -> Published:
    """Draft → published, exactly once; enqueues the delivery batches (see the module docstring)."""
    require_staff(staff)
    async with deps.uow() as uow:
        announcement = await uow.announcements.get(announcement_id, for_update=True)
        if announcement is None:
            raise NotFound()
        if announcement.status is not AnnouncementStatus.DRAFT:
            raise Refused("this announcement is already published", ["already_published"])
        now = deps.clock.now()
        audience = await uow.announcements.audience(batch_size=BATCH, as_of=now)
        starts: list[str | None] = [None, *(str(b) for b in audience.boundaries)] if audience.recipients else []
        batches = len(starts)
        await uow.announcements.mark_published(
            announcement_id, at=now, by=staff.account_id, recipients=audience.recipients, batches=batches
        )
        await record_audit(
            uow,
            entity_type=ENTITY,
            entity_id=str(announcement_id),
            actor=f"account:{staff.account_id}",
            action="publish",
            at=now,
            before={"status": AnnouncementStatus.DRAFT.value},
            after={"status": AnnouncementStatus.PUBLISHED.value, "recipients": audience.recipients, "batches": batches},
        )
        mail: str | None = None
        if announcement.email:
            mail = str(
                await uow.outbox.add(
                    event_name=EVENT_NAME,
                    aggregate_type=ENTITY,
                    aggregate_id=str(announcement_id),
                    payload={"title": announcement.title, "body": announcement.body},
                    occurred_at=now,
                )
            )
        enqueued = 0
        for index, after in enumerate(starts):
            payload: dict[str, str | int | None] = {
                "announcementId": str(announcement_id),
                "publishedAt": now.isoformat(),
                "batch": index,
                "afterAccountId": after,
                "uptoAccountId": starts[index + 1] if index < batches - 1 else None,
                "emailEventId": mail,
            }
            enqueued += await deps.tasks.enqueue(DELIVER_TASK, payload, key=deliver_key(payload))
        await uow.commit()
    published = replace(
        announcement,
        status=AnnouncementStatus.PUBLISHED,
        published_at=now,
        published_by=staff.account_id,
        recipients=audience.recipients,
        batches=batches,
    )
    return Published(announcement=published, recipients=audience.recipients, batches=batches, enqueued=enqueued)


async def deliver_batch(deps: Deps, payload: Payload) -> int:
    """Job: add the announcement to the feeds of one batch of members; returns the items added (0 on replay)."""
    announcement_id = UUID(str(payload["announcementId"]))
    after = payload.get("afterAccountId")
    upto = payload.get("uptoAccountId")
    async with deps.uow() as uow:
        announcement = await uow.announcements.get(announcement_id)
        if announcement is None:
            return 0  # nothing to deliver (a publish that rolled back a create cannot happen; be lenient)
        if announcement.status is not AnnouncementStatus.PUBLISHED:
            raise AnnouncementNotPublishedYet(str(announcement_id))
        start = UUID(str(after)) if after else None
        end = UUID(str(upto)) if upto else None
        added = await uow.announcements.deliver_batch(
            announcement, after=start, upto=end, event_id=event_id(announcement_id), event_name=EVENT_NAME
        )
        mail = payload.get("emailEventId")
        mailable = await uow.announcements.mailable(announcement, after=start, upto=end) if mail else []
        await uow.commit()
    for account_id in mailable:
        job: dict[str, Any] = {"eventId": str(mail), "accountId": str(account_id), "channel": Channel.EMAIL.value}
        await deps.tasks.enqueue(DELIVER_TASK_EMAIL, job, key=delivery_key(job))
    return added
