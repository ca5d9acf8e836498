"""`/api/admin/members/{id}/…`: a member's memberships and payments, and the staff actions on them that move
money or end a membership (refunds, termination for cause). Staff only (the `staff` dependency), every request
in the staff access log, every change in the membership's audit chain with its reason."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from domain.staff_refunds import PeriodEffect
from domain.termination import TerminationReason
from entrypoints.http.schemas import MoneyOut, Problem, money_out
from entrypoints.http.subscriptions import PaymentPage, payment_page
from ports.outbound.billing import MembershipRecord
from ports.outbound.payouts import StaffRequestRecord
from ports.usecases import admin_billing, staff_refunds, termination
from ports.usecases.admin_support import REASON_MAX, REASON_MIN
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import NotFound
from ports.usecases.memberships import HISTORY_MAX_LIMIT

PROBLEMS = {
    400: ResponseSpec(Problem, description="Invalid body or query"),
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="Not staff, no second factor, wrong role, or step-up needed"),
    404: ResponseSpec(Problem, description="No such member, payment or request"),
    409: ResponseSpec(Problem, description="Not allowed now; `problems` lists every reason"),
}

StaffWords = Annotated[str, msgspec.Meta(min_length=REASON_MIN, max_length=REASON_MAX)]


class MembershipOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    status: str
    member_number: int | None
    tenure_start: datetime | None
    created_at: datetime
    grace_ends_at: datetime | None
    cancel_effective_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    rules_version: int


class MembershipList(msgspec.Struct, rename="camel", kw_only=True):
    items: list[MembershipOut]


class RefundIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    period: PeriodEffect
    """`stays_paid`: a goodwill refund, the period stays paid. `becomes_unpaid`: the §5 rule (full refunds only):
    a dues period is unpaid from the refund (grace starts), a joining payment cancels the membership."""
    reason: StaffWords
    amount_cents: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Omitted: all that is not refunded yet."""


class RefundOut(msgspec.Struct, rename="camel", kw_only=True):
    request_id: UUID
    payment_id: UUID
    amount: MoneyOut
    period: str
    completes_refund: bool


class TerminateIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    reason: TerminationReason
    explanation: StaffWords
    """Kept as a staff note on the account (erasable), never in the audit log."""


class TerminationRequestOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    reason: str
    requested_by: UUID
    requested_at: datetime


class TerminationOut(msgspec.Struct, rename="camel", kw_only=True):
    status: Literal["requested", "terminated"]
    membership: MembershipOut
    pending: TerminationRequestOut | None


def _membership(record: MembershipRecord) -> MembershipOut:
    return MembershipOut(
        id=record.id,
        status=record.status.value,
        member_number=record.member_number,
        tenure_start=record.tenure_start,
        created_at=record.created_at,
        grace_ends_at=record.grace_ends_at,
        cancel_effective_at=record.cancel_effective_at,
        ended_at=record.ended_at,
        end_reason=record.end_reason,
        rules_version=record.rules_version,
    )


def _request(request: StaffRequestRecord) -> TerminationRequestOut:
    return TerminationRequestOut(
        id=request.id, reason=request.reason, requested_by=request.requested_by, requested_at=request.requested_at
    )


class MemberActionController(Controller):
    path = "/api/admin/members/{account_id:uuid}"
    tags = ["admin"]

    @get("/memberships", operation_id="listMemberMemberships", responses=PROBLEMS)
    async def list_memberships(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> MembershipList:
        """Every membership of the member, newest first, with why each one ended."""
        found = await admin_billing.memberships(deps, staff, account_id)
        return MembershipList(items=[_membership(m) for m in found])

    @get("/payments", operation_id="listMemberPayments", responses=PROBLEMS)
    async def list_payments(
        self,
        account_id: FromPath[UUID],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=HISTORY_MAX_LIMIT)] = 20,
    ) -> PaymentPage:
        """The member's payments, newest first, with what was refunded (the member's own history)."""
        return payment_page(await admin_billing.payments(deps, staff, account_id, cursor=cursor, limit=limit))

    @post(
        "/payments/{payment_id:uuid}/refund",
        operation_id="refundMemberPayment",
        status_code=HTTP_202_ACCEPTED,
        responses=PROBLEMS,
    )
    async def refund(
        self,
        account_id: FromPath[UUID],
        payment_id: FromPath[UUID],
        data: JSONBody[RefundIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> RefundOut:
        """Finance, within the step-up window. Accepted: the provider is asked after commit, and the refund's
        webhook posts the ledger reversal and applies the period choice. One refund per payment at a time."""
        asked = await staff_refunds.refund(
            deps,
            staff,
            account_id,
            payment_id,
            amount_cents=data.amount_cents,
            period=data.period.value,
            reason=data.reason,
        )
        return RefundOut(
            request_id=asked.request_id,
            payment_id=asked.payment_id,
            amount=money_out(asked.amount),
            period=asked.effect.value,
            completes_refund=asked.completes_refund,
        )

    @delete(
        "/payments/{payment_id:uuid}/refund",
        operation_id="withdrawMemberRefund",
        status_code=HTTP_204_NO_CONTENT,
        responses=PROBLEMS,
    )
    async def withdraw_refund(
        self,
        account_id: FromPath[UUID],
        payment_id: FromPath[UUID],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> None:
        """Finance: close an open refund request the provider never answered, so another may be asked for."""
        await staff_refunds.withdraw(deps, staff, account_id, payment_id)

    @post("/termination", operation_id="terminateMembership", status_code=200, responses=PROBLEMS)
    async def terminate(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[TerminateIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> TerminationOut:
        """Ask for a termination for cause, or confirm the one another staff member asked for with the same
        reason. Confirmed: CANCELLED, out of the queue, subscription cancelled, member told, no rejoining."""
        step = await termination.terminate(
            deps, staff, account_id, reason=data.reason.value, explanation=data.explanation
        )
        return TerminationOut(
            status="requested" if step.pending else "terminated",
            membership=_membership(step.membership),
            pending=_request(step.pending) if step.pending else None,
        )

    @get("/termination", operation_id="getTerminationRequest", responses=PROBLEMS)
    async def open_termination(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> TerminationRequestOut:
        """The open termination request waiting for a second staff member (404 when there is none)."""
        pending = await termination.open_termination(deps, staff, account_id)
        if pending is None:
            raise NotFound("no termination request is open")
        return _request(pending)

    @delete("/termination", operation_id="withdrawTermination", status_code=HTTP_204_NO_CONTENT, responses=PROBLEMS)
    async def withdraw(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> None:
        """Withdraw my own open termination request."""
        await termination.withdraw(deps, staff, account_id)
