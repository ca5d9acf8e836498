"""`/api/admin/rules`: program rules changes — propose new numbers with an effective time, approve (a second
staff member) or reject, and see every version. Staff only; every change audited on the rules chain."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.rules_changes import CHANGEABLE_FIELDS, DEFAULT_NOTICE
from entrypoints.http.schemas import Problem
from ports.usecases import program_rules
from ports.usecases.admin_support import REASON_MAX, REASON_MIN
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps

PROBLEMS = {
    400: ResponseSpec(Problem, description="Invalid body"),
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="Not staff or no second factor"),
    404: ResponseSpec(Problem, description="No such change"),
    409: ResponseSpec(Problem, description="Not possible now (open already, same staff, decided)"),
    422: ResponseSpec(Problem, description="The proposed rules break a rule; `problems` lists each"),
}

StaffWords = Annotated[str, msgspec.Meta(min_length=REASON_MIN, max_length=REASON_MAX)]


class Difference(msgspec.Struct, rename="camel", kw_only=True):
    field: str
    before: int
    after: int
    """Money in cents; basis points, days, months and counts as whole numbers."""


class VersionOut(msgspec.Struct, rename="camel", kw_only=True):
    version: int
    effective_at: datetime


class ChangeOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    status: str
    """proposed | approved | rejected"""
    differences: list[Difference]
    effective_at: datetime
    reason: str
    proposed_by: UUID
    proposed_at: datetime
    decided_by: UUID | None
    decided_at: datetime | None
    version: int | None


class RulesOverviewOut(msgspec.Struct, rename="camel", kw_only=True):
    in_force: VersionOut
    latest: VersionOut
    changeable_fields: list[str]
    notice_days: int
    changes: list[ChangeOut]


class ProposalIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    changes: dict[str, int]
    """Field → new value (money in cents), e.g. `{"joiningFee": 35000}` or `{"joining_fee": 35000}`."""
    effective_at: datetime
    reason: StaffWords


class RejectIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    reason: StaffWords


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _change(view: program_rules.ChangeView) -> ChangeOut:
    record = view.record
    return ChangeOut(
        id=record.id,
        status=record.status,
        differences=[Difference(field=k, before=b, after=a) for k, (b, a) in view.differences.items()],
        effective_at=record.effective_at,
        reason=record.reason,
        proposed_by=record.proposed_by,
        proposed_at=record.proposed_at,
        decided_by=record.decided_by,
        decided_at=record.decided_at,
        version=record.version,
    )


class RulesAdminController(Controller):
    path = "/api/admin/rules"
    tags = ["admin"]

    @get("/", operation_id="getRulesVersions", responses=PROBLEMS)
    async def overview(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> RulesOverviewOut:
        """The version in force, the latest approved one, and the recent proposals with what each changes."""
        seen = await program_rules.overview(deps, staff)
        return RulesOverviewOut(
            in_force=VersionOut(version=seen.in_force.version, effective_at=seen.in_force.effective_at),
            latest=VersionOut(version=seen.latest.version, effective_at=seen.latest.effective_at),
            changeable_fields=sorted(CHANGEABLE_FIELDS),
            notice_days=DEFAULT_NOTICE.days,
            changes=[_change(v) for v in seen.changes],
        )

    @post("/changes", operation_id="proposeRulesChange", status_code=HTTP_201_CREATED, responses=PROBLEMS)
    async def propose(
        self, data: JSONBody[ProposalIn], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> ChangeOut:
        """Propose new values, in force from `effectiveAt` (at least the notice period away). One open at a time."""
        view = await program_rules.propose(
            deps,
            staff,
            changes={_snake(k): v for k, v in data.changes.items()},
            effective_at=data.effective_at,
            reason=data.reason,
        )
        return _change(view)

    @post("/changes/{change_id:uuid}/approve", operation_id="approveRulesChange", status_code=200, responses=PROBLEMS)
    async def approve(
        self, change_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> VersionOut:
        """A second staff member approves: the next version, announced to every member at once."""
        version = await program_rules.approve(deps, staff, change_id)
        return VersionOut(version=version.version, effective_at=version.effective_at)

    @post(
        "/changes/{change_id:uuid}/reject",
        operation_id="rejectRulesChange",
        status_code=HTTP_204_NO_CONTENT,
        responses=PROBLEMS,
    )
    async def reject(
        self,
        change_id: FromPath[UUID],
        data: JSONBody[RejectIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> None:
        """Withdraw (the proposer) or decline (anyone else) an open proposal, with a reason."""
        await program_rules.reject(deps, staff, change_id, reason=data.reason)
