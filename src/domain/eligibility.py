"""Who may win, and whether anyone may win at all (DOMAIN.md §6, §7).

Why every reason: a member who paid for a place and is skipped deserves to know exactly what blocked them, and a
round's snapshot records the reasons of every skipped entry. So eligibility never stops at the first failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import age_at, ensure_utc, months_between
from domain.errors import InvalidInput
from domain.kyc import US, KycRecord, KycStatus, is_expired
from domain.membership import MembershipState
from domain.money import Money
from domain.rules import ProgramRules


class Reason(StrEnum):
    NOT_ACTIVE = "not_active"
    PAST_DUE = "past_due"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    PAYMENT_DISPUTED = "payment_disputed"
    KYC_NOT_VERIFIED = "kyc_not_verified"
    KYC_EXPIRED = "kyc_expired"
    KYC_NOT_US = "kyc_not_us"
    AGE_UNKNOWN = "age_unknown"
    """Verified but without a date of birth: age cannot be proven, so not eligible."""
    UNDER_AGE = "under_age"
    ALREADY_WON = "already_won"
    IDENTITY_ALREADY_WON = "identity_already_won"
    DUPLICATE_IDENTITY = "duplicate_identity"
    IDENTITY_TERMINATED = "identity_terminated"
    """The verified identity's membership under another account was terminated for cause (D154)."""
    IDENTITY_UNKNOWN = "identity_unknown"
    """Verified but without a fingerprint: identity rules cannot be checked."""
    MIN_TENURE_NOT_MET = "min_tenure_not_met"


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityFacts:
    """Everything eligibility needs about one membership at the evaluation instant."""

    state: MembershipState
    tenure_start: datetime
    cancellation_scheduled: bool
    open_dispute: bool
    kyc: KycRecord
    person_has_won: bool
    """Selected as a winner before (a cancelled non-disqualified payout does not count)."""
    identity_has_won: bool
    """The verified identity (fingerprint) was selected before, under any person."""
    identity_has_other_live_membership: bool
    identity_terminated: bool = False
    """A membership of this verified identity under another account was terminated for cause (D154): a person
    removed for cause does not come back by opening a new account."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility:
    ok: bool
    reasons: tuple[Reason, ...]


def eligibility(facts: EligibilityFacts, rules: ProgramRules, at: datetime) -> Eligibility:
    """Eligible at ``at`` iff no reason applies; returns every failed reason in a stable order."""
    at = ensure_utc(at, "at")
    reasons: list[Reason] = []
    # 1. membership standing
    if facts.state is MembershipState.PAST_DUE:
        reasons.append(Reason.PAST_DUE)
    elif facts.state is not MembershipState.ACTIVE:
        reasons.append(Reason.NOT_ACTIVE)
    if facts.cancellation_scheduled:
        reasons.append(Reason.CANCELLATION_SCHEDULED)
    if facts.open_dispute:
        reasons.append(Reason.PAYMENT_DISPUTED)
    # 2. identity verification
    kyc = facts.kyc
    if kyc.status is not KycStatus.VERIFIED or kyc.verified_at is None:
        reasons.append(Reason.KYC_NOT_VERIFIED)
    else:
        if is_expired(kyc, at, rules):
            reasons.append(Reason.KYC_EXPIRED)
        if kyc.country != US:
            reasons.append(Reason.KYC_NOT_US)
        # 3. age by the KYC date of birth, in the most conservative zone
        if kyc.date_of_birth is None:
            reasons.append(Reason.AGE_UNKNOWN)
        elif age_at(kyc.date_of_birth, at) < rules.min_age_years:
            reasons.append(Reason.UNDER_AGE)
        if kyc.fingerprint is None:
            reasons.append(Reason.IDENTITY_UNKNOWN)
    # 4. one win per person and per identity; one live membership per identity
    if facts.person_has_won:
        reasons.append(Reason.ALREADY_WON)
    if facts.identity_has_won:
        reasons.append(Reason.IDENTITY_ALREADY_WON)
    if facts.identity_has_other_live_membership:
        reasons.append(Reason.DUPLICATE_IDENTITY)
    if facts.identity_terminated:
        reasons.append(Reason.IDENTITY_TERMINATED)
    # 5. minimum tenure
    if rules.min_tenure_months > 0:
        tenure_start = ensure_utc(facts.tenure_start, "tenure_start")
        months = months_between(tenure_start, at) if at >= tenure_start else 0
        if months < rules.min_tenure_months:
            reasons.append(Reason.MIN_TENURE_NOT_MET)
    return Eligibility(ok=not reasons, reasons=tuple(reasons))


# -- program level ------------------------------------------------------------------------------------------------


class ProgramBlock(StrEnum):
    LAUNCH_DATE_NOT_SET = "launch_date_not_set"
    TOO_EARLY = "too_early"
    FUND_BELOW_THRESHOLD = "fund_below_threshold"
    FROZEN = "frozen"
    INBOX_BACKLOG = "inbox_backlog"
    RECONCILIATION_MISSING = "reconciliation_missing"
    RECONCILIATION_STALE = "reconciliation_stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramDecision:
    ok: bool
    reasons: tuple[ProgramBlock, ...]


def payouts_possible(
    *,
    at: datetime,
    rules: ProgramRules,
    fund: Money,
    frozen: bool,
    inbox_backlog: bool,
    last_reconciliation_at: datetime | None,
) -> ProgramDecision:
    """Can a round happen at ``at``? Every blocker is listed (staff see all of them at once)."""
    at = ensure_utc(at, "at")
    reasons: list[ProgramBlock] = []
    start = rules.payouts_start()
    if start is None:
        reasons.append(ProgramBlock.LAUNCH_DATE_NOT_SET)
    elif at < start:
        reasons.append(ProgramBlock.TOO_EARLY)
    if fund < rules.payout_threshold:
        reasons.append(ProgramBlock.FUND_BELOW_THRESHOLD)
    if frozen:
        reasons.append(ProgramBlock.FROZEN)
    if inbox_backlog:
        reasons.append(ProgramBlock.INBOX_BACKLOG)
    if last_reconciliation_at is None:
        reasons.append(ProgramBlock.RECONCILIATION_MISSING)
    elif at - ensure_utc(last_reconciliation_at, "last_reconciliation_at") >= rules.reconciliation_max_age:
        reasons.append(ProgramBlock.RECONCILIATION_STALE)
    return ProgramDecision(ok=not reasons, reasons=tuple(reasons))


def winners_count(*, fund: Money, rules: ProgramRules, eligible_count: int) -> int:
    """``min(floor(fund / reward), eligible_count)``, and 0 below ``payout_threshold``."""
    if eligible_count < 0:
        raise InvalidInput("eligible_count must not be negative")
    if fund < rules.payout_threshold:
        return 0
    return min(fund // rules.reward, eligible_count)


# -- disqualification ---------------------------------------------------------------------------------------------


class DisqualifyingReason(StrEnum):
    """The closed list (§7): a payout cancelled for one of these sends the membership to CANCELLED."""

    FRAUD = "fraud"
    DUPLICATE_IDENTITY = "duplicate_identity"
    UNDER_AGE = "under_age"
    JURISDICTION = "jurisdiction"
    JOINING_PAYMENT_REVERSED = "joining_payment_reversed"
    UNCLAIMED = "unclaimed"
    DECLINED_BY_MEMBER = "declined_by_member"


_DISQUALIFYING_VALUES = frozenset(reason.value for reason in DisqualifyingReason)

NOT_DISQUALIFYING = "not_disqualifying"
"""The only other accepted payout-cancellation reason: the membership returns to ACTIVE with its place."""


def is_disqualifying(reason: str) -> bool:
    """True for the closed list, False for ``not_disqualifying``; anything else is refused."""
    if reason == NOT_DISQUALIFYING:
        return False
    if reason in _DISQUALIFYING_VALUES:
        return True
    raise InvalidInput(f"unknown payout cancellation reason {reason!r}")


# -- telling blocked members near payout --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedEligibility:
    membership_id: str
    position: int
    eligibility: Eligibility


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockedMember:
    membership_id: str
    position: int
    reasons: tuple[Reason, ...]


def fund_near_payout(fund: Money, monthly_inflow: Money, rules: ProgramRules) -> bool:
    """§6 "when the fund nears the threshold": it is within one month's inflow of ``payout_threshold`` (a fund
    that shrinks, i.e. a negative inflow, is near only once it holds the threshold)."""
    return fund + max(monthly_inflow, Money.zero(monthly_inflow.currency)) >= rules.payout_threshold


NEAR_PAYOUT_DAYS = 30
"""How close the first allowed payout date must be for near-payout notices (one month, like the fund test)."""


def payout_date_near(at: datetime, rules: ProgramRules) -> bool:
    """Payouts are allowed within a month of ``at`` (or already are): telling members earlier would be telling
    them about a payout that cannot happen yet (§6 "when the fund nears the threshold" assumes it can)."""
    start = rules.payouts_start()
    return start is not None and ensure_utc(at, "at") + timedelta(days=NEAR_PAYOUT_DAYS) >= start


def monthly_inflow(inflow: Money, *, days: int) -> Money:
    """One month's worth (30 days) of an inflow measured over ``days`` days, rounded down to the cent."""
    if days <= 0:
        raise InvalidInput("days must be positive")
    return Money(cents=inflow.cents * 30 // days, currency=inflow.currency)


def blocked_near_payout(
    ranked: Iterable[RankedEligibility], *, fund: Money, monthly_inflow: Money, rules: ProgramRules
) -> tuple[BlockedMember, ...]:
    """The ineligible members a round would pass over if it ran once the threshold is reached.

    Walk the queue in order and collect eligible members until there are as many as the expected winners
    (``floor(max(fund, threshold) / reward)``, at least one); every ineligible member met on the way is someone
    who would be skipped and can still act on it. Nothing is returned while the fund is not near the threshold.
    """
    if not fund_near_payout(fund, monthly_inflow, rules):
        return ()
    expected = max(1, max(fund, rules.payout_threshold) // rules.reward)
    blocked: list[BlockedMember] = []
    found = 0
    for item in sorted(ranked, key=lambda item: item.position):
        if found >= expected:
            break
        if item.eligibility.ok:
            found += 1
        else:
            blocked.append(
                BlockedMember(
                    membership_id=item.membership_id,
                    position=item.position,
                    reasons=item.eligibility.reasons,
                )
            )
    return tuple(blocked)


def first_eligible(ranked: Sequence[RankedEligibility], count: int) -> tuple[RankedEligibility, ...]:
    """The ``count`` best-ranked eligible entries (the winners of a round over this snapshot)."""
    ordered = sorted(ranked, key=lambda item: item.position)
    return tuple(item for item in ordered if item.eligibility.ok)[:count]
