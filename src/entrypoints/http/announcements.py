"""`/api/admin/announcements`: staff create, list, preview and publish announcements (news feed). Members read
them as items of their own notification feed (`/api/notifications`). Staff only, with a second factor."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from entrypoints.http.schemas import Problem
from ports.outbound.announcements import Announcement
from ports.usecases import announcements
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

PROBLEMS = {
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="CSRF token missing, or not a staff session with a second factor"),
    422: ResponseSpec(Problem, description="Well-formed but breaks a rule (e.g. an empty title)"),
    503: ResponseSpec(Problem, description="The database or the job queue is unavailable; retry shortly"),
}
NOT_FOUND = {404: ResponseSpec(Problem, description="No such announcement")}


class AnnouncementIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=announcements.TITLE_MAX)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=announcements.BODY_MAX)]
    email: bool = False
    """Also send by email: not available yet (refused with 422 `email_not_available`)."""


class AnnouncementOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    title: str
    body: str
    email: bool
    status: str
    """draft | published"""
    created_by: UUID
    created_at: datetime
    published_at: datetime | None
    published_by: UUID | None
    recipients: int | None
    batches: int | None


class AnnouncementPage(msgspec.Struct, rename="camel", kw_only=True):
    items: list[AnnouncementOut]
    next_cursor: str | None


class PreviewOut(msgspec.Struct, rename="camel", kw_only=True):
    announcement: AnnouncementOut
    title: str
    body: str
    recipients: int
    """Members it would reach if published now."""


class PublishedOut(msgspec.Struct, rename="camel", kw_only=True):
    announcement: AnnouncementOut
    recipients: int
    batches: int


def announcement_out(a: Announcement) -> AnnouncementOut:
    return AnnouncementOut(
        id=a.id,
        title=a.title,
        body=a.body,
        email=a.email,
        status=a.status.value,
        created_by=a.created_by,
        created_at=a.created_at,
        published_at=a.published_at,
        published_by=a.published_by,
        recipients=a.recipients,
        batches=a.batches,
    )


class AnnouncementAdminController(Controller):
    path = "/api/admin/announcements"
    tags = ["admin"]

    @post("/", operation_id="createAnnouncement", status_code=201, responses=PROBLEMS)
    async def create(
        self, data: JSONBody[AnnouncementIn], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> AnnouncementOut:
        """A draft: nobody sees it until it is published."""
        created = await announcements.create_announcement(
            deps, staff, title=data.title, body=data.body, email=data.email
        )
        return announcement_out(created)

    @get("/", operation_id="listAnnouncements", responses=PROBLEMS)
    async def list_announcements(
        self,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        cursor: Annotated[UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> AnnouncementPage:
        """Newest first."""
        items = await announcements.list_announcements(deps, staff, limit=limit, before=cursor)
        return AnnouncementPage(
            items=[announcement_out(a) for a in items],
            next_cursor=str(items[-1].id) if len(items) == limit else None,
        )

    @get("/{announcement_id:uuid}/preview", operation_id="previewAnnouncement", responses={**PROBLEMS, **NOT_FOUND})
    async def preview(
        self, announcement_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PreviewOut:
        """What members will see, and how many members it would reach now."""
        p = await announcements.preview(deps, staff, announcement_id)
        return PreviewOut(
            announcement=announcement_out(p.announcement), title=p.title, body=p.body, recipients=p.recipients
        )

    @post(
        "/{announcement_id:uuid}/publish",
        operation_id="publishAnnouncement",
        status_code=200,
        responses={
            **PROBLEMS,
            **NOT_FOUND,
            409: ResponseSpec(Problem, description="Already published (`already_published`)"),
        },
    )
    async def publish(
        self, announcement_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> PublishedOut:
        """Publish once: every active member gets it in their feed, delivered by batched background jobs."""
        result = await announcements.publish(deps, staff, announcement_id)
        return PublishedOut(
            announcement=announcement_out(result.announcement), recipients=result.recipients, batches=result.batches
        )
