"""Membership lifecycle (DOMAIN.md §3, §5, §7): an explicit transition table plus the decisions around it.

Why a table: every state change of a membership moves a member's place in a paid queue, so the set of legal
changes must be readable at a glance and impossible to extend by accident. Everything that is a *business
decision* (may this person rejoin, what does this refund do) returns a value with reasons; only asking for a
transition the table lacks raises ``InvalidTransition``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import add_months_utc, ensure_utc, months_between
from domain.errors import InvalidAmount, InvalidInput, InvalidTransition
from domain.money import Money


class MembershipState(StrEnum):
    PENDING = "pending"
    """Checkout started, joining fee not paid."""
    ACTIVE = "active"
    PAST_DUE = "past_due"
    """An invoice is unpaid past its grace start; keeps its place, not eligible."""
    WON = "won"
    PAID = "paid"
    """The payout is COMPLETED."""
    ENDED = "ended"
    """After a win: ``max(selection + retention_months, completion + ACH return window)`` (D37)."""
    CANCELLED = "cancelled"
    DEFAULTED = "defaulted"
    ABANDONED = "abandoned"
    """Checkout expired unpaid."""


class MembershipEvent(StrEnum):
    ACTIVATE = "activate"
    """The joining invoice is paid (tenure_start = provider paid-at)."""
    ABANDON = "abandon"
    BECOME_PAST_DUE = "become_past_due"
    CURE = "cure"
    DEFAULT = "default"
    REINSTATE = "reinstate"
    """Late truth: a payment paid before grace ended reverses a default (§5), the only reinstatement."""
    CANCEL = "cancel"
    """A scheduled voluntary cancellation takes effect at the end of the period."""
    REVERSE_JOINING = "reverse_joining"
    """Full refund or lost dispute of the joining payment: never validly joined."""
    WIN = "win"
    PAY = "pay"
    """The payout reached COMPLETED."""
    PAYOUT_RETURNED = "payout_returned"
    """ACH return: COMPLETED -> RETURNED puts the membership back to WON."""
    PAYOUT_CANCELLED = "payout_cancelled"
    """Non-disqualifying payout cancellation: back to ACTIVE with the original tenure and place."""
    DISQUALIFY = "disqualify"
    """Payout cancelled for a disqualifying reason."""
    TERMINATE = "terminate"
    """Two staff end a membership in the queue for a reason from a closed list (``domain.termination``)."""
    END = "end"


S = MembershipState
E = MembershipEvent

TRANSITIONS: dict[tuple[MembershipState, MembershipEvent], MembershipState] = {
    (S.PENDING, E.ACTIVATE): S.ACTIVE,
    (S.PENDING, E.ABANDON): S.ABANDONED,
    (S.ACTIVE, E.BECOME_PAST_DUE): S.PAST_DUE,
    (S.PAST_DUE, E.CURE): S.ACTIVE,
    (S.PAST_DUE, E.DEFAULT): S.DEFAULTED,
    (S.DEFAULTED, E.REINSTATE): S.ACTIVE,
    (S.ACTIVE, E.CANCEL): S.CANCELLED,
    (S.PAST_DUE, E.CANCEL): S.CANCELLED,
    (S.ACTIVE, E.REVERSE_JOINING): S.CANCELLED,
    (S.PAST_DUE, E.REVERSE_JOINING): S.CANCELLED,
    (S.ACTIVE, E.TERMINATE): S.CANCELLED,
    (S.PAST_DUE, E.TERMINATE): S.CANCELLED,
    (S.ACTIVE, E.WIN): S.WON,
    (S.WON, E.PAY): S.PAID,
    (S.PAID, E.PAYOUT_RETURNED): S.WON,
    (S.WON, E.PAYOUT_CANCELLED): S.ACTIVE,
    (S.WON, E.DISQUALIFY): S.CANCELLED,
    (S.PAID, E.END): S.ENDED,
}
"""Every legal change. Ended states have no exit except DEFAULTED's late-truth reinstatement."""

LIVE_STATES = frozenset({S.PENDING, S.ACTIVE, S.PAST_DUE, S.WON, S.PAID})
ENDED_STATES = frozenset({S.ENDED, S.CANCELLED, S.DEFAULTED, S.ABANDONED})
QUEUE_STATES = frozenset({S.ACTIVE, S.PAST_DUE})
"""Memberships that hold a place in the queue."""
WINNER_STATES = frozenset({S.WON, S.PAID, S.ENDED})
"""States only a selected winner can be in."""


def transition(state: MembershipState, event: MembershipEvent) -> MembershipState:
    """The state after ``event``, or ``InvalidTransition``."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition("membership", state, event) from None


def can(state: MembershipState, event: MembershipEvent) -> bool:
    return (state, event) in TRANSITIONS


def is_live(state: MembershipState) -> bool:
    return state in LIVE_STATES


def in_queue(state: MembershipState) -> bool:
    return state in QUEUE_STATES


def tenure_start_on_payment(*, tenure_start: datetime | None, kind: PaymentKind, paid_at: datetime) -> datetime | None:
    """Tenure starts at the provider paid-at of the joining payment that activated the membership; no later
    payment (dues, cure, late truth, retention) ever moves it, whatever its paid-at. A second joining payment
    (two tabs) is refunded, not re-anchored.
    """
    paid_at = ensure_utc(paid_at, "paid_at")
    if tenure_start is not None:
        return tenure_start
    return paid_at if kind is PaymentKind.JOINING else None


# -- voluntary cancellation (§5) ----------------------------------------------------------------------------------


class CancelRefusal(StrEnum):
    NOT_IN_QUEUE = "not_in_queue"
    """Only ACTIVE or PAST_DUE memberships hold a period that can end."""
    WON = "won"
    """A winner cannot cancel; declining a payout goes through staff (§8)."""
    ALREADY_SCHEDULED = "already_scheduled"
    NOT_SCHEDULED = "not_scheduled"
    ALREADY_EFFECTIVE = "already_effective"


@dataclass(frozen=True, slots=True, kw_only=True)
class CancellationDecision:
    ok: bool
    reasons: tuple[CancelRefusal, ...]
    effective_at: datetime | None = None


def current_period_end(anchor: datetime, now: datetime) -> datetime:
    """End of the monthly period containing ``now``; periods are ``[due(n), due(n+1))`` from the anchor.

    The anchor is the joining payment's paid-at time (= the billing anchor). Before the anchor (clock skew)
    the first period is used.
    """
    anchor, now = ensure_utc(anchor, "anchor"), ensure_utc(now, "now")
    elapsed = months_between(anchor, now) if now >= anchor else 0
    return add_months_utc(anchor, elapsed + 1)


def schedule_cancellation(
    *, state: MembershipState, anchor: datetime, now: datetime, scheduled_at: datetime | None
) -> CancellationDecision:
    """May the member schedule a cancellation now, and when will it take effect (end of current period)?"""
    reasons: list[CancelRefusal] = []
    if state is S.WON or state is S.PAID:
        reasons.append(CancelRefusal.WON)
    elif state not in QUEUE_STATES:
        reasons.append(CancelRefusal.NOT_IN_QUEUE)
    if scheduled_at is not None:
        reasons.append(CancelRefusal.ALREADY_SCHEDULED)
    if reasons:
        return CancellationDecision(ok=False, reasons=tuple(reasons))
    return CancellationDecision(ok=True, reasons=(), effective_at=current_period_end(anchor, now))


def undo_cancellation(
    *, state: MembershipState, scheduled_effective_at: datetime | None, now: datetime
) -> CancellationDecision:
    """A scheduled cancellation can be undone while it has not taken effect (the place was kept meanwhile)."""
    now = ensure_utc(now, "now")
    reasons: list[CancelRefusal] = []
    if state not in QUEUE_STATES:
        reasons.append(CancelRefusal.NOT_IN_QUEUE)
    if scheduled_effective_at is None:
        reasons.append(CancelRefusal.NOT_SCHEDULED)
    elif ensure_utc(scheduled_effective_at, "scheduled_effective_at") <= now:
        reasons.append(CancelRefusal.ALREADY_EFFECTIVE)
    return CancellationDecision(ok=not reasons, reasons=tuple(reasons), effective_at=None)


def cancellation_takes_effect(
    *, state: MembershipState, scheduled_effective_at: datetime | None, now: datetime
) -> bool:
    """Should the CANCEL event be applied now? (A sweep asks; the effective instant is inclusive.)"""
    return (
        state in QUEUE_STATES
        and scheduled_effective_at is not None
        and ensure_utc(scheduled_effective_at, "scheduled_effective_at") <= ensure_utc(now, "now")
    )


# -- joining and rejoining (§3, §5, §6) ---------------------------------------------------------------------------


class JoinRefusal(StrEnum):
    HAS_LIVE_MEMBERSHIP = "has_live_membership"
    PERSON_HAS_WON = "person_has_won"
    IDENTITY_HAS_WON = "identity_has_won"
    TERMINATED_FOR_CAUSE = "terminated_for_cause"


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinDecision:
    ok: bool
    reasons: tuple[JoinRefusal, ...]


def may_join(
    *,
    earlier_states: Iterable[MembershipState],
    person_has_won: bool,
    identity_has_won: bool,
    terminated_for_cause: bool = False,
) -> JoinDecision:
    """May this person start a new membership (first join or rejoin)?

    Allowed only when every earlier membership is ended, and never for a person or identity that has been
    selected as a winner. ``*_has_won`` come from payouts: a non-disqualifying cancelled payout does not count,
    a disqualifying one does. An earlier membership in a winner state is treated as a win regardless. A person
    whose membership two staff terminated for cause does not come back by paying again (D154).
    """
    states = tuple(earlier_states)
    reasons: list[JoinRefusal] = []
    if any(state in LIVE_STATES for state in states):
        reasons.append(JoinRefusal.HAS_LIVE_MEMBERSHIP)
    if person_has_won or any(state in WINNER_STATES for state in states):
        reasons.append(JoinRefusal.PERSON_HAS_WON)
    if identity_has_won:
        reasons.append(JoinRefusal.IDENTITY_HAS_WON)
    if terminated_for_cause:
        reasons.append(JoinRefusal.TERMINATED_FOR_CAUSE)
    return JoinDecision(ok=not reasons, reasons=tuple(reasons))


class JoiningPaymentAction(StrEnum):
    ACTIVATE = "activate"
    REFUND = "refund"
    """The membership is not PENDING (e.g. two tabs): refund automatically through the outbox."""


def joining_payment_action(state: MembershipState) -> JoiningPaymentAction:
    """What to do with a paid joining invoice: activate a PENDING membership, refund anything else."""
    return JoiningPaymentAction.ACTIVATE if state is S.PENDING else JoiningPaymentAction.REFUND


# -- late truth (§5) -----------------------------------------------------------------------------------------------


class LatePaymentAction(StrEnum):
    APPLY = "apply"
    """Membership is live: record the payment normally (it may cure)."""
    REINSTATE = "reinstate"
    REFUND = "refund"


class LatePaymentReason(StrEnum):
    MEMBERSHIP_LIVE = "membership_live"
    PAID_BEFORE_GRACE_END = "paid_before_grace_end"
    PAID_AFTER_GRACE_END = "paid_after_grace_end"
    DEFAULT_STILL_JUSTIFIED = "default_still_justified"
    MEMBERSHIP_ENDED = "membership_ended"
    JOINING_PAYMENT_REVERSED = "joining_payment_reversed"
    """The joining payment was fully refunded or lost in a dispute: never validly joined, nothing to reinstate."""
    PERSON_HAS_REJOINED = "person_has_rejoined"
    """The person holds another live membership since the default: reinstating would give them two (§3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LatePaymentDecision:
    action: LatePaymentAction
    reason: LatePaymentReason


def late_payment_decision(
    *,
    state: MembershipState,
    paid_at: datetime,
    grace_ends_at: datetime | None,
    default_still_justified: bool = False,
    joining_payment_reversed: bool = False,
    person_has_other_live_membership: bool = False,
) -> LatePaymentDecision:
    """A dues payment learnt of now; what does it do to the membership?

    A payment whose *provider* paid-at is at or before ``grace_ends_at`` was in time, whenever we hear of it
    (grace is closed at its end, see ``billing``), so a default it contradicts is reversed (DEFAULTED -> ACTIVE,
    same tenure). Paid after ``grace_ends_at`` -> stays DEFAULTED and the payment is refunded.
    ``default_still_justified`` (from ``billing.default_was_justified``) covers a membership with several
    unpaid invoices: paying one in time does not undo a default another one earned; the payment is then
    refunded too. ``joining_payment_reversed`` (joining payment fully refunded or dispute lost, whenever that
    happened): the membership was never validly joined (§5), so late truth cannot bring it back; refund.
    ``person_has_other_live_membership``: the person rejoined after the default; a person holds at most one
    live membership (§3), so the old one stays DEFAULTED and the late payment is refunded.
    """
    paid_at = ensure_utc(paid_at, "paid_at")
    if state in LIVE_STATES:
        return LatePaymentDecision(action=LatePaymentAction.APPLY, reason=LatePaymentReason.MEMBERSHIP_LIVE)
    if state is not S.DEFAULTED or grace_ends_at is None:
        return LatePaymentDecision(action=LatePaymentAction.REFUND, reason=LatePaymentReason.MEMBERSHIP_ENDED)
    if joining_payment_reversed:
        return LatePaymentDecision(action=LatePaymentAction.REFUND, reason=LatePaymentReason.JOINING_PAYMENT_REVERSED)
    if person_has_other_live_membership:
        return LatePaymentDecision(action=LatePaymentAction.REFUND, reason=LatePaymentReason.PERSON_HAS_REJOINED)
    if paid_at > ensure_utc(grace_ends_at, "grace_ends_at"):
        return LatePaymentDecision(action=LatePaymentAction.REFUND, reason=LatePaymentReason.PAID_AFTER_GRACE_END)
    if default_still_justified:
        return LatePaymentDecision(action=LatePaymentAction.REFUND, reason=LatePaymentReason.DEFAULT_STILL_JUSTIFIED)
    return LatePaymentDecision(action=LatePaymentAction.REINSTATE, reason=LatePaymentReason.PAID_BEFORE_GRACE_END)


# -- refunds and disputes (§5) -------------------------------------------------------------------------------------


class PaymentKind(StrEnum):
    JOINING = "joining"
    DUES = "dues"
    RETENTION = "retention"
    """Optional one-time retention prepayment (§7); non-refundable, never changes the membership."""


class ReversalEffect(StrEnum):
    LEDGER_ONLY = "ledger_only"
    """Post to the ledger; no state change."""
    PERIOD_UNPAID = "period_unpaid"
    """The dues period is unpaid again: grace starts at the reversal time."""
    CANCEL_MEMBERSHIP = "cancel_membership"
    """REVERSE_JOINING: CANCELLED, subscription cancelled, later dues not refunded automatically."""
    DISQUALIFY_WINNER = "disqualify_winner"
    """A winner's joining payment reversed: staff cancel the payout as ``joining_payment_reversed``."""
    NOT_ELIGIBLE_WHILE_OPEN = "not_eligible_while_open"
    """An open dispute: not eligible (``payment_disputed``) until it closes."""


class DisputeOutcome(StrEnum):
    OPENED = "opened"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReversalDecision:
    effect: ReversalEffect
    event: MembershipEvent | None
    """The membership event to apply now, if any."""
    reason: str


def refund_decision(*, state: MembershipState, kind: PaymentKind, refunded: Money, payment: Money) -> ReversalDecision:
    """Effect of a refund (``refunded`` = cumulative refunds of the payment) on the membership.

    Only a *full* reversal of a payment changes the membership: a dues period becomes unpaid, the joining
    payment means the membership was never validly joined. Partial refunds only post to the ledger.
    """
    if not (refunded.is_positive and refunded <= payment):
        raise InvalidAmount("refunded amount must be positive and at most the payment")
    if refunded < payment:
        return ReversalDecision(effect=ReversalEffect.LEDGER_ONLY, event=None, reason="partial_refund")
    return _full_reversal(state, kind, "full_refund")


def dispute_decision(*, state: MembershipState, kind: PaymentKind, outcome: DisputeOutcome) -> ReversalDecision:
    """Effect of a dispute event: open -> not eligible; won -> nothing; lost -> like a full refund."""
    if outcome is DisputeOutcome.OPENED:
        return ReversalDecision(effect=ReversalEffect.NOT_ELIGIBLE_WHILE_OPEN, event=None, reason="dispute_opened")
    if outcome is DisputeOutcome.WON:
        return ReversalDecision(effect=ReversalEffect.LEDGER_ONLY, event=None, reason="dispute_won")
    return _full_reversal(state, kind, "dispute_lost")


def _full_reversal(state: MembershipState, kind: PaymentKind, why: str) -> ReversalDecision:
    if kind is PaymentKind.RETENTION or state in ENDED_STATES:
        return ReversalDecision(effect=ReversalEffect.LEDGER_ONLY, event=None, reason=why)
    if kind is PaymentKind.DUES:
        return ReversalDecision(effect=ReversalEffect.PERIOD_UNPAID, event=None, reason=why)
    if state in QUEUE_STATES:
        return ReversalDecision(
            effect=ReversalEffect.CANCEL_MEMBERSHIP, event=MembershipEvent.REVERSE_JOINING, reason=why
        )
    if state in WINNER_STATES:
        return ReversalDecision(effect=ReversalEffect.DISQUALIFY_WINNER, event=None, reason=why)
    return ReversalDecision(effect=ReversalEffect.LEDGER_ONLY, event=None, reason=why)


# -- winners' end (§7) ---------------------------------------------------------------------------------------------

ACH_RETURN_WINDOW = timedelta(days=60)
"""§8: an ACH return can arrive up to 60 days after completion (``payouts.PayoutPolicy`` defaults to this)."""


def winner_end_at(
    *,
    selected_at: datetime,
    completed_at: datetime,
    retention_months: int,
    return_window: timedelta = ACH_RETURN_WINDOW,
) -> datetime:
    """``ENDED = max(selection + retention_months, completion + return_window)`` (D37).

    §7 says ``max(selection + retention, completion)``, but an ACH return puts the membership back to WON (§8),
    which an ENDED membership cannot do; so ENDED also waits until the return window after completion closed.
    """
    if return_window < timedelta(0):
        raise InvalidInput("return_window must not be negative")
    return max(
        add_months_utc(ensure_utc(selected_at, "selected_at"), retention_months),
        ensure_utc(completed_at, "completed_at") + return_window,
    )
