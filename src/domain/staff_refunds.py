"""A refund staff give a member, with the explicit choice of what it does to the period the payment paid for.

DOMAIN.md §5: a *full* refund of a dues payment makes that period unpaid (grace from the refund time) and a full
refund of the joining payment cancels the membership; partial refunds only post to the ledger. A goodwill refund
("sorry for the trouble, this month is on us") must not push a member into grace, so staff choose: the period
**stays paid** (the refund is marked so at the provider and the reversal rule is not applied) or **becomes
unpaid** (the §5 rule applies; only a full refund can do that). Nothing here is decided silently (D155).
"""

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import InvalidAmount
from domain.membership import ENDED_STATES, WINNER_STATES, MembershipState, PaymentKind
from domain.money import Money


class PeriodEffect(StrEnum):
    STAYS_PAID = "stays_paid"
    BECOMES_UNPAID = "becomes_unpaid"


class StaffRefundRefusal(StrEnum):
    NOTHING_LEFT = "nothing_left_to_refund"
    AMOUNT_TOO_LARGE = "amount_too_large"
    PARTIAL_CANNOT_UNPAY = "partial_refund_cannot_unpay"
    """Only a full refund makes a period unpaid (§5)."""
    NO_PERIOD = "no_period_to_unpay"
    """A retention prepayment, or a membership that has ended: there is no paid period to take back."""
    JOINING_STAYS_PAID = "full_joining_refund_cancels"
    """A fully refunded joining payment means the member never validly joined (§5); it cannot "stay paid"."""
    DISPUTED = "payment_disputed"
    """The card network holds the money: the provider refuses refunds of a disputed charge."""
    WINNER = "winner"
    """A winner's money is settled through the payout (its retention deduction and cancellation rules)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffRefund:
    amount: Money
    completes_refund: bool
    """This refund makes the payment fully refunded."""
    effect: PeriodEffect


def plan_staff_refund(
    *,
    kind: PaymentKind,
    state: MembershipState,
    payment: Money,
    refunded: Money,
    requested: Money | None,
    effect: PeriodEffect,
    dispute_status: str | None,
) -> StaffRefund | tuple[StaffRefundRefusal, ...]:
    """The refund to send (``requested`` ``None`` = all that remains), or every reason it is refused."""
    if requested is not None and not requested.is_positive:
        raise InvalidAmount("a refund amount must be positive")
    remaining = payment - refunded
    amount = remaining if requested is None else requested
    refusals: list[StaffRefundRefusal] = []
    if not remaining.is_positive:
        refusals.append(StaffRefundRefusal.NOTHING_LEFT)
    elif amount > remaining:
        refusals.append(StaffRefundRefusal.AMOUNT_TOO_LARGE)
    if dispute_status in {"open", "lost"}:
        refusals.append(StaffRefundRefusal.DISPUTED)
    if state in WINNER_STATES:
        refusals.append(StaffRefundRefusal.WINNER)
    completes = amount == remaining
    if effect is PeriodEffect.BECOMES_UNPAID:
        if kind is PaymentKind.RETENTION or state in ENDED_STATES:
            refusals.append(StaffRefundRefusal.NO_PERIOD)
        elif not completes:
            refusals.append(StaffRefundRefusal.PARTIAL_CANNOT_UNPAY)
    elif kind is PaymentKind.JOINING and completes and state not in ENDED_STATES:
        refusals.append(StaffRefundRefusal.JOINING_STAYS_PAID)
    if refusals:
        return tuple(refusals)
    return StaffRefund(amount=amount, completes_refund=completes, effect=effect)


def keeps_period_paid(effect: str | None) -> bool:
    """Read back from the provider refund that completed a payment's refund: did staff say "stays paid"?"""
    return effect == PeriodEffect.STAYS_PAID.value
