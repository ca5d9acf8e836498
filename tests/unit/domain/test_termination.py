"""Termination for cause (D154): only a membership in the queue, a reason from the closed list, and a person so
terminated does not rejoin."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.membership import (
    QUEUE_STATES,
    WINNER_STATES,
    JoinRefusal,
    MembershipEvent,
    MembershipState,
    can,
    may_join,
    transition,
)
from domain.termination import (
    TerminationReason,
    TerminationRefusal,
    end_reason,
    is_terminated,
    parse_reason,
    termination_refusal,
)


@given(st.sampled_from(MembershipState))
def test_only_a_membership_in_the_queue_can_be_terminated(state: MembershipState) -> None:
    refusal = termination_refusal(state)
    assert (refusal is None) == (state in QUEUE_STATES) == can(state, MembershipEvent.TERMINATE)
    if state in WINNER_STATES:
        assert refusal is TerminationRefusal.WINNER
    if refusal is None:
        assert transition(state, MembershipEvent.TERMINATE) is MembershipState.CANCELLED


@given(st.sampled_from(TerminationReason))
def test_every_reason_round_trips_through_the_end_reason(reason: TerminationReason) -> None:
    assert parse_reason(reason.value) is reason
    assert is_terminated(end_reason(reason))


@pytest.mark.parametrize("value", ["", "Fraud", "because", "terminated:fraud"])
def test_a_reason_outside_the_list_is_refused_naming_the_list(value: str) -> None:
    with pytest.raises(ValueError, match="identity_misrepresented"):
        parse_reason(value)


@pytest.mark.parametrize("reason", [None, "voluntary", "joining_payment_reversed", "default", "unclaimed"])
def test_other_endings_are_not_terminations(reason: str | None) -> None:
    assert not is_terminated(reason)


def test_a_person_terminated_for_cause_may_not_rejoin() -> None:
    ended = [MembershipState.CANCELLED]
    assert may_join(earlier_states=ended, person_has_won=False, identity_has_won=False).ok
    refused = may_join(earlier_states=ended, person_has_won=False, identity_has_won=False, terminated_for_cause=True)
    assert not refused.ok
    assert refused.reasons == (JoinRefusal.TERMINATED_FOR_CAUSE,)
