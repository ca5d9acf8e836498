"""`/api/kyc` (my identity verification) and `/api/admin/kyc` (the staff review queue). A member only ever
reaches their own verification; staff routes need a staff session with a second factor."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.kyc import StaffDecision
from entrypoints.http.schemas import Problem
from ports.usecases import kyc
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

PROBLEMS = {
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="CSRF token missing, or not allowed for this account"),
    422: ResponseSpec(Problem, description="Well-formed but breaks a rule (e.g. not the current terms version)"),
    409: ResponseSpec(Problem, description="Not possible now; `problems` says why (e.g. attempt_limit_reached)"),
    503: ResponseSpec(Problem, description="The verification provider is unavailable; retry shortly"),
}


class KycOut(msgspec.Struct, rename="camel", kw_only=True):
    status: str
    """not_started | pending | verified | needs_review | failed"""
    reasons: list[str]
    valid_until: datetime | None
    may_retry: bool
    retry_after: datetime | None
    verification_url: str | None


class StartedOut(msgspec.Struct, rename="camel", kw_only=True):
    attempt_id: str
    verification_url: str


def kyc_out(view: kyc.KycView) -> KycOut:
    return KycOut(
        status=view.status,
        reasons=list(view.reasons),
        valid_until=view.valid_until,
        may_retry=view.may_retry,
        retry_after=view.retry_after,
        verification_url=view.verification_url,
    )


class KycController(Controller):
    path = "/api/kyc"
    tags = ["kyc"]

    @get("/", operation_id="getMyVerification", responses=PROBLEMS)
    async def status(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> KycOut:
        return kyc_out(await kyc.kyc_status(deps, principal))

    @post("/start", operation_id="startVerification", status_code=200, responses=PROBLEMS)
    async def start(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> StartedOut:
        """Start (or retry after a failure) my verification; while one is in progress, the same one is returned.
        The result arrives from the provider, never from this page's client-side outcome."""
        started = await kyc.start_verification(deps, principal)
        return StartedOut(attempt_id=started.attempt_id, verification_url=started.url)


class ReviewOut(msgspec.Struct, rename="camel", kw_only=True):
    account_id: UUID
    attempt_id: str | None
    reasons: list[str]
    since: datetime | None
    position: int | None
    flagged: bool


class ReviewPage(msgspec.Struct, rename="camel", kw_only=True):
    items: list[ReviewOut]
    next_cursor: str | None


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    decision: Literal["approve", "reject"]
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class DecisionOut(msgspec.Struct, rename="camel", kw_only=True):
    status: str
    decided: bool
    votes: int
    needed: int


class KycReviewController(Controller):
    path = "/api/admin/kyc"
    tags = ["admin"]

    @get("/reviews", operation_id="listKycReviews", responses=PROBLEMS)
    async def reviews(
        self,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        cursor: Annotated[UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> ReviewPage:
        items = await kyc.review_queue(deps, staff, after=cursor, limit=limit)
        return ReviewPage(
            items=[
                ReviewOut(
                    account_id=i.account_id,
                    attempt_id=i.attempt_id,
                    reasons=list(i.reasons),
                    since=i.since,
                    position=i.position,
                    flagged=i.flagged,
                )
                for i in items
            ],
            next_cursor=str(items[-1].account_id) if len(items) == limit else None,
        )

    @post(
        "/{account_id:uuid}/decision",
        operation_id="decideKycReview",
        status_code=200,
        responses={**PROBLEMS, 404: ResponseSpec(Problem, description="Nothing waits for review for this member")},
    )
    async def decide(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[DecisionIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> DecisionOut:
        """One staff vote; it takes effect with enough distinct staff (two for a member in the top 10)."""
        result = await kyc.decide(deps, staff, account_id, decision=StaffDecision(data.decision), reason=data.reason)
        return DecisionOut(status=result.status, decided=result.decided, votes=result.votes, needed=result.needed)
