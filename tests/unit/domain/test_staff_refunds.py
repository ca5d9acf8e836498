"""Staff refunds (D155): the explicit "period stays paid / becomes unpaid" choice, checked against §5."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidAmount
from domain.membership import ENDED_STATES, WINNER_STATES, MembershipState, PaymentKind
from domain.money import Money
from domain.staff_refunds import PeriodEffect, StaffRefund, StaffRefundRefusal, keeps_period_paid, plan_staff_refund

R = StaffRefundRefusal


def plan(
    *,
    kind: PaymentKind = PaymentKind.DUES,
    state: MembershipState = MembershipState.ACTIVE,
    payment: int = 2_500,
    refunded: int = 0,
    requested: int | None = None,
    effect: PeriodEffect = PeriodEffect.STAYS_PAID,
    dispute: str | None = None,
) -> StaffRefund | tuple[StaffRefundRefusal, ...]:
    return plan_staff_refund(
        kind=kind,
        state=state,
        payment=Money(cents=payment),
        refunded=Money(cents=refunded),
        requested=None if requested is None else Money(cents=requested),
        effect=effect,
        dispute_status=dispute,
    )


def test_a_goodwill_refund_of_dues_keeps_the_period_paid() -> None:
    assert plan() == StaffRefund(amount=Money(cents=2_500), completes_refund=True, effect=PeriodEffect.STAYS_PAID)
    assert plan(requested=1_000) == StaffRefund(
        amount=Money(cents=1_000), completes_refund=False, effect=PeriodEffect.STAYS_PAID
    )


def test_only_a_full_refund_makes_a_period_unpaid() -> None:
    assert plan(requested=1_000, effect=PeriodEffect.BECOMES_UNPAID) == (R.PARTIAL_CANNOT_UNPAY,)
    full = plan(refunded=1_000, effect=PeriodEffect.BECOMES_UNPAID)
    assert full == StaffRefund(amount=Money(cents=1_500), completes_refund=True, effect=PeriodEffect.BECOMES_UNPAID)


def test_a_full_joining_refund_cancels_and_cannot_stay_paid() -> None:
    assert plan(kind=PaymentKind.JOINING, payment=30_000) == (R.JOINING_STAYS_PAID,)
    assert isinstance(plan(kind=PaymentKind.JOINING, payment=30_000, requested=2_500), StaffRefund)
    assert isinstance(plan(kind=PaymentKind.JOINING, payment=30_000, effect=PeriodEffect.BECOMES_UNPAID), StaffRefund)


def test_no_period_to_unpay_for_a_retention_payment_or_an_ended_membership() -> None:
    assert plan(kind=PaymentKind.RETENTION, effect=PeriodEffect.BECOMES_UNPAID) == (R.NO_PERIOD,)
    assert plan(state=MembershipState.DEFAULTED, effect=PeriodEffect.BECOMES_UNPAID) == (R.NO_PERIOD,)
    assert isinstance(plan(kind=PaymentKind.RETENTION), StaffRefund)


def test_every_reason_is_given_at_once() -> None:
    refused = plan(state=MembershipState.WON, refunded=2_500, dispute="open", effect=PeriodEffect.BECOMES_UNPAID)
    assert set(refused) == {R.NOTHING_LEFT, R.DISPUTED, R.WINNER}  # type: ignore[arg-type]


def test_a_refund_never_exceeds_what_is_left_and_is_positive() -> None:
    assert plan(refunded=2_000, requested=501) == (R.AMOUNT_TOO_LARGE,)
    with pytest.raises(InvalidAmount):
        plan(requested=0)


@given(
    kind=st.sampled_from(PaymentKind),
    state=st.sampled_from(MembershipState),
    payment=st.integers(1, 100_000),
    data=st.data(),
    effect=st.sampled_from(PeriodEffect),
    dispute=st.sampled_from([None, "open", "won", "lost"]),
)
def test_an_accepted_refund_respects_the_section_5_rules(
    kind: PaymentKind,
    state: MembershipState,
    payment: int,
    data: st.DataObject,
    effect: PeriodEffect,
    dispute: str | None,
) -> None:
    refunded = data.draw(st.integers(0, payment))
    requested = data.draw(st.none() | st.integers(1, payment + 10))
    result = plan(
        kind=kind, state=state, payment=payment, refunded=refunded, requested=requested, effect=effect, dispute=dispute
    )
    if not isinstance(result, StaffRefund):
        assert result  # refused: with at least one reason
        return
    assert 0 < result.amount.cents <= payment - refunded
    assert result.completes_refund == (result.amount.cents == payment - refunded)
    assert state not in WINNER_STATES
    assert dispute not in {"open", "lost"}
    if effect is PeriodEffect.BECOMES_UNPAID:
        assert result.completes_refund
        assert kind is not PaymentKind.RETENTION
        assert state not in ENDED_STATES
    if kind is PaymentKind.JOINING and result.completes_refund and state not in ENDED_STATES:
        assert effect is PeriodEffect.BECOMES_UNPAID  # a fully refunded joining payment is never "still paid"


def test_only_the_stays_paid_mark_keeps_a_period_paid() -> None:
    assert keeps_period_paid("stays_paid")
    assert not any(keeps_period_paid(v) for v in (None, "", "becomes_unpaid", "STAYS_PAID"))
