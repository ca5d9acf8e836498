"""`/api/queue`: my place and history (signed in), anonymised pages and statistics (public, cached, rate-limited)."""

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Router, get
from litestar.di import NamedDependency
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from domain.queue import CAUSE_TEXT, PositionChange
from entrypoints.http.rounds import PublicRoundsController
from entrypoints.http.schemas import MoneyOut, Problem, money_out
from ports.usecases import queue
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

PUBLIC_CACHE_SECONDS = 15
"""Public answers may be this stale: N and the pages change only when members join or leave."""
PUBLIC_RATE = ("minute", 120)
"""Requests per client address per minute on the public routes (a page-scraper limit, not a member's)."""

_BAD_INPUT = {
    400: ResponseSpec(Problem, description="A limit or fromPosition out of range"),
    422: ResponseSpec(Problem, description="A cursor we did not issue"),
}
_TOO_MANY = {429: ResponseSpec(Problem, description="Too many requests from this address; see Retry-After")}


class TenureOut(msgspec.Struct, rename="camel", kw_only=True):
    months: int
    days: int


class NeighbourOut(msgspec.Struct, rename="camel", kw_only=True):
    position: int
    tenure_month: str
    me: bool


class PositionChangeOut(msgspec.Struct, rename="camel", kw_only=True):
    at: datetime
    old_position: int | None
    new_position: int | None
    cause: str
    """joined | reinstated | returned | left_queue | member_ahead_left | winner_selected | member_placed_ahead"""
    text: str
    left_because: str | None


class HistoryOut(msgspec.Struct, rename="camel", kw_only=True):
    items: list[PositionChangeOut]
    next_cursor: str | None


class MyQueueOut(msgspec.Struct, rename="camel", kw_only=True):
    in_queue: bool
    status: str | None
    position: int | None
    size: int
    tenure_start: datetime | None
    tenure: TenureOut | None
    at_risk: bool
    at_risk_reasons: list[str]
    window: list[NeighbourOut]
    history: HistoryOut


class PublicRowOut(msgspec.Struct, rename="camel", kw_only=True):
    position: int
    tenure_month: str


class PublicPageOut(msgspec.Struct, rename="camel", kw_only=True):
    items: list[PublicRowOut]
    next_cursor: str | None
    size: int


class EstimateOut(msgspec.Struct, rename="camel", kw_only=True):
    kind: str
    """now | range"""
    earliest: date
    latest: date
    label: str


class QueueStatsOut(msgspec.Struct, rename="camel", kw_only=True):
    size: int
    fund: MoneyOut
    winners_so_far: int
    next_payout_estimate: EstimateOut | None
    """A projection from the trailing 90-day fund inflow, never a promise; null when none can be made."""
    payouts_possible_from: datetime | None
    fund_inflow_last_90_days: MoneyOut
    at: datetime


def change_out(change: PositionChange) -> PositionChangeOut:
    return PositionChangeOut(
        at=change.at,
        old_position=change.old_position,
        new_position=change.new_position,
        cause=change.cause.value,
        text=CAUSE_TEXT[change.cause],
        left_because=change.left_because.value if change.left_because else None,
    )


def history_out(history: queue.History) -> HistoryOut:
    return HistoryOut(items=[change_out(c) for c in history.changes], next_cursor=history.next_cursor)


def my_queue_out(view: queue.MyQueue) -> MyQueueOut:
    return MyQueueOut(
        in_queue=view.in_queue,
        status=view.status,
        position=view.position,
        size=view.size,
        tenure_start=view.tenure_start,
        tenure=TenureOut(months=view.tenure.months, days=view.tenure.days) if view.tenure else None,
        at_risk=view.at_risk.at_risk,
        at_risk_reasons=[r.value for r in view.at_risk.reasons],
        window=[NeighbourOut(position=n.position, tenure_month=n.tenure_month, me=n.me) for n in view.window],
        history=history_out(view.history),
    )


class MyQueueController(Controller):
    path = "/api/queue/me"
    tags = ["queue"]

    @get("/", operation_id="getMyQueuePlace", responses={401: ResponseSpec(Problem, description="Not signed in")})
    async def mine(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> MyQueueOut:
        """My position, N, tenure, at-risk flag, the window of neighbours (position and tenure month only), and the
        newest changes of my position with their causes."""
        return my_queue_out(await queue.my_queue(deps, principal))

    @get(
        "/history",
        operation_id="listMyPositionHistory",
        responses={401: ResponseSpec(Problem, description="Not signed in"), **_BAD_INPUT},
    )
    async def history(
        self,
        principal: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=queue.MAX_PAGE)] = 20,
    ) -> HistoryOut:
        """Every change of my position, newest first, with its cause."""
        return history_out(await queue.my_history(deps, principal, cursor=cursor, limit=limit))


class PublicQueueController(Controller):
    path = "/"
    tags = ["queue"]

    @get("/", operation_id="getQueuePage", cache=PUBLIC_CACHE_SECONDS, responses={**_BAD_INPUT, **_TOO_MANY})
    async def page(
        self,
        deps: NamedDependency[Deps],
        cursor: Annotated[str | None, QueryParameter(max_length=512)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=queue.MAX_PAGE)] = queue.DEFAULT_PAGE,
        from_position: Annotated[int | None, QueryParameter(name="fromPosition", ge=1)] = None,
    ) -> PublicPageOut:
        """The queue in order, anonymised: position and tenure month only. Keyset pages (`nextCursor`), or jump to
        a position with `fromPosition`."""
        page = await queue.public_page(deps, cursor=cursor, limit=limit, from_position=from_position)
        return PublicPageOut(
            items=[PublicRowOut(position=r.position, tenure_month=r.tenure_month) for r in page.items],
            next_cursor=page.next_cursor,
            size=page.size,
        )

    @get("/stats", operation_id="getQueueStats", cache=PUBLIC_CACHE_SECONDS, responses=_TOO_MANY)
    async def stats(self, deps: NamedDependency[Deps]) -> QueueStatsOut:
        """N, the fund, winners so far, and the next-payout estimate (a range, labelled as an estimate)."""
        stats = await queue.queue_stats(deps)
        estimate = stats.estimate
        return QueueStatsOut(
            size=stats.size,
            fund=money_out(stats.fund),
            winners_so_far=stats.winners_so_far,
            next_payout_estimate=EstimateOut(
                kind=estimate.kind.value, earliest=estimate.earliest, latest=estimate.latest, label=estimate.label
            )
            if estimate
            else None,
            payouts_possible_from=stats.payouts_from,
            fund_inflow_last_90_days=money_out(stats.inflow_90_days),
            at=stats.at,
        )


def public_queue_router() -> Router:
    """The public routes behind their own per-address rate limit."""
    return Router(
        path="/api/queue",
        route_handlers=[PublicQueueController, PublicRoundsController],
        middleware=[RateLimitConfig(rate_limit=PUBLIC_RATE).middleware],  # type: ignore[arg-type]
    )
