"""The staff console's home: members by status, the last twelve months of inflow and fund balance, payouts by
status, the latest rounds, and what needs attention now (`domain.operations.active_alerts`)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from domain.operations import Alert, Situation, active_alerts, by_month, last_months, month_end_balances
from ports.outbound.operations import RoundSummary
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.operations import program_readings
from ports.usecases.payment_events import RECONCILE_KIND

MONTHS = 12
RECENT_ROUNDS = 5
MOVING_PAYOUT_STATUSES = ("approved", "scheduled", "processing")


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffDashboard:
    members_by_status: Mapping[str, int]
    inflow_by_month: Sequence[tuple[date, int]]
    fund_by_month: Sequence[tuple[date, int]]
    """Each month's closing fund balance (this month's: now)."""
    fund_cents: int
    threshold_cents: int
    payouts_by_status: Mapping[str, int]
    recent_rounds: Sequence[RoundSummary]
    alerts: tuple[Alert, ...]


async def staff_dashboard(deps: Deps, staff: Principal) -> StaffDashboard:
    require_staff(staff)
    now = deps.clock.now()
    months = last_months(now.date(), MONTHS)
    found = await program_readings(deps)
    readings = found.readings
    async with deps.uow() as uow:
        statuses = await uow.operations.memberships_by_status()
        inflow = await uow.operations.inflow_by_day(since=months[0])
        movements = await uow.operations.fund_movement_by_day(since=months[0])
        rounds = await uow.operations.recent_rounds(limit=RECENT_ROUNDS)
    moving = [readings.open_payouts[s] for s in MOVING_PAYOUT_STATUSES if s in readings.open_payouts]
    situation = Situation(
        inbox_oldest_s=readings.inbox_oldest_s,
        reconciliation_age_s=readings.reconciliation_age_s.get(RECONCILE_KIND),
        money_drift_cents=readings.money_drift_cents,
        fund_cents=readings.fund_balance_cents,
        threshold_cents=found.payout_threshold_cents,
        payouts_started=found.payouts_started,
        payouts_frozen=readings.payouts_frozen,
        last_round_age_s=readings.last_round_age_s,
        oldest_unchanged_payout_s=max((p.oldest_unchanged_s for p in moving), default=0.0),
    )
    return StaffDashboard(
        members_by_status={status.lower(): n for status, n in sorted(statuses.items())},
        inflow_by_month=by_month(inflow, months=months),
        fund_by_month=month_end_balances(readings.fund_balance_cents, by_month(movements, months=months)),
        fund_cents=readings.fund_balance_cents,
        threshold_cents=found.payout_threshold_cents,
        payouts_by_status={status: p.count for status, p in sorted(readings.open_payouts.items())},
        recent_rounds=rounds,
        alerts=active_alerts(situation),
    )
