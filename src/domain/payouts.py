"""Payouts (DOMAIN.md §8): amounts, the state machine, approvals, processing gates, reminders and 1099s.

Why so strict: a payout sends $100,000 once. Two distinct staff (one from finance, never the winner) approve; the
person who confirms the money left is not one of them; a cancellation needs a reason from a closed list and two
staff; changed bank details wipe the approvals and wait out a hold, because a hijacked account changing the
destination is the classic fraud. Every gate returns its reasons so the admin UI can say what is missing.

A ``Payout`` is a value; every operation returns a new one. Withholding and the retention deduction are frozen
on the payout at its first PROCESSING and never recomputed afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from domain.calendar import ensure_utc
from domain.eligibility import is_disqualifying
from domain.errors import DomainError, InvalidTransition, PayoutRefused
from domain.kyc import KycRecord, KycStatus, is_expired
from domain.membership import ACH_RETURN_WINDOW
from domain.money import Money
from domain.rules import ProgramRules, RulesHistory

# -- amounts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutAmounts:
    """``net = gross − retention_deduction − withholding``; refuses to exist with a non-positive net."""

    gross: Money
    withholding: Money
    retention_deduction: Money

    def __post_init__(self) -> None:
        if not self.gross.is_positive:
            raise DomainError(f"gross must be positive, got {self.gross}")
        if self.withholding.is_negative or self.retention_deduction.is_negative:
            raise DomainError("withholding and retention deduction cannot be negative")
        if not self.net.is_positive:
            raise DomainError(f"net must be positive, got {self.net}")

    @property
    def net(self) -> Money:
        return self.gross - self.retention_deduction - self.withholding


def payout_amounts(*, rules: ProgramRules, w9_certified: bool, retention_prepaid: bool) -> PayoutAmounts:
    """Amounts under the payout's rules version, as of its first PROCESSING.

    Withholding: ``backup_withholding_bps`` of the gross (half-up) unless a certified W-9 is on file. Retention:
    ``retention_months × monthly_dues`` unless the member prepaid it.
    """
    gross = rules.reward
    zero = Money.zero(gross.currency)
    return PayoutAmounts(
        gross=gross,
        withholding=zero if w9_certified else gross.share(rules.backup_withholding_bps),
        retention_deduction=zero if retention_prepaid else rules.retention_amount,
    )


# -- policy numbers outside ProgramRules ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutPolicy:
    """Payout timings stated in DOMAIN.md §8 but not in the §2 table; passed in like ``ProgramRules``."""

    details_change_hold: timedelta = timedelta(hours=72)
    """Changed bank or tax details after the first approval: no PROCESSING before this has passed."""
    info_reminder_days: tuple[int, ...] = (7, 30, 90, 150)
    """``payout.info_required`` reminders, in days after selection, while details are missing."""
    ach_return_window: timedelta = ACH_RETURN_WINDOW
    """An ACH return is accepted up to this long after completion."""


DEFAULT_POLICY = PayoutPolicy()


# -- state machine ----------------------------------------------------------------------------------------------


class PayoutStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class PayoutAction(StrEnum):
    APPROVALS_COMPLETED = "approvals_completed"
    DETAILS_CHANGED = "details_changed"
    SCHEDULE = "schedule"
    START_PROCESSING = "start_processing"
    RETRY = "retry"
    COMPLETE = "complete"
    FAIL = "fail"
    RETURN = "return"
    CANCEL = "cancel"


P = PayoutStatus
A = PayoutAction

TRANSITIONS: Mapping[tuple[PayoutStatus, PayoutAction], PayoutStatus] = MappingProxyType(
    {
        (P.PENDING_APPROVAL, A.APPROVALS_COMPLETED): P.APPROVED,
        (P.APPROVED, A.SCHEDULE): P.SCHEDULED,
        (P.SCHEDULED, A.START_PROCESSING): P.PROCESSING,
        (P.PROCESSING, A.COMPLETE): P.COMPLETED,
        (P.PROCESSING, A.FAIL): P.FAILED,
        (P.FAILED, A.RETRY): P.PROCESSING,
        (P.FAILED, A.CANCEL): P.CANCELLED,
        (P.PENDING_APPROVAL, A.CANCEL): P.CANCELLED,
        (P.APPROVED, A.CANCEL): P.CANCELLED,
        (P.SCHEDULED, A.CANCEL): P.CANCELLED,
        (P.COMPLETED, A.RETURN): P.RETURNED,
        (P.RETURNED, A.RETRY): P.PROCESSING,
        (P.RETURNED, A.CANCEL): P.CANCELLED,
        # Details may change while no money is in flight. Approvals are cleared, so an approved or scheduled
        # payout goes back to waiting for approval; FAILED/RETURNED stay put and need new approvals to retry.
        (P.PENDING_APPROVAL, A.DETAILS_CHANGED): P.PENDING_APPROVAL,
        (P.APPROVED, A.DETAILS_CHANGED): P.PENDING_APPROVAL,
        (P.SCHEDULED, A.DETAILS_CHANGED): P.PENDING_APPROVAL,
        (P.FAILED, A.DETAILS_CHANGED): P.FAILED,
        (P.RETURNED, A.DETAILS_CHANGED): P.RETURNED,
    }
)
"""The whole payout state machine. CANCELLED has no exit; COMPLETED's only exit is RETURNED."""

CANCELLABLE = frozenset(source for (source, action) in TRANSITIONS if action is A.CANCEL)
"""States a payout may be cancelled from (by two staff)."""

SETTLED = frozenset({P.COMPLETED, P.CANCELLED})
"""No money is owed or in flight (a completed payout may still be returned, which reopens it)."""

TERMINAL = frozenset({P.CANCELLED})
"""CANCELLED is final; COMPLETED is not (an ACH return can still arrive)."""


def transition(status: PayoutStatus, action: PayoutAction) -> PayoutStatus:
    """Next status, or ``InvalidTransition`` when the table has no such edge."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition("payout", status, action) from None


def allowed_actions(status: PayoutStatus) -> frozenset[PayoutAction]:
    return frozenset(action for (source, action) in TRANSITIONS if source is status)


# -- staff, approvals, cancellations ----------------------------------------------------------------------------


class StaffRole(StrEnum):
    FINANCE = "finance"
    SUPPORT = "support"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffMember:
    """A staff account acting on a payout. ``person_id`` links it to a person record, if it has one."""

    staff_id: str
    roles: frozenset[StaffRole]
    person_id: str | None = None
    holds_membership: bool = False


class StaffRefusal(StrEnum):
    IS_WINNER = "is_winner"
    HOLDS_MEMBERSHIP = "staff_holds_membership"
    ALREADY_APPROVED = "already_approved"
    APPROVALS_COMPLETE = "approvals_complete"
    WRONG_STATUS = "wrong_status"
    SAME_STAFF_TWICE = "same_staff_twice"
    IS_APPROVER = "is_approver"


def staff_may_join(*, is_staff: bool) -> tuple[StaffRefusal, ...]:
    """Staff cannot hold memberships: they could approve their own friends' payouts or game the queue."""
    return (StaffRefusal.HOLDS_MEMBERSHIP,) if is_staff else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    staff_id: str
    roles: frozenset[StaffRole]
    at: datetime


class ApprovalGap(StrEnum):
    APPROVALS_MISSING = "approvals_missing"
    FINANCE_APPROVAL_MISSING = "finance_approval_missing"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalStatus:
    complete: bool
    gaps: tuple[ApprovalGap, ...]


def approval_status(approvals: Iterable[Approval], rules: ProgramRules) -> ApprovalStatus:
    """Complete iff ``approvals_required`` distinct staff approved and at least one had the finance role."""
    approvals = tuple(approvals)
    gaps: list[ApprovalGap] = []
    if len({a.staff_id for a in approvals}) < rules.approvals_required:
        gaps.append(ApprovalGap.APPROVALS_MISSING)
    if not any(StaffRole.FINANCE in a.roles for a in approvals):
        gaps.append(ApprovalGap.FINANCE_APPROVAL_MISSING)
    return ApprovalStatus(complete=not gaps, gaps=tuple(gaps))


def _is_winner(staff: StaffMember, winner_person_id: str) -> bool:
    return staff.person_id is not None and staff.person_id == winner_person_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancellation:
    """Why and by whom a payout was cancelled. ``reason`` is from ``DisqualifyingReason`` or ``not_disqualifying``."""

    reason: str
    disqualifying: bool
    requested_by: str
    confirmed_by: str
    at: datetime


# -- the payout value -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Payout:
    """One winner's payout. ``rules_version`` is the version it was created under (its numbers never change)."""

    payout_id: str
    membership_id: str
    winner_person_id: str
    round_key: date
    selected_at: datetime
    gross: Money
    rules_version: int
    status: PayoutStatus = PayoutStatus.PENDING_APPROVAL
    approvals: tuple[Approval, ...] = ()
    first_approved_at: datetime | None = None
    hold_until: datetime | None = None
    amounts: PayoutAmounts | None = None
    attempt: int = 0
    completed_at: datetime | None = None
    completed_by: str | None = None
    cancellation: Cancellation | None = None
    withholding_corrections: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "selected_at", ensure_utc(self.selected_at, "selected_at"))


def new_payout(
    *,
    payout_id: str,
    membership_id: str,
    winner_person_id: str,
    round_key: date,
    selected_at: datetime,
    rules: ProgramRules,
) -> Payout:
    """A payout created at selection, ``PENDING_APPROVAL``, for the reward of the rules in force then."""
    return Payout(
        payout_id=payout_id,
        membership_id=membership_id,
        winner_person_id=winner_person_id,
        round_key=round_key,
        selected_at=selected_at,
        gross=rules.reward,
        rules_version=rules.version,
    )


def check_approval(payout: Payout, approver: StaffMember, rules: ProgramRules) -> tuple[StaffRefusal, ...]:
    """Every reason ``approver`` may not approve ``payout`` now (empty = may approve)."""
    reasons: list[StaffRefusal] = []
    if payout.status not in (P.PENDING_APPROVAL, P.FAILED, P.RETURNED):
        reasons.append(StaffRefusal.WRONG_STATUS)
    elif approval_status(payout.approvals, rules).complete:
        reasons.append(StaffRefusal.APPROVALS_COMPLETE)
    if _is_winner(approver, payout.winner_person_id):
        reasons.append(StaffRefusal.IS_WINNER)
    if approver.holds_membership:
        reasons.append(StaffRefusal.HOLDS_MEMBERSHIP)
    if any(a.staff_id == approver.staff_id for a in payout.approvals):
        reasons.append(StaffRefusal.ALREADY_APPROVED)
    return tuple(reasons)


def approve(payout: Payout, approver: StaffMember, now: datetime, rules: ProgramRules) -> Payout:
    """Record one approval; the approval that completes the set moves PENDING_APPROVAL to APPROVED.

    After details changed, a FAILED or RETURNED payout collects new approvals without changing status (its
    retry checks them).
    """
    now = ensure_utc(now, "now")
    refusals = check_approval(payout, approver, rules)
    if refusals:
        raise PayoutRefused("approve", tuple(refusals))
    approvals = (*payout.approvals, Approval(staff_id=approver.staff_id, roles=approver.roles, at=now))
    status = payout.status
    if status is P.PENDING_APPROVAL and approval_status(approvals, rules).complete:
        status = transition(status, A.APPROVALS_COMPLETED)
    return replace(
        payout,
        approvals=approvals,
        status=status,
        first_approved_at=payout.first_approved_at or now,
    )


def schedule(payout: Payout) -> Payout:
    return replace(payout, status=transition(payout.status, A.SCHEDULE))


def change_details(payout: Payout, now: datetime, policy: PayoutPolicy = DEFAULT_POLICY) -> Payout:
    """Bank or tax details changed (step-up auth is the adapter's job).

    Before any approval nothing else changes. After the first approval the approvals are cleared and a hold of
    ``policy.details_change_hold`` starts (the member is told on every channel).
    """
    now = ensure_utc(now, "now")
    status = transition(payout.status, A.DETAILS_CHANGED)
    if payout.first_approved_at is None:
        return payout
    return replace(payout, status=status, approvals=(), hold_until=now + policy.details_change_hold)


# -- processing -------------------------------------------------------------------------------------------------


class ProcessingBlocker(StrEnum):
    APPROVALS_MISSING = "approvals_missing"
    FINANCE_APPROVAL_MISSING = "finance_approval_missing"
    PAYMENT_DETAILS_MISSING = "payment_details_missing"
    KYC_NOT_VERIFIED = "kyc_not_verified"
    KYC_EXPIRED = "kyc_expired"
    DISPUTE_OPEN = "dispute_open"
    DETAILS_CHANGE_HOLD = "details_change_hold"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingFacts:
    """What the use case knows about the winner when it wants to start (or retry) processing."""

    payment_details_on_file: bool
    w9_certified: bool
    retention_prepaid: bool
    kyc: KycRecord
    open_dispute: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingCheck:
    ok: bool
    blockers: tuple[ProcessingBlocker, ...]


def kyc_blocker(kyc: KycRecord, now: datetime, rules: ProgramRules) -> ProcessingBlocker | None:
    """None when KYC is current; an aged verification *blocks* processing, it does not disqualify the winner."""
    if kyc.status is not KycStatus.VERIFIED or kyc.verified_at is None:
        return ProcessingBlocker.KYC_NOT_VERIFIED
    if is_expired(kyc, now, rules):
        return ProcessingBlocker.KYC_EXPIRED
    return None


def processing_check(payout: Payout, facts: ProcessingFacts, now: datetime, rules: ProgramRules) -> ProcessingCheck:
    """Every reason PROCESSING cannot start now (the status itself is checked by the transition table)."""
    now = ensure_utc(now, "now")
    blockers: list[ProcessingBlocker] = [
        ProcessingBlocker(gap.value) for gap in approval_status(payout.approvals, rules).gaps
    ]
    if not facts.payment_details_on_file:
        blockers.append(ProcessingBlocker.PAYMENT_DETAILS_MISSING)
    kyc = kyc_blocker(facts.kyc, now, rules)
    if kyc is not None:
        blockers.append(kyc)
    if facts.open_dispute:
        blockers.append(ProcessingBlocker.DISPUTE_OPEN)
    if payout.hold_until is not None and now < payout.hold_until:
        blockers.append(ProcessingBlocker.DETAILS_CHANGE_HOLD)
    return ProcessingCheck(ok=not blockers, blockers=tuple(blockers))


def start_processing(payout: Payout, facts: ProcessingFacts, now: datetime, rules: ProgramRules) -> Payout:
    """SCHEDULED → PROCESSING, or a retry from FAILED/RETURNED; the first one freezes the amounts.

    ``rules`` must be the payout's own rules version.
    """
    if rules.version != payout.rules_version:
        raise DomainError(f"payout uses rules v{payout.rules_version}, got v{rules.version}")
    action = A.START_PROCESSING if payout.status is P.SCHEDULED else A.RETRY
    status = transition(payout.status, action)
    check = processing_check(payout, facts, now, rules)
    if not check.ok:
        raise PayoutRefused("start_processing", tuple(check.blockers))
    amounts = payout.amounts or payout_amounts(
        rules=rules, w9_certified=facts.w9_certified, retention_prepaid=facts.retention_prepaid
    )
    return replace(payout, status=status, amounts=amounts, attempt=payout.attempt + 1)


def fail(payout: Payout) -> Payout:
    """PROCESSING → FAILED. The approvals are cleared: a retry sends money again, so it needs two staff again
    (one person can never fail a transfer and resend it alone)."""
    return replace(payout, status=transition(payout.status, A.FAIL), approvals=())


def complete(payout: Payout, completed_by: str, now: datetime) -> Payout:
    """PROCESSING → COMPLETED, confirmed by someone who did not approve it (or by the rail itself)."""
    now = ensure_utc(now, "now")
    status = transition(payout.status, A.COMPLETE)
    if any(a.staff_id == completed_by for a in payout.approvals):
        raise PayoutRefused("complete", (StaffRefusal.IS_APPROVER,))
    return replace(payout, status=status, completed_at=now, completed_by=completed_by)


def mark_returned(payout: Payout, now: datetime, policy: PayoutPolicy = DEFAULT_POLICY) -> Payout:
    """COMPLETED → RETURNED for an ACH return within ``policy.ach_return_window`` of completion.

    A later "return" is not a return the rail can produce; it is refused for staff to investigate by hand.
    """
    now = ensure_utc(now, "now")
    status = transition(payout.status, A.RETURN)
    assert payout.completed_at is not None  # COMPLETED always records its instant
    if now > payout.completed_at + policy.ach_return_window:
        raise PayoutRefused("return", ("return_window_closed",))
    # A return usually means the destination was wrong (R02–R04): a retry needs fresh approvals.
    return replace(payout, status=status, completed_at=None, completed_by=None, approvals=())


def check_cancellation(
    payout: Payout, *, requested_by: StaffMember, confirmed_by: StaffMember
) -> tuple[StaffRefusal, ...]:
    """Two distinct staff, neither the winner nor a member, may cancel (or reject) a payout."""
    reasons: list[StaffRefusal] = []
    if payout.status not in CANCELLABLE:
        reasons.append(StaffRefusal.WRONG_STATUS)
    reasons.extend(_two_staff_refusals(payout, requested_by, confirmed_by))
    return tuple(reasons)


def _two_staff_refusals(
    payout: Payout, requested_by: StaffMember, confirmed_by: StaffMember
) -> tuple[StaffRefusal, ...]:
    """The four-eyes rule: two different staff, neither the winner, neither holding a membership."""
    reasons: list[StaffRefusal] = []
    if requested_by.staff_id == confirmed_by.staff_id:
        reasons.append(StaffRefusal.SAME_STAFF_TWICE)
    if any(_is_winner(staff, payout.winner_person_id) for staff in (requested_by, confirmed_by)):
        reasons.append(StaffRefusal.IS_WINNER)
    if requested_by.holds_membership or confirmed_by.holds_membership:
        reasons.append(StaffRefusal.HOLDS_MEMBERSHIP)
    return tuple(reasons)


def cancel(
    payout: Payout,
    *,
    reason: str,
    requested_by: StaffMember,
    confirmed_by: StaffMember,
    now: datetime,
) -> Payout:
    """Cancel with a reason from the closed list, confirmed by a second staff member.

    ``reason`` is a ``DisqualifyingReason`` or ``NOT_DISQUALIFYING`` (anything else raises ``InvalidInput``);
    it decides whether the membership is disqualified. The reward returns to the fund
    (see ``domain.ledger``), and the next daily evaluation replaces the winner from a fresh snapshot.
    """
    now = ensure_utc(now, "now")
    disqualifying = is_disqualifying(reason)
    refusals = check_cancellation(payout, requested_by=requested_by, confirmed_by=confirmed_by)
    if refusals:
        raise PayoutRefused("cancel", refusals)
    return replace(
        payout,
        status=transition(payout.status, A.CANCEL),
        cancellation=Cancellation(
            reason=reason,
            disqualifying=disqualifying,
            requested_by=requested_by.staff_id,
            confirmed_by=confirmed_by.staff_id,
            at=now,
        ),
    )


def counts_as_win(payout: Payout) -> bool:
    """A cancelled, non-disqualified payout does not count as a win (DOMAIN.md §6.4); every other payout does."""
    return payout.cancellation is None or payout.cancellation.disqualifying


def correct_withholding(
    payout: Payout,
    *,
    w9_certified: bool,
    requested_by: StaffMember,
    confirmed_by: StaffMember,
    rules: ProgramRules,
) -> Payout:
    """Correct the withholding frozen at first PROCESSING (e.g. a W-9 certified just too late), by two staff.

    Allowed only while no money is in flight and none has been delivered: FAILED or RETURNED. The next attempt
    pays the corrected net; ``domain.ledger.withholding_corrected`` moves the difference.
    """
    reasons: list[StaffRefusal] = []
    if payout.status not in (P.FAILED, P.RETURNED) or payout.amounts is None:
        reasons.append(StaffRefusal.WRONG_STATUS)
    reasons.extend(_two_staff_refusals(payout, requested_by, confirmed_by))
    if reasons:
        raise PayoutRefused("correct_withholding", tuple(reasons))
    assert payout.amounts is not None
    if rules.version != payout.rules_version:
        raise DomainError(f"payout uses rules v{payout.rules_version}, got v{rules.version}")
    corrected = payout_amounts(
        rules=rules,
        w9_certified=w9_certified,
        retention_prepaid=payout.amounts.retention_deduction.is_zero,
    )
    return replace(payout, amounts=corrected, withholding_corrections=payout.withholding_corrections + 1)


# -- missing details: reminders and the unclaimed deadline --------------------------------------------------------


def info_reminders_due(
    *,
    selected_at: datetime,
    now: datetime,
    already_sent: Iterable[int],
    details_missing: bool,
    policy: PayoutPolicy = DEFAULT_POLICY,
) -> tuple[int, ...]:
    """Reminder days (of ``policy.info_reminder_days``) that are due now and not yet sent.

    Only the latest due one is worth sending after downtime, but all are returned so each is marked sent once.
    """
    if not details_missing:
        return ()
    elapsed = ensure_utc(now, "now") - ensure_utc(selected_at, "selected_at")
    sent = set(already_sent)
    return tuple(d for d in policy.info_reminder_days if timedelta(days=d) <= elapsed and d not in sent)


def unclaimed_deadline(selected_at: datetime, rules: ProgramRules) -> datetime:
    return ensure_utc(selected_at, "selected_at") + timedelta(days=rules.payout_info_deadline_days)


def is_unclaimed(payout: Payout, *, details_missing: bool, now: datetime, rules: ProgramRules) -> bool:
    """Due for cancellation as ``unclaimed`` (by two staff): details still missing at the deadline."""
    return (
        details_missing
        and payout.status in (P.PENDING_APPROVAL, P.APPROVED, P.SCHEDULED)
        and ensure_utc(now, "now") >= unclaimed_deadline(payout.selected_at, rules)
    )


def check_return_window(payout: Payout, now: datetime, policy: PayoutPolicy = DEFAULT_POLICY) -> bool:
    """Can an ACH return still be applied to this completed payout?"""
    return (
        payout.status is P.COMPLETED
        and payout.completed_at is not None
        and ensure_utc(now, "now") <= payout.completed_at + policy.ach_return_window
    )


# -- 1099-MISC --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Form1099Misc:
    """One winner's 1099-MISC for one tax year: box 3 (other income) = gross; box 4 = federal tax withheld."""

    person_id: str
    tax_year: int
    other_income: Money
    federal_tax_withheld: Money
    payout_ids: tuple[str, ...]


RulesLookup = ProgramRules | RulesHistory | Mapping[int, ProgramRules]
"""Where a payout's own rules version is found: a history, a ``version -> rules`` mapping, or a single version."""


def rules_for(payout: Payout, rules: RulesLookup) -> ProgramRules:
    """The rules version ``payout`` was created under (a payout's numbers never follow newer rules)."""
    if isinstance(rules, RulesHistory):
        return rules.version(payout.rules_version)
    if isinstance(rules, ProgramRules):
        found: ProgramRules | None = rules if rules.version == payout.rules_version else None
    else:
        found = rules.get(payout.rules_version)
    if found is None or found.version != payout.rules_version:
        raise DomainError(f"payout {payout.payout_id} uses rules v{payout.rules_version}, which was not given")
    return found


def form_1099_records(payouts: Iterable[Payout], rules: RulesLookup) -> tuple[Form1099Misc, ...]:
    """1099-MISC records from completed (and not returned) payouts, per winner per tax year.

    The tax year is the UTC year of completion. Each payout's threshold is ``form_1099_threshold`` of its *own*
    rules version (``rules`` looks it up). A record is produced when the year's income reaches the lowest of
    those thresholds (report when in doubt), and also below it whenever tax was withheld (withholding must
    always be reported to the IRS).
    """
    grouped: dict[tuple[str, int], list[Payout]] = defaultdict(list)
    for payout in payouts:
        if payout.status is P.COMPLETED and payout.completed_at is not None and payout.amounts is not None:
            grouped[(payout.winner_person_id, payout.completed_at.year)].append(payout)
    records: list[Form1099Misc] = []
    for (person_id, year), group in sorted(grouped.items()):
        currency = group[0].gross.currency
        income = sum((p.gross for p in group), Money.zero(currency))
        withheld = sum((p.amounts.withholding for p in group if p.amounts is not None), Money.zero(currency))
        threshold = min(rules_for(p, rules).form_1099_threshold for p in group)
        if income >= threshold or withheld.is_positive:
            records.append(
                Form1099Misc(
                    person_id=person_id,
                    tax_year=year,
                    other_income=income,
                    federal_tax_withheld=withheld,
                    payout_ids=tuple(sorted(p.payout_id for p in group)),
                )
            )
    return tuple(records)
