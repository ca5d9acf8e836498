"""`/api/dashboard` (the member home in one call) and `/api/eligibility` (staff: can a round happen, dry run)."""

from datetime import datetime
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from entrypoints.http.business_rules import MyEligibilityOut, my_eligibility_out
from entrypoints.http.kyc import KycOut, kyc_out
from entrypoints.http.notifications import NotificationItem, notification_item
from entrypoints.http.queue import MyQueueOut, my_queue_out
from entrypoints.http.schemas import MoneyOut, Problem, money_out
from entrypoints.http.subscriptions import NextChargeOut, StatusOut, next_charge_out, status_out
from ports.usecases import dashboard, eligibility
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps


class DashboardOut(msgspec.Struct, rename="camel", kw_only=True):
    membership: StatusOut
    queue: MyQueueOut
    next_charge: NextChargeOut
    kyc: KycOut
    eligibility: MyEligibilityOut
    notifications: list[NotificationItem]
    unread_notifications: int


class DashboardController(Controller):
    path = "/api/dashboard"
    tags = ["dashboard"]

    @get("/", operation_id="getDashboard", responses={401: ResponseSpec(Problem, description="Not signed in")})
    async def home(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> DashboardOut:
        """Status, position and tenure, next charge, identity verification, eligibility, latest notifications."""
        return dashboard_out(await dashboard.dashboard(deps, principal))


def dashboard_out(view: dashboard.Dashboard) -> DashboardOut:
    return DashboardOut(
        membership=status_out(view.membership),
        queue=my_queue_out(view.queue),
        next_charge=next_charge_out(view.next_charge),
        kyc=kyc_out(view.kyc),
        eligibility=my_eligibility_out(view.eligibility),
        notifications=[notification_item(n) for n in view.notifications],
        unread_notifications=view.unread,
    )


class DryRunEntryOut(msgspec.Struct, rename="camel", kw_only=True):
    membership_id: UUID
    position: int
    member_number: int
    reasons: list[str]


class ProgramStatusOut(msgspec.Struct, rename="camel", kw_only=True):
    at: datetime
    payouts_possible: bool
    blockers: list[str]
    """launch_date_not_set | too_early | fund_below_threshold | frozen | inbox_backlog | reconciliation_missing |
    reconciliation_stale | no_eligible_member"""
    fund: MoneyOut
    payout_threshold: MoneyOut
    reward: MoneyOut
    winners_now: int
    eligible_found: int
    would_select: list[DryRunEntryOut]
    skipped: list[DryRunEntryOut]
    walk_exhausted: bool


def _entry(entry: eligibility.DryRunEntry) -> DryRunEntryOut:
    return DryRunEntryOut(
        membership_id=entry.membership_id,
        position=entry.position,
        member_number=entry.member_number,
        reasons=list(entry.reasons),
    )


class EligibilityController(Controller):
    path = "/api/eligibility"
    tags = ["eligibility"]

    @get(
        "/",
        operation_id="getProgramEligibility",
        responses={
            401: ResponseSpec(Problem, description="Not signed in"),
            403: ResponseSpec(Problem, description="Staff only, with a second factor"),
        },
    )
    async def status(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> ProgramStatusOut:
        """Can payouts happen now (every blocker listed), the fund, and who a round would select now — a dry run
        over the same selection a round uses; nothing changes."""
        view = await eligibility.program_status(deps, staff)
        return ProgramStatusOut(
            at=view.at,
            payouts_possible=view.payouts_possible,
            blockers=list(view.blockers),
            fund=money_out(view.fund),
            payout_threshold=money_out(view.payout_threshold),
            reward=money_out(view.reward),
            winners_now=view.winners_now,
            eligible_found=view.eligible_found,
            would_select=[_entry(e) for e in view.would_select],
            skipped=[_entry(e) for e in view.skipped],
            walk_exhausted=view.walk_exhausted,
        )
