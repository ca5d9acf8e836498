"""Membership lifecycle: the transition table and the decisions around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidAmount, InvalidInput, InvalidTransition
from domain.membership import (
    ACH_RETURN_WINDOW,
    ENDED_STATES,
    LIVE_STATES,
    QUEUE_STATES,
    TRANSITIONS,
    CancelRefusal,
    DisputeOutcome,
    JoiningPaymentAction,
    JoinRefusal,
    LatePaymentAction,
    LatePaymentReason,
    MembershipEvent,
    MembershipState,
    PaymentKind,
    ReversalEffect,
    can,
    cancellation_takes_effect,
    current_period_end,
    dispute_decision,
    in_queue,
    is_live,
    joining_payment_action,
    late_payment_decision,
    may_join,
    refund_decision,
    schedule_cancellation,
    tenure_start_on_payment,
    transition,
    undo_cancellation,
    winner_end_at,
)
from domain.money import Money
from domain.payouts import DEFAULT_POLICY
from domain.queue import QueueEntry, QueueKey, positions

S = MembershipState
E = MembershipEvent


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class TestTable:
    def test_happy_paths(self) -> None:
        path = [
            (E.ACTIVATE, S.ACTIVE),
            (E.BECOME_PAST_DUE, S.PAST_DUE),
            (E.CURE, S.ACTIVE),
            (E.WIN, S.WON),
            (E.PAY, S.PAID),
            (E.PAYOUT_RETURNED, S.WON),
            (E.PAY, S.PAID),
            (E.END, S.ENDED),
        ]
        state = S.PENDING
        for event, expected in path:
            state = transition(state, event)
            assert state is expected

    @pytest.mark.parametrize(
        ("state", "event", "expected"),
        [
            (S.PENDING, E.ABANDON, S.ABANDONED),
            (S.PAST_DUE, E.DEFAULT, S.DEFAULTED),
            (S.DEFAULTED, E.REINSTATE, S.ACTIVE),
            (S.ACTIVE, E.CANCEL, S.CANCELLED),
            (S.PAST_DUE, E.CANCEL, S.CANCELLED),
            (S.ACTIVE, E.REVERSE_JOINING, S.CANCELLED),
            (S.PAST_DUE, E.REVERSE_JOINING, S.CANCELLED),
            (S.WON, E.PAYOUT_CANCELLED, S.ACTIVE),
            (S.WON, E.DISQUALIFY, S.CANCELLED),
        ],
    )
    def test_listed_transitions(self, state: S, event: E, expected: S) -> None:
        assert transition(state, event) is expected
        assert can(state, event)

    @pytest.mark.parametrize(
        ("state", "event"),
        [
            (S.PAST_DUE, E.WIN),  # past due keeps its place but never wins
            (S.WON, E.CANCEL),  # a winner cannot cancel
            (S.ACTIVE, E.DEFAULT),  # default only after grace, i.e. from PAST_DUE
            (S.CANCELLED, E.ACTIVATE),
            (S.ENDED, E.ACTIVATE),
            (S.ABANDONED, E.ACTIVATE),
            (S.PENDING, E.WIN),
        ],
    )
    def test_refused_transitions(self, state: S, event: E) -> None:
        with pytest.raises(InvalidTransition) as info:
            transition(state, event)
        assert (info.value.state, info.value.event) == (state, event)
        assert not can(state, event)

    def test_live_and_ended_partition_states(self) -> None:
        assert set(S) == LIVE_STATES | ENDED_STATES
        assert not LIVE_STATES & ENDED_STATES
        assert {S.PENDING, S.ACTIVE, S.PAST_DUE, S.WON, S.PAID} == LIVE_STATES
        assert {S.ACTIVE, S.PAST_DUE} == QUEUE_STATES
        assert is_live(S.WON)
        assert not is_live(S.DEFAULTED)
        assert in_queue(S.PAST_DUE)
        assert not in_queue(S.WON)

    def test_ended_states_have_no_exit_but_late_truth(self) -> None:
        exits = {(state, event) for (state, event) in TRANSITIONS if state in ENDED_STATES}
        assert exits == {(S.DEFAULTED, E.REINSTATE)}

    @given(events=st.lists(st.sampled_from(list(E)), max_size=30))
    def test_any_event_sequence_stays_in_known_states(self, events: list[E]) -> None:
        state = S.PENDING
        for event in events:
            if can(state, event):
                new = transition(state, event)
                # entering the queue from outside only via activation, cure, reinstatement or a cancelled payout
                if new in QUEUE_STATES and state not in QUEUE_STATES:
                    assert event in {E.ACTIVATE, E.REINSTATE, E.PAYOUT_CANCELLED}
                state = new
            else:
                with pytest.raises(InvalidTransition):
                    transition(state, event)
        assert state in set(S)


class TestCancellation:
    anchor = utc(2025, 1, 31, 10)

    def test_period_end_from_anchor(self) -> None:
        assert current_period_end(self.anchor, utc(2025, 2, 10)) == utc(2025, 2, 28, 10)
        assert current_period_end(self.anchor, utc(2025, 2, 28, 10)) == utc(2025, 3, 31, 10)
        assert current_period_end(self.anchor, utc(2025, 1, 1)) == utc(2025, 2, 28, 10)

    def test_schedule_effective_end_of_period(self) -> None:
        decision = schedule_cancellation(state=S.ACTIVE, anchor=self.anchor, now=utc(2025, 4, 2), scheduled_at=None)
        assert decision.ok
        assert decision.reasons == ()
        assert decision.effective_at == utc(2025, 4, 30, 10)

    @pytest.mark.parametrize(
        ("state", "scheduled", "reasons"),
        [
            (S.WON, None, (CancelRefusal.WON,)),
            (S.PAID, None, (CancelRefusal.WON,)),
            (S.PENDING, None, (CancelRefusal.NOT_IN_QUEUE,)),
            (S.DEFAULTED, None, (CancelRefusal.NOT_IN_QUEUE,)),
            (S.ACTIVE, utc(2025, 2, 1), (CancelRefusal.ALREADY_SCHEDULED,)),
            (S.WON, utc(2025, 2, 1), (CancelRefusal.WON, CancelRefusal.ALREADY_SCHEDULED)),
        ],
    )
    def test_schedule_refusals(self, state: S, scheduled: datetime | None, reasons: tuple[CancelRefusal]) -> None:
        decision = schedule_cancellation(state=state, anchor=self.anchor, now=utc(2025, 2, 2), scheduled_at=scheduled)
        assert not decision.ok
        assert decision.reasons == reasons
        assert decision.effective_at is None

    def test_undo_before_effect(self) -> None:
        effective = utc(2025, 2, 28, 10)
        assert undo_cancellation(state=S.PAST_DUE, scheduled_effective_at=effective, now=utc(2025, 2, 28, 9)).ok
        late = undo_cancellation(state=S.ACTIVE, scheduled_effective_at=effective, now=effective)
        assert late.reasons == (CancelRefusal.ALREADY_EFFECTIVE,)
        none = undo_cancellation(state=S.ACTIVE, scheduled_effective_at=None, now=effective)
        assert none.reasons == (CancelRefusal.NOT_SCHEDULED,)
        gone = undo_cancellation(state=S.CANCELLED, scheduled_effective_at=None, now=effective)
        assert gone.reasons == (CancelRefusal.NOT_IN_QUEUE, CancelRefusal.NOT_SCHEDULED)

    def test_takes_effect(self) -> None:
        effective = utc(2025, 2, 28, 10)
        assert not cancellation_takes_effect(
            state=S.ACTIVE, scheduled_effective_at=effective, now=effective - timedelta(seconds=1)
        )
        assert cancellation_takes_effect(state=S.ACTIVE, scheduled_effective_at=effective, now=effective)
        assert not cancellation_takes_effect(state=S.ACTIVE, scheduled_effective_at=None, now=effective)
        assert not cancellation_takes_effect(state=S.DEFAULTED, scheduled_effective_at=effective, now=effective)

    @given(
        anchor=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
        offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2000)),
    )
    def test_effective_at_is_next_anchor_boundary(self, anchor: datetime, offset: timedelta) -> None:
        from domain.calendar import add_months_utc, months_between

        now = anchor + offset
        end = current_period_end(anchor, now)
        assert end > now
        n = months_between(anchor, end)
        assert end == add_months_utc(anchor, n)
        assert add_months_utc(anchor, n - 1) <= now


class TestJoining:
    def test_first_join(self) -> None:
        assert may_join(earlier_states=[], person_has_won=False, identity_has_won=False).ok

    def test_rejoin_after_everything_ended(self) -> None:
        decision = may_join(
            earlier_states=[S.DEFAULTED, S.CANCELLED, S.ABANDONED], person_has_won=False, identity_has_won=False
        )
        assert decision.ok
        assert decision.reasons == ()

    @pytest.mark.parametrize("live", sorted(LIVE_STATES))
    def test_one_live_membership(self, live: S) -> None:
        decision = may_join(earlier_states=[S.CANCELLED, live], person_has_won=False, identity_has_won=False)
        assert not decision.ok
        assert JoinRefusal.HAS_LIVE_MEMBERSHIP in decision.reasons

    def test_winners_never_rejoin(self) -> None:
        assert may_join(earlier_states=[S.ENDED], person_has_won=False, identity_has_won=False).reasons == (
            JoinRefusal.PERSON_HAS_WON,
        )
        assert may_join(earlier_states=[S.CANCELLED], person_has_won=True, identity_has_won=True).reasons == (
            JoinRefusal.PERSON_HAS_WON,
            JoinRefusal.IDENTITY_HAS_WON,
        )

    def test_joining_payment_on_non_pending_is_refunded(self) -> None:
        assert joining_payment_action(S.PENDING) is JoiningPaymentAction.ACTIVATE
        for state in set(S) - {S.PENDING}:
            assert joining_payment_action(state) is JoiningPaymentAction.REFUND


class TestLateTruth:
    grace_end = utc(2025, 3, 1, 12)

    def test_acceptance_paid_before_grace_end_reinstates(self) -> None:
        # paid-at T-1h, event arrives T+2h after the sweep defaulted
        decision = late_payment_decision(
            state=S.DEFAULTED, paid_at=self.grace_end - timedelta(hours=1), grace_ends_at=self.grace_end
        )
        assert decision.action is LatePaymentAction.REINSTATE
        assert decision.reason is LatePaymentReason.PAID_BEFORE_GRACE_END
        assert transition(S.DEFAULTED, E.REINSTATE) is S.ACTIVE

    def test_acceptance_paid_after_grace_end_refunds(self) -> None:
        decision = late_payment_decision(
            state=S.DEFAULTED, paid_at=self.grace_end + timedelta(hours=1), grace_ends_at=self.grace_end
        )
        assert decision.action is LatePaymentAction.REFUND
        assert decision.reason is LatePaymentReason.PAID_AFTER_GRACE_END

    def test_paid_exactly_at_grace_end_is_in_time(self) -> None:
        decision = late_payment_decision(state=S.DEFAULTED, paid_at=self.grace_end, grace_ends_at=self.grace_end)
        assert decision.action is LatePaymentAction.REINSTATE

    def test_other_invoice_still_justifies_default(self) -> None:
        decision = late_payment_decision(
            state=S.DEFAULTED,
            paid_at=self.grace_end - timedelta(hours=1),
            grace_ends_at=self.grace_end,
            default_still_justified=True,
        )
        assert decision.action is LatePaymentAction.REFUND
        assert decision.reason is LatePaymentReason.DEFAULT_STILL_JUSTIFIED

    def test_live_membership_applies(self) -> None:
        decision = late_payment_decision(state=S.PAST_DUE, paid_at=self.grace_end, grace_ends_at=self.grace_end)
        assert decision.action is LatePaymentAction.APPLY

    @pytest.mark.parametrize("state", [S.CANCELLED, S.ENDED, S.ABANDONED])
    def test_other_ended_states_refund(self, state: S) -> None:
        decision = late_payment_decision(state=state, paid_at=self.grace_end, grace_ends_at=self.grace_end)
        assert (decision.action, decision.reason) == (LatePaymentAction.REFUND, LatePaymentReason.MEMBERSHIP_ENDED)

    def test_defaulted_without_grace_end_refunds(self) -> None:
        decision = late_payment_decision(state=S.DEFAULTED, paid_at=self.grace_end, grace_ends_at=None)
        assert decision.action is LatePaymentAction.REFUND

    def test_acceptance_reinstated_member_keeps_the_same_position(self) -> None:
        """§12: reinstated by late truth -> same tenure, same position (the queue is recomputed around it)."""
        start = utc(2024, 1, 1)
        members = {f"m{n}": QueueKey(tenure_start=start + timedelta(days=n), member_number=n) for n in range(1, 6)}

        def queue(states: dict[str, S]) -> dict[str, int]:
            return positions(QueueEntry(membership_id=m, key=k, state=states[m]) for m, k in members.items())

        states = dict.fromkeys(members, S.ACTIVE)
        states["m2"] = S.PAST_DUE
        before_default = queue(states)
        assert before_default["m2"] == 2
        states["m2"] = transition(S.PAST_DUE, E.DEFAULT)
        assert "m2" not in queue(states)
        assert queue(states)["m3"] == 2  # those behind moved up meanwhile
        decision = late_payment_decision(
            state=states["m2"], paid_at=self.grace_end - timedelta(hours=1), grace_ends_at=self.grace_end
        )
        assert decision.action is LatePaymentAction.REINSTATE
        states["m2"] = transition(states["m2"], E.REINSTATE)
        assert queue(states) == before_default

    @pytest.mark.parametrize("paid_offset", [timedelta(hours=-1), timedelta(0)])
    def test_reversed_joining_payment_is_never_reinstated(self, paid_offset: timedelta) -> None:
        """A defaulted membership whose joining payment was refunded or lost in a dispute was never validly
        joined (§5): an in-time late payment is refunded instead of reinstating it."""
        decision = late_payment_decision(
            state=S.DEFAULTED,
            paid_at=self.grace_end + paid_offset,
            grace_ends_at=self.grace_end,
            joining_payment_reversed=True,
        )
        assert decision.action is LatePaymentAction.REFUND
        assert decision.reason is LatePaymentReason.JOINING_PAYMENT_REVERSED

    def test_a_person_who_rejoined_since_the_default_is_not_reinstated(self) -> None:
        """§3: at most one live membership per person. After a default and a rejoin, an in-time payment for the
        old membership cannot bring it back next to the new one: it is refunded."""
        decision = late_payment_decision(
            state=S.DEFAULTED,
            paid_at=self.grace_end - timedelta(hours=1),
            grace_ends_at=self.grace_end,
            person_has_other_live_membership=True,
        )
        assert decision.action is LatePaymentAction.REFUND
        assert decision.reason is LatePaymentReason.PERSON_HAS_REJOINED
        alone = late_payment_decision(
            state=S.DEFAULTED, paid_at=self.grace_end - timedelta(hours=1), grace_ends_at=self.grace_end
        )
        assert alone.action is LatePaymentAction.REINSTATE

    def test_reversed_joining_on_a_live_winner_still_applies(self) -> None:
        """D19: a winner's reversed joining payment is handled by staff on the payout, not here."""
        decision = late_payment_decision(
            state=S.WON, paid_at=self.grace_end, grace_ends_at=None, joining_payment_reversed=True
        )
        assert decision.action is LatePaymentAction.APPLY

    @given(offset=st.integers(min_value=-(10**7), max_value=10**7))
    def test_reinstate_iff_paid_by_grace_end(self, offset: int) -> None:
        paid_at = self.grace_end + timedelta(seconds=offset)
        decision = late_payment_decision(state=S.DEFAULTED, paid_at=paid_at, grace_ends_at=self.grace_end)
        expected = LatePaymentAction.REINSTATE if offset <= 0 else LatePaymentAction.REFUND
        assert decision.action is expected


def usd(cents: int) -> Money:
    return Money(cents=cents)


class TestRefundsAndDisputes:
    def test_partial_dues_refund_is_ledger_only(self) -> None:
        decision = refund_decision(state=S.ACTIVE, kind=PaymentKind.DUES, refunded=usd(1_000), payment=usd(2_500))
        assert decision.effect is ReversalEffect.LEDGER_ONLY
        assert decision.event is None

    def test_full_dues_refund_makes_period_unpaid(self) -> None:
        decision = refund_decision(state=S.ACTIVE, kind=PaymentKind.DUES, refunded=usd(2_500), payment=usd(2_500))
        assert decision.effect is ReversalEffect.PERIOD_UNPAID
        assert decision.event is None  # billing decides PAST_DUE from the reversal time

    @pytest.mark.parametrize("state", [S.ACTIVE, S.PAST_DUE])
    def test_full_joining_refund_cancels(self, state: S) -> None:
        decision = refund_decision(state=state, kind=PaymentKind.JOINING, refunded=usd(30_000), payment=usd(30_000))
        assert decision.effect is ReversalEffect.CANCEL_MEMBERSHIP
        assert decision.event is E.REVERSE_JOINING
        assert transition(state, decision.event) is S.CANCELLED

    def test_partial_joining_refund_is_ledger_only(self) -> None:
        decision = refund_decision(state=S.ACTIVE, kind=PaymentKind.JOINING, refunded=usd(100), payment=usd(30_000))
        assert decision.effect is ReversalEffect.LEDGER_ONLY

    @pytest.mark.parametrize("state", [S.WON, S.PAID])
    def test_winner_joining_reversal_goes_to_staff(self, state: S) -> None:
        decision = refund_decision(state=state, kind=PaymentKind.JOINING, refunded=usd(30_000), payment=usd(30_000))
        assert decision.effect is ReversalEffect.DISQUALIFY_WINNER
        assert decision.event is None

    def test_reversal_on_ended_or_retention_is_ledger_only(self) -> None:
        for state in ENDED_STATES:
            decision = refund_decision(state=state, kind=PaymentKind.DUES, refunded=usd(2_500), payment=usd(2_500))
            assert decision.effect is ReversalEffect.LEDGER_ONLY
        retention = refund_decision(state=S.WON, kind=PaymentKind.RETENTION, refunded=usd(30_000), payment=usd(30_000))
        assert retention.effect is ReversalEffect.LEDGER_ONLY

    def test_joining_reversal_while_pending_is_ledger_only(self) -> None:
        decision = dispute_decision(state=S.PENDING, kind=PaymentKind.JOINING, outcome=DisputeOutcome.LOST)
        assert decision.effect is ReversalEffect.LEDGER_ONLY

    @pytest.mark.parametrize(("refunded", "payment"), [(0, 100), (101, 100), (-1, 100)])
    def test_refund_amount_must_make_sense(self, refunded: int, payment: int) -> None:
        with pytest.raises(InvalidAmount):
            refund_decision(state=S.ACTIVE, kind=PaymentKind.DUES, refunded=usd(refunded), payment=usd(payment))

    def test_disputes(self) -> None:
        opened = dispute_decision(state=S.ACTIVE, kind=PaymentKind.DUES, outcome=DisputeOutcome.OPENED)
        assert opened.effect is ReversalEffect.NOT_ELIGIBLE_WHILE_OPEN
        won = dispute_decision(state=S.ACTIVE, kind=PaymentKind.DUES, outcome=DisputeOutcome.WON)
        assert won.effect is ReversalEffect.LEDGER_ONLY
        lost_dues = dispute_decision(state=S.ACTIVE, kind=PaymentKind.DUES, outcome=DisputeOutcome.LOST)
        assert lost_dues.effect is ReversalEffect.PERIOD_UNPAID
        lost_joining = dispute_decision(state=S.PAST_DUE, kind=PaymentKind.JOINING, outcome=DisputeOutcome.LOST)
        assert lost_joining.effect is ReversalEffect.CANCEL_MEMBERSHIP
        assert lost_joining.event is E.REVERSE_JOINING


class TestWinnerEnd:
    selected = utc(2026, 1, 31)

    def test_retention_later_than_the_return_window(self) -> None:
        end = winner_end_at(selected_at=self.selected, completed_at=utc(2026, 3, 1), retention_months=12)
        assert end == utc(2027, 1, 31)

    def test_waits_for_the_ach_return_window_after_completion(self) -> None:
        """D37: completion 2027-06-01 + 60 days = 2027-07-31, later than selection + 12 months."""
        end = winner_end_at(selected_at=self.selected, completed_at=utc(2027, 6, 1), retention_months=12)
        assert end == utc(2027, 7, 31)

    def test_return_window_matches_the_payout_policy_and_can_be_passed(self) -> None:
        assert ACH_RETURN_WINDOW == timedelta(days=60) == DEFAULT_POLICY.ach_return_window
        end = winner_end_at(
            selected_at=self.selected, completed_at=utc(2027, 6, 1), retention_months=12, return_window=timedelta(0)
        )
        assert end == utc(2027, 6, 1)
        with pytest.raises(InvalidInput):
            winner_end_at(
                selected_at=self.selected,
                completed_at=utc(2027, 6, 1),
                retention_months=12,
                return_window=timedelta(days=-1),
            )

    @given(
        completed_after=st.integers(min_value=0, max_value=10**8),
        retention=st.integers(min_value=0, max_value=24),
    )
    def test_never_before_the_return_window_closes(self, completed_after: int, retention: int) -> None:
        completed = self.selected + timedelta(seconds=completed_after)
        end = winner_end_at(selected_at=self.selected, completed_at=completed, retention_months=retention)
        assert end >= completed + timedelta(days=60)
        assert end >= self.selected + timedelta(days=28 * retention)


class TestTenureStart:
    def test_joining_payment_sets_tenure(self) -> None:
        paid = utc(2025, 1, 31, 9, 30, 15)
        assert tenure_start_on_payment(tenure_start=None, kind=PaymentKind.JOINING, paid_at=paid) == paid
        assert tenure_start_on_payment(tenure_start=None, kind=PaymentKind.DUES, paid_at=paid) is None

    @given(
        joining_offset=st.integers(min_value=0, max_value=10**8),
        later=st.lists(
            st.tuples(st.sampled_from(list(PaymentKind)), st.integers(min_value=-(10**8), max_value=10**9)),
            max_size=20,
        ),
    )
    def test_later_payments_never_change_tenure_start(
        self, joining_offset: int, later: list[tuple[PaymentKind, int]]
    ) -> None:
        joined = utc(2025, 1, 1) + timedelta(seconds=joining_offset)
        tenure = tenure_start_on_payment(tenure_start=None, kind=PaymentKind.JOINING, paid_at=joined)
        for kind, offset in later:
            # even a payment with an earlier paid-at (late truth, second tab) does not move it
            tenure = tenure_start_on_payment(
                tenure_start=tenure, kind=kind, paid_at=utc(2025, 1, 1) + timedelta(seconds=offset)
            )
            assert tenure == joined
