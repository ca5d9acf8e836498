"""Eligibility at program level (DOMAIN.md §6, §7): the staff dry run, and telling blocked members near a payout.

One reading of a person's eligibility facts (`facts_of`) serves the member's own rule list, the staff dry run,
and the near-payout notices, so all three agree. The dry run walks the selection index (`QueueRepository.
candidates`: ACTIVE, no cancellation, identity verified, in queue order) and checks full eligibility for each,
exactly as a round will; it changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from domain.eligibility import (
    EligibilityFacts,
    ProgramDecision,
    RankedEligibility,
    Reason,
    blocked_near_payout,
    eligibility,
    fund_near_payout,
    monthly_inflow,
    payout_date_near,
    payouts_possible,
    winners_count,
)
from domain.estimates import DEFAULT_ESTIMATE_POLICY
from domain.events import EligibilityBlockedNearPayout
from domain.kyc import KycRecord
from domain.ledger import Account
from domain.membership import WINNER_STATES, MembershipState
from domain.money import Money
from domain.queue import QueueKey
from domain.rules import ProgramRules
from ports.outbound.tasks import Payload
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.payment_events import PROVIDER, RECONCILE_KIND

BLOCKED_TASK = "eligibility.tell_blocked"
INBOX_BACKLOG_AFTER = timedelta(minutes=5)
"""A provider event still unprocessed this long after it arrived counts as a backlog (§7: no round then)."""
DRY_RUN_WALK = 1_000
"""At most this many candidates are checked by one dry run or notice run (each costs a few indexed reads)."""
NOTICE_WALK = 500
"""Queue members from the front looked at by one near-payout notice run."""

REASON_TEXT: dict[Reason, str] = {
    Reason.NOT_ACTIVE: "your membership is not active",
    Reason.PAST_DUE: "your dues are overdue",
    Reason.CANCELLATION_SCHEDULED: "you have scheduled a cancellation",
    Reason.PAYMENT_DISPUTED: "a payment of yours is disputed",
    Reason.KYC_NOT_VERIFIED: "your identity is not verified",
    Reason.KYC_EXPIRED: "your identity verification has expired",
    Reason.KYC_NOT_US: "your verified identity is not from the US",
    Reason.AGE_UNKNOWN: "your verified date of birth is missing",
    Reason.UNDER_AGE: "you are under the minimum age",
    Reason.ALREADY_WON: "you have already won",
    Reason.IDENTITY_ALREADY_WON: "your identity has already won",
    Reason.DUPLICATE_IDENTITY: "your identity holds another membership",
    Reason.IDENTITY_TERMINATED: "a membership of your identity was terminated for cause",
    Reason.IDENTITY_UNKNOWN: "your identity verification is incomplete",
    Reason.MIN_TENURE_NOT_MET: "your tenure is below the minimum",
}
"""What a member is told blocks them (§6: "told what blocks them")."""


async def program_decision(uow: UnitOfWork, *, now: datetime, rules: ProgramRules, frozen: bool) -> ProgramDecision:
    """§7's preconditions read in the caller's transaction (shared by the evaluation and the staff dry run)."""
    fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
    backlog = bool(await uow.inbox.pending(PROVIDER, received_before=now - INBOX_BACKLOG_AFTER, limit=1))
    reconciled = await uow.billing.last_reconciliation(RECONCILE_KIND)
    return payouts_possible(
        at=now, rules=rules, fund=fund, frozen=frozen, inbox_backlog=backlog, last_reconciliation_at=reconciled
    )


async def has_won(uow: UnitOfWork, account_id: UUID) -> tuple[bool, bool]:
    """(the person has won, their verified identity has won under another account): §3 and §6.4, with a payout
    cancelled for a disqualifying reason counting as a win."""
    memberships = await uow.billing.memberships_of(account_id)
    person = any(m.status in WINNER_STATES for m in memberships) or await uow.payouts.counted_win(account_id)
    stored = await uow.kyc.get(account_id)
    identity = False
    if stored is not None and stored.record.fingerprint:
        identity = (await uow.kyc.identity_elsewhere(stored.record.fingerprint, other_than=account_id))[1]
    return person, identity


async def facts_of(uow: UnitOfWork, account_id: UUID, now: datetime) -> EligibilityFacts:
    """Everything §6 looks at for the person's latest membership, read in the caller's transaction."""
    memberships = list(await uow.billing.memberships_of(account_id))
    latest = memberships[0] if memberships else None
    stored = await uow.kyc.get(account_id)
    record = stored.record if stored else KycRecord()
    live_elsewhere = won_elsewhere = terminated_elsewhere = False
    if record.fingerprint:
        live_elsewhere, won_elsewhere = await uow.kyc.identity_elsewhere(record.fingerprint, other_than=account_id)
        terminated_elsewhere = await uow.kyc.identity_terminated(record.fingerprint, other_than=account_id)
    disputes = await uow.billing.open_disputes(latest.id) if latest else 0
    return EligibilityFacts(
        state=latest.status if latest else MembershipState.ABANDONED,
        tenure_start=latest.tenure_start if latest and latest.tenure_start else now,
        cancellation_scheduled=bool(latest and latest.cancel_effective_at),
        open_dispute=disputes > 0,
        kyc=record,
        person_has_won=any(m.status in WINNER_STATES for m in memberships) or await uow.payouts.counted_win(account_id),
        identity_has_won=won_elsewhere,
        identity_has_other_live_membership=live_elsewhere,
        identity_terminated=terminated_elsewhere,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DryRunEntry:
    membership_id: UUID
    position: int
    member_number: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramStatus:
    at: datetime
    payouts_possible: bool
    blockers: tuple[str, ...]
    fund: Money
    payout_threshold: Money
    reward: Money
    winners_now: int
    """How many a round at `at` would select: 0 while payouts are not possible."""
    eligible_found: int
    """Eligible memberships the dry run found (it stops once it has enough for the fund)."""
    would_select: tuple[DryRunEntry, ...]
    """The first eligible memberships in queue order, as many as the fund pays (at least one, for a preview)."""
    skipped: tuple[DryRunEntry, ...]
    """Candidates ahead of the last one selected that fail eligibility, with their reasons."""
    walk_exhausted: bool
    """True when every candidate was checked (no more eligible members exist than found)."""


async def program_status(deps: Deps, staff: Principal) -> ProgramStatus:
    """Can payouts happen now, the fund, and who a round would select now (a dry run that changes nothing)."""
    require_staff(staff)
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
        decision = await program_decision(uow, now=now, rules=rules, frozen=await uow.payouts.frozen())
        wanted = max(1, max(fund, rules.payout_threshold) // rules.reward)
        selected: list[DryRunEntry] = []
        skipped: list[DryRunEntry] = []
        after: QueueKey | None = None
        walked = 0
        exhausted = False
        while len(selected) < wanted and walked < DRY_RUN_WALK:
            batch = await uow.queue.candidates(after=after, limit=min(100, DRY_RUN_WALK - walked))
            if not batch:
                exhausted = True
                break
            for candidate in batch:
                walked += 1
                after = candidate.key
                result = eligibility(await facts_of(uow, candidate.account_id, now), rules, now)
                entry = DryRunEntry(
                    membership_id=candidate.membership_id,
                    position=candidate.position,
                    member_number=candidate.key.member_number,
                    reasons=tuple(r.value for r in result.reasons),
                )
                (selected if result.ok else skipped).append(entry)
                if len(selected) >= wanted:
                    break
    winners = winners_count(fund=fund, rules=rules, eligible_count=len(selected)) if decision.ok else 0
    return ProgramStatus(
        at=now,
        payouts_possible=decision.ok and winners > 0,
        blockers=tuple(b.value for b in decision.reasons) + (() if selected else ("no_eligible_member",)),
        fund=fund,
        payout_threshold=rules.payout_threshold,
        reward=rules.reward,
        winners_now=winners,
        eligible_found=len(selected),
        would_select=tuple(selected),
        skipped=tuple(skipped),
        walk_exhausted=exhausted,
    )


async def tell_blocked_near_payout(deps: Deps, payload: Payload) -> int:
    """Daily: once the fund is within one month's inflow of the threshold and payouts are allowed within a month,
    tell the ineligible members a round would pass over what blocks them — once per membership, blocking reason
    and payout cycle (the number of wins ever recorded). Returns notices raised."""
    del payload
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    window = DEFAULT_ESTIMATE_POLICY.window_days
    async with deps.uow() as uow:
        fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
        inflow = await uow.ledger.fund_inflow_since(now.date() - timedelta(days=window - 1), rules.reward.currency)
        month = monthly_inflow(inflow, days=window)
        if not (payout_date_near(now, rules) and fund_near_payout(fund, month, rules)):
            return 0
        cycle = await uow.queue.wins_recorded()  # a new cycle after every round: blocked members are told again
        wanted = max(1, max(fund, rules.payout_threshold) // rules.reward)
        ranked: list[RankedEligibility] = []
        accounts: dict[str, UUID] = {}
        for row in await uow.queue.page(limit=NOTICE_WALK):
            accounts[str(row.membership_id)] = row.account_id
            result = eligibility(await facts_of(uow, row.account_id, now), rules, now)
            ranked.append(
                RankedEligibility(membership_id=str(row.membership_id), position=row.position, eligibility=result)
            )
            if sum(1 for item in ranked if item.eligibility.ok) >= wanted:
                break
        raised = 0
        for blocked in blocked_near_payout(ranked, fund=fund, monthly_inflow=month, rules=rules):
            membership_id = UUID(blocked.membership_id)
            new = [
                reason
                for reason in blocked.reasons
                if await uow.billing.raise_notice_once(
                    membership_id=membership_id, notice_key=f"blocked_near_payout:{cycle}:{reason.value}", at=now
                )
            ]
            if not new:
                continue
            account_id = accounts[blocked.membership_id]
            uow.record(
                event_name=EligibilityBlockedNearPayout.name,
                aggregate_type="membership",
                aggregate_id=blocked.membership_id,
                payload={
                    "accountId": str(account_id),
                    "membershipId": blocked.membership_id,
                    "position": blocked.position,
                    "reasons": [r.value for r in new],
                    "blockedBy": "; ".join(REASON_TEXT[r] for r in new),
                },
            )
            raised += 1
        await uow.commit()
    return raised
