"""`/api/notifications`: my in-app feed (newest first, keyset-paged), mark read, unread count. Another
member's notification id answers 404, exactly like an id that does not exist."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from entrypoints.http.schemas import Problem
from ports.outbound.notifications import Notification
from ports.usecases import notifications
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps


class NotificationItem(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    event_name: str
    title: str
    body: str
    created_at: datetime
    read: bool
    read_at: datetime | None


class NotificationPage(msgspec.Struct, rename="camel", kw_only=True):
    items: list[NotificationItem]
    next_cursor: str | None
    """Pass as `cursor` for the next (older) page; null on the last page."""


class MarkedRead(msgspec.Struct, rename="camel", kw_only=True):
    updated: int


class UnreadCount(msgspec.Struct, rename="camel", kw_only=True):
    unread: int


def notification_item(n: Notification) -> NotificationItem:
    return NotificationItem(
        id=n.id,
        event_name=n.event_name,
        title=n.title,
        body=n.body,
        created_at=n.created_at,
        read=n.read_at is not None,
        read_at=n.read_at,
    )


UNAUTHORIZED = ResponseSpec(Problem, description="Not signed in")
CSRF = ResponseSpec(Problem, description="CSRF token missing")


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]

    @get(
        "/",
        operation_id="listNotifications",
        responses={
            400: ResponseSpec(Problem, description="limit out of range"),
            401: UNAUTHORIZED,
            422: ResponseSpec(Problem, description="The cursor is not one we issued"),
        },
    )
    async def list_notifications(
        self,
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=notifications.FEED_MAX_LIMIT)] = notifications.FEED_DEFAULT_LIMIT,
    ) -> NotificationPage:
        page = await notifications.feed(deps, principal, cursor=cursor, limit=limit)
        return NotificationPage(
            items=[notification_item(n) for n in page.items],
            next_cursor=page.next_cursor,
        )

    @post(
        "/{notification_id:uuid}/read",
        operation_id="markNotificationRead",
        status_code=HTTP_204_NO_CONTENT,
        responses={
            401: UNAUTHORIZED,
            403: CSRF,
            404: ResponseSpec(Problem, description="No such notification of mine"),
        },
    )
    async def mark_read(
        self, notification_id: FromPath[UUID], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        await notifications.mark_read(deps, principal, notification_id)

    @post(
        "/read-all", operation_id="markAllNotificationsRead", status_code=200, responses={401: UNAUTHORIZED, 403: CSRF}
    )
    async def mark_all_read(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> MarkedRead:
        return MarkedRead(updated=await notifications.mark_all_read(deps, principal))

    @get("/unread-count", operation_id="countUnreadNotifications", responses={401: UNAUTHORIZED})
    async def unread_count(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> UnreadCount:
        return UnreadCount(unread=await notifications.unread_count(deps, principal))
