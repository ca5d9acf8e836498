"""Payouts: amounts, the state machine, approvals, processing gates, details hold, reminders, 1099s."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from domain.eligibility import NOT_DISQUALIFYING, DisqualifyingReason
from domain.errors import DomainError, InvalidInput, InvalidTransition, PayoutRefused, RulesInvalid
from domain.kyc import KycRecord, KycStatus
from domain.money import Money
from domain.payouts import (
    TERMINAL,
    TRANSITIONS,
    ApprovalGap,
    Payout,
    PayoutAction,
    PayoutAmounts,
    PayoutPolicy,
    PayoutStatus,
    ProcessingBlocker,
    ProcessingFacts,
    StaffMember,
    StaffRefusal,
    StaffRole,
    allowed_actions,
    approval_status,
    approve,
    cancel,
    change_details,
    check_approval,
    check_return_window,
    complete,
    correct_withholding,
    counts_as_win,
    fail,
    form_1099_records,
    info_reminders_due,
    is_unclaimed,
    mark_returned,
    new_payout,
    payout_amounts,
    processing_check,
    rules_for,
    schedule,
    staff_may_join,
    start_processing,
    transition,
    unclaimed_deadline,
)
from domain.rules import ProgramRules, RulesHistory

RULES = ProgramRules()
S = PayoutStatus
A = PayoutAction
T0 = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)

FIN = StaffMember(staff_id="s_fin", roles=frozenset({StaffRole.FINANCE}), person_id="pp_fin")
OPS = StaffMember(staff_id="s_ops", roles=frozenset({StaffRole.SUPPORT}))
OPS2 = StaffMember(staff_id="s_ops2", roles=frozenset({StaffRole.COMPLIANCE}))
CLERK = StaffMember(staff_id="s_clerk", roles=frozenset({StaffRole.FINANCE}))

VERIFIED = KycRecord(status=KycStatus.VERIFIED, verified_at=T0 - timedelta(days=30), country="US")
READY = ProcessingFacts(
    payment_details_on_file=True, w9_certified=True, retention_prepaid=False, kyc=VERIFIED, open_dispute=False
)


def usd(cents: int) -> Money:
    return Money(cents=cents)


def fresh(rules: ProgramRules = RULES) -> Payout:
    return new_payout(
        payout_id="po_1",
        membership_id="m_1",
        winner_person_id="p_win",
        round_key=date(2025, 3, 1),
        selected_at=T0,
        rules=rules,
    )


def approved() -> Payout:
    return approve(approve(fresh(), FIN, T0, RULES), OPS, T0, RULES)


def processing(facts: ProcessingFacts = READY) -> Payout:
    return start_processing(schedule(approved()), facts, T0 + timedelta(hours=1), RULES)


def reapproved(payout: Payout) -> Payout:
    """A failed or returned payout approved again by two staff (one from finance), as a retry requires."""
    return approve(approve(payout, CLERK, T0, RULES), OPS2, T0, RULES)


# -- amounts (§8 examples) -----------------------------------------------------------------------------------------


def test_net_with_w9_and_no_prepaid_retention_is_99_700() -> None:
    amounts = payout_amounts(rules=RULES, w9_certified=True, retention_prepaid=False)
    assert (amounts.gross, amounts.withholding, amounts.retention_deduction) == (usd(10_000_000), usd(0), usd(30_000))
    assert amounts.net == usd(9_970_000)


def test_net_without_w9_is_75_700_with_24_000_withheld() -> None:
    amounts = payout_amounts(rules=RULES, w9_certified=False, retention_prepaid=False)
    assert amounts.withholding == usd(2_400_000)
    assert amounts.net == usd(7_570_000)


def test_net_without_w9_and_prepaid_retention_is_76_000() -> None:
    amounts = payout_amounts(rules=RULES, w9_certified=False, retention_prepaid=True)
    assert amounts.net == usd(7_600_000)


def test_net_with_w9_and_prepaid_retention_is_the_gross() -> None:
    assert payout_amounts(rules=RULES, w9_certified=True, retention_prepaid=True).net == usd(10_000_000)


@st.composite
def valid_rules(draw: st.DrawFn) -> ProgramRules:
    reward = draw(st.integers(1, 50_000_000))
    try:
        return ProgramRules(
            reward=usd(reward),
            payout_threshold=usd(reward),
            monthly_dues=usd(draw(st.integers(1, 10_000))),
            joining_fee=usd(draw(st.integers(10_000, 40_000))),
            retention_months=draw(st.integers(0, 24)),
            backup_withholding_bps=draw(st.integers(0, 10_000)),
        )
    except RulesInvalid:
        reject()


@given(valid_rules(), st.booleans(), st.booleans())
def test_net_is_gross_minus_retention_minus_withholding_and_positive(
    rules: ProgramRules, w9: bool, prepaid: bool
) -> None:
    amounts = payout_amounts(rules=rules, w9_certified=w9, retention_prepaid=prepaid)
    assert amounts.net == amounts.gross - amounts.retention_deduction - amounts.withholding
    assert amounts.net.is_positive
    # Independent of Money.share: bps of a positive gross, half-up = floor((gross x bps + 5_000) / 10_000).
    expected_withholding = (rules.reward.cents * rules.backup_withholding_bps + 5_000) // 10_000
    assert amounts.withholding == usd(0 if w9 else expected_withholding)
    assert amounts.retention_deduction == usd(0 if prepaid else rules.monthly_dues.cents * rules.retention_months)


def test_amounts_refuse_a_non_positive_net_or_negative_parts() -> None:
    with pytest.raises(DomainError, match="net"):
        PayoutAmounts(gross=usd(100), withholding=usd(60), retention_deduction=usd(40))
    with pytest.raises(DomainError, match="negative"):
        PayoutAmounts(gross=usd(100), withholding=usd(-1), retention_deduction=usd(0))
    with pytest.raises(DomainError, match="gross"):
        PayoutAmounts(gross=usd(0), withholding=usd(0), retention_deduction=usd(0))


# -- the state machine -----------------------------------------------------------------------------------------------


def test_happy_path_through_the_table() -> None:
    status = S.PENDING_APPROVAL
    for action, expected in [
        (A.APPROVALS_COMPLETED, S.APPROVED),
        (A.SCHEDULE, S.SCHEDULED),
        (A.START_PROCESSING, S.PROCESSING),
        (A.FAIL, S.FAILED),
        (A.RETRY, S.PROCESSING),
        (A.COMPLETE, S.COMPLETED),
        (A.RETURN, S.RETURNED),
        (A.RETRY, S.PROCESSING),
        (A.COMPLETE, S.COMPLETED),
    ]:
        status = transition(status, action)
        assert status is expected


@pytest.mark.parametrize("source", [S.PENDING_APPROVAL, S.APPROVED, S.SCHEDULED, S.FAILED, S.RETURNED])
def test_cancellable_states(source: PayoutStatus) -> None:
    assert transition(source, A.CANCEL) is S.CANCELLED


@pytest.mark.parametrize("source", [S.PROCESSING, S.COMPLETED, S.CANCELLED])
def test_no_cancel_while_money_is_in_flight_or_gone(source: PayoutStatus) -> None:
    with pytest.raises(InvalidTransition):
        transition(source, A.CANCEL)


SPEC_EDGES = {
    # §8, literally
    (S.PENDING_APPROVAL, A.APPROVALS_COMPLETED, S.APPROVED),
    (S.APPROVED, A.SCHEDULE, S.SCHEDULED),
    (S.SCHEDULED, A.START_PROCESSING, S.PROCESSING),
    (S.PROCESSING, A.COMPLETE, S.COMPLETED),
    (S.PROCESSING, A.FAIL, S.FAILED),
    (S.FAILED, A.RETRY, S.PROCESSING),
    (S.FAILED, A.CANCEL, S.CANCELLED),
    (S.PENDING_APPROVAL, A.CANCEL, S.CANCELLED),
    (S.APPROVED, A.CANCEL, S.CANCELLED),
    (S.SCHEDULED, A.CANCEL, S.CANCELLED),
    (S.COMPLETED, A.RETURN, S.RETURNED),
    (S.RETURNED, A.RETRY, S.PROCESSING),
    (S.RETURNED, A.CANCEL, S.CANCELLED),
    # D32: details changed after the first approval
    (S.PENDING_APPROVAL, A.DETAILS_CHANGED, S.PENDING_APPROVAL),
    (S.APPROVED, A.DETAILS_CHANGED, S.PENDING_APPROVAL),
    (S.SCHEDULED, A.DETAILS_CHANGED, S.PENDING_APPROVAL),
    (S.FAILED, A.DETAILS_CHANGED, S.FAILED),
    (S.RETURNED, A.DETAILS_CHANGED, S.RETURNED),
}


def test_transition_table_is_exactly_the_spec() -> None:
    assert {(source, action, target) for (source, action), target in TRANSITIONS.items()} == SPEC_EDGES


@given(st.sampled_from(PayoutStatus), st.sampled_from(PayoutAction))
def test_cancelled_has_no_exit_and_completed_only_returns(status: PayoutStatus, action: PayoutAction) -> None:
    expected = {(source, act): target for source, act, target in SPEC_EDGES}.get((status, action))
    if status is S.CANCELLED or (status is S.COMPLETED and action is not A.RETURN):
        assert expected is None
    if expected is None:
        with pytest.raises(InvalidTransition):
            transition(status, action)
    else:
        assert transition(status, action) is expected


def test_allowed_actions_summarise_the_table() -> None:
    assert allowed_actions(S.CANCELLED) == frozenset()
    assert allowed_actions(S.COMPLETED) == {A.RETURN}
    assert allowed_actions(S.PROCESSING) == {A.COMPLETE, A.FAIL}
    assert {S.CANCELLED} == TERMINAL
    # Every status but CANCELLED can move; every target is a known status.
    assert {src for src, _ in TRANSITIONS} == set(PayoutStatus) - TERMINAL


# -- approvals ------------------------------------------------------------------------------------------------------


def test_two_distinct_staff_with_one_finance_approve() -> None:
    one = approve(fresh(), OPS, T0, RULES)
    assert one.status is S.PENDING_APPROVAL
    assert approval_status(one.approvals, RULES).gaps == (
        ApprovalGap.APPROVALS_MISSING,
        ApprovalGap.FINANCE_APPROVAL_MISSING,
    )
    two = approve(one, FIN, T0, RULES)
    assert two.status is S.APPROVED
    assert approval_status(two.approvals, RULES).complete


def test_two_non_finance_approvals_are_not_enough() -> None:
    payout = approve(approve(fresh(), OPS, T0, RULES), OPS2, T0, RULES)
    assert payout.status is S.PENDING_APPROVAL
    assert approval_status(payout.approvals, RULES).gaps == (ApprovalGap.FINANCE_APPROVAL_MISSING,)
    assert approve(payout, FIN, T0, RULES).status is S.APPROVED


def test_the_same_staff_cannot_approve_twice() -> None:
    with pytest.raises(PayoutRefused) as refused:
        approve(approve(fresh(), FIN, T0, RULES), FIN, T0, RULES)
    assert refused.value.reasons == (StaffRefusal.ALREADY_APPROVED,)


def test_the_winner_never_approves_and_staff_hold_no_membership() -> None:
    winner_staff = StaffMember(staff_id="s_w", roles=frozenset({StaffRole.FINANCE}), person_id="p_win")
    assert check_approval(fresh(), winner_staff, RULES) == (StaffRefusal.IS_WINNER,)
    member_staff = replace(FIN, holds_membership=True)
    assert check_approval(fresh(), member_staff, RULES) == (StaffRefusal.HOLDS_MEMBERSHIP,)
    assert staff_may_join(is_staff=True) == (StaffRefusal.HOLDS_MEMBERSHIP,)
    assert staff_may_join(is_staff=False) == ()


def test_no_approval_once_complete_or_in_flight() -> None:
    assert check_approval(approved(), OPS2, RULES) == (StaffRefusal.WRONG_STATUS,)
    assert check_approval(processing(), OPS2, RULES) == (StaffRefusal.WRONG_STATUS,)
    # A failed payout loses its approvals (a retry sends money again); once re-approved, more are superfluous.
    assert fail(processing()).approvals == ()
    assert check_approval(fail(processing()), OPS2, RULES) == ()
    assert check_approval(reapproved(fail(processing())), FIN, RULES) == (StaffRefusal.APPROVALS_COMPLETE,)
    three = ProgramRules(approvals_required=3)
    done = approve(approve(approve(fresh(three), FIN, T0, three), OPS, T0, three), OPS2, T0, three)
    assert done.status is S.APPROVED


staff_st = st.builds(
    StaffMember,
    staff_id=st.sampled_from(["a", "b", "c", "d"]),
    roles=st.frozensets(st.sampled_from(StaffRole), max_size=2),
    person_id=st.sampled_from([None, "p_win", "p_x"]),
    holds_membership=st.booleans(),
)


@given(st.lists(staff_st, min_size=1, max_size=4, unique_by=lambda m: m.staff_id), st.data())
def test_approvals_are_distinct_include_finance_and_never_the_winner(
    pool: list[StaffMember], data: st.DataObject
) -> None:
    """Any sequence of approval attempts (repeats included) yields only valid approvals."""
    attempts = data.draw(st.lists(st.sampled_from(pool), max_size=8))
    payout = fresh()
    for member in attempts:
        try:
            payout = approve(payout, member, T0, RULES)
        except PayoutRefused:
            continue
    ids = [a.staff_id for a in payout.approvals]
    assert len(ids) == len(set(ids))
    by_id = {m.staff_id: m for m in pool}
    assert all(by_id[i].person_id != "p_win" and not by_id[i].holds_membership for i in ids)
    if payout.status is S.APPROVED:
        assert len(ids) >= RULES.approvals_required
        assert any(StaffRole.FINANCE in a.roles for a in payout.approvals)
    else:
        assert not approval_status(payout.approvals, RULES).complete


# -- processing ----------------------------------------------------------------------------------------------------


def test_processing_freezes_amounts_at_the_first_attempt() -> None:
    no_w9 = replace(READY, w9_certified=False)
    started = processing(no_w9)
    assert started.status is S.PROCESSING
    assert started.attempt == 1
    assert started.amounts == payout_amounts(rules=RULES, w9_certified=False, retention_prepaid=False)
    # A retry needs two approvals again.
    with pytest.raises(PayoutRefused) as refused:
        start_processing(fail(started), READY, T0 + timedelta(days=1), RULES)
    assert refused.value.reasons == (ProcessingBlocker.APPROVALS_MISSING, ProcessingBlocker.FINANCE_APPROVAL_MISSING)
    # A W-9 arriving later does not change the withholding of the retry.
    retried = start_processing(reapproved(fail(started)), READY, T0 + timedelta(days=1), RULES)
    assert retried.attempt == 2
    assert retried.amounts == started.amounts


def test_processing_lists_every_blocker() -> None:
    facts = ProcessingFacts(
        payment_details_on_file=False,
        w9_certified=False,
        retention_prepaid=False,
        kyc=KycRecord(status=KycStatus.NEEDS_REVIEW),
        open_dispute=True,
    )
    check = processing_check(fresh(), facts, T0, RULES)
    assert not check.ok
    assert check.blockers == (
        ProcessingBlocker.APPROVALS_MISSING,
        ProcessingBlocker.FINANCE_APPROVAL_MISSING,
        ProcessingBlocker.PAYMENT_DETAILS_MISSING,
        ProcessingBlocker.KYC_NOT_VERIFIED,
        ProcessingBlocker.DISPUTE_OPEN,
    )


def test_aged_kyc_blocks_processing_without_cancelling() -> None:
    old = replace(VERIFIED, verified_at=T0 - timedelta(days=800))
    scheduled = schedule(approved())
    with pytest.raises(PayoutRefused) as refused:
        start_processing(scheduled, replace(READY, kyc=old), T0, RULES)
    assert refused.value.reasons == (ProcessingBlocker.KYC_EXPIRED,)
    assert scheduled.status is S.SCHEDULED  # still the winner's payout: renewal unblocks it


def test_missing_w9_does_not_block_processing() -> None:
    assert processing_check(approved(), replace(READY, w9_certified=False), T0, RULES).ok


def test_start_processing_needs_the_payouts_own_rules_version() -> None:
    with pytest.raises(DomainError, match="rules v1"):
        start_processing(schedule(approved()), READY, T0, ProgramRules(version=2))


def test_processing_only_from_scheduled_failed_or_returned() -> None:
    with pytest.raises(InvalidTransition):
        start_processing(approved(), READY, T0, RULES)


# -- details change hold -------------------------------------------------------------------------------------------


def test_details_change_before_any_approval_changes_nothing() -> None:
    assert change_details(fresh(), T0) == fresh()


def test_details_change_after_approval_clears_approvals_and_holds_72h() -> None:
    changed = change_details(schedule(approved()), T0)
    assert changed.status is S.PENDING_APPROVAL
    assert changed.approvals == ()
    assert changed.hold_until == T0 + timedelta(hours=72)
    reapproved = approve(approve(changed, OPS2, T0, RULES), CLERK, T0, RULES)
    scheduled = schedule(reapproved)
    with pytest.raises(PayoutRefused) as refused:
        start_processing(scheduled, READY, T0 + timedelta(hours=71, minutes=59), RULES)
    assert refused.value.reasons == (ProcessingBlocker.DETAILS_CHANGE_HOLD,)
    assert start_processing(scheduled, READY, T0 + timedelta(hours=72), RULES).status is S.PROCESSING


def test_details_change_after_first_approval_only() -> None:
    one = approve(fresh(), OPS, T0, RULES)
    changed = change_details(one, T0, PayoutPolicy(details_change_hold=timedelta(hours=5)))
    assert changed.approvals == ()
    assert changed.hold_until == T0 + timedelta(hours=5)
    # The approvals are gone but the first approval happened: a second change restarts the hold.
    again = change_details(changed, T0 + timedelta(hours=1))
    assert again.hold_until == T0 + timedelta(hours=73)


def test_details_change_on_a_failed_payout_needs_new_approvals_to_retry() -> None:
    failed = fail(processing())
    changed = change_details(failed, T0)
    assert changed.status is S.FAILED
    with pytest.raises(PayoutRefused) as refused:
        start_processing(changed, READY, T0 + timedelta(hours=80), RULES)
    assert ProcessingBlocker.APPROVALS_MISSING in refused.value.reasons
    reapproved = approve(approve(changed, OPS2, T0, RULES), CLERK, T0, RULES)
    assert reapproved.status is S.FAILED
    assert start_processing(reapproved, READY, T0 + timedelta(hours=80), RULES).status is S.PROCESSING


@pytest.mark.parametrize("make", [processing, lambda: complete(processing(), "s_clerk", T0)])
def test_no_details_change_while_money_is_in_flight_or_delivered(make: object) -> None:
    with pytest.raises(InvalidTransition):
        change_details(make(), T0)  # type: ignore[operator]


# -- completion, returns ---------------------------------------------------------------------------------------------


def test_the_person_marking_completed_is_not_an_approver() -> None:
    with pytest.raises(PayoutRefused) as refused:
        complete(processing(), FIN.staff_id, T0)
    assert refused.value.reasons == (StaffRefusal.IS_APPROVER,)
    done = complete(processing(), CLERK.staff_id, T0 + timedelta(days=1))
    assert (done.status, done.completed_by, done.completed_at) == (S.COMPLETED, "s_clerk", T0 + timedelta(days=1))


def test_ach_return_within_60_days() -> None:
    done = complete(processing(), "rail:nacha", T0)
    assert check_return_window(done, T0 + timedelta(days=60))
    assert not check_return_window(done, T0 + timedelta(days=60, seconds=1))
    returned = mark_returned(done, T0 + timedelta(days=60))
    assert returned.status is S.RETURNED
    assert returned.completed_at is None
    with pytest.raises(PayoutRefused, match="return_window_closed"):
        mark_returned(done, T0 + timedelta(days=61))
    assert not check_return_window(processing(), T0)


def test_returned_payout_can_retry_and_complete_again() -> None:
    returned = mark_returned(complete(processing(), "rail", T0), T0 + timedelta(days=3))
    assert returned.approvals == (), "a return usually means a bad destination: approve the retry again"
    again = start_processing(reapproved(returned), READY, T0 + timedelta(days=4), RULES)
    assert (again.status, again.attempt) == (S.PROCESSING, 2)


# -- cancellation ----------------------------------------------------------------------------------------------------


def test_cancellation_needs_two_distinct_staff_not_the_winner() -> None:
    with pytest.raises(PayoutRefused) as refused:
        cancel(fresh(), reason=NOT_DISQUALIFYING, requested_by=OPS, confirmed_by=OPS, now=T0)
    assert refused.value.reasons == (StaffRefusal.SAME_STAFF_TWICE,)
    winner_staff = StaffMember(staff_id="s_w", roles=frozenset(), person_id="p_win", holds_membership=True)
    with pytest.raises(PayoutRefused) as refused:
        cancel(fresh(), reason="fraud", requested_by=OPS, confirmed_by=winner_staff, now=T0)
    assert refused.value.reasons == (StaffRefusal.IS_WINNER, StaffRefusal.HOLDS_MEMBERSHIP)


def test_cancellation_reason_must_come_from_the_closed_list() -> None:
    with pytest.raises(InvalidInput):
        cancel(fresh(), reason="changed_my_mind", requested_by=OPS, confirmed_by=FIN, now=T0)


@pytest.mark.parametrize("reason", [*DisqualifyingReason, NOT_DISQUALIFYING])
def test_cancellation_records_whether_it_disqualifies(reason: str) -> None:
    cancelled = cancel(approved(), reason=reason, requested_by=OPS, confirmed_by=OPS2, now=T0)
    assert cancelled.status is S.CANCELLED
    assert cancelled.cancellation is not None
    assert cancelled.cancellation.disqualifying is (reason != NOT_DISQUALIFYING)
    assert (cancelled.cancellation.requested_by, cancelled.cancellation.confirmed_by) == ("s_ops", "s_ops2")
    # §6.4: a cancelled non-disqualified payout does not count as a win; a disqualified one does.
    assert counts_as_win(cancelled) is (reason != NOT_DISQUALIFYING)
    assert counts_as_win(approved())


def test_cannot_cancel_processing_or_completed() -> None:
    with pytest.raises(PayoutRefused) as refused:
        cancel(processing(), reason="fraud", requested_by=OPS, confirmed_by=OPS2, now=T0)
    assert refused.value.reasons == (StaffRefusal.WRONG_STATUS,)


# -- missing details ------------------------------------------------------------------------------------------------


def test_info_reminders_at_7_30_90_150_days() -> None:
    def due(days: float, sent: tuple[int, ...] = ()) -> tuple[int, ...]:
        return info_reminders_due(
            selected_at=T0, now=T0 + timedelta(days=days), already_sent=sent, details_missing=True
        )

    assert due(6.99) == ()
    assert due(7) == (7,)
    assert due(31, sent=(7,)) == (30,)
    assert due(150, sent=(7, 30)) == (90, 150)
    assert due(200, sent=(7, 30, 90, 150)) == ()
    assert (
        info_reminders_due(selected_at=T0, now=T0 + timedelta(days=200), already_sent=(), details_missing=False) == ()
    )


def test_unclaimed_at_the_info_deadline() -> None:
    deadline = unclaimed_deadline(T0, RULES)
    assert deadline == T0 + timedelta(days=180)
    assert not is_unclaimed(fresh(), details_missing=True, now=deadline - timedelta(seconds=1), rules=RULES)
    assert is_unclaimed(fresh(), details_missing=True, now=deadline, rules=RULES)
    assert not is_unclaimed(fresh(), details_missing=False, now=deadline, rules=RULES)
    assert not is_unclaimed(processing(), details_missing=True, now=deadline, rules=RULES)


# -- 1099-MISC -----------------------------------------------------------------------------------------------------


def _completed(payout_id: str, person: str, at: datetime, w9: bool = True) -> Payout:
    base = replace(fresh(), payout_id=payout_id, winner_person_id=person)
    base = approve(approve(base, FIN, T0, RULES), OPS, T0, RULES)
    started = start_processing(schedule(base), replace(READY, w9_certified=w9), T0, RULES)
    return complete(started, "rail", at)


def test_1099_from_completed_not_returned_payouts_per_winner_and_year() -> None:
    a = _completed("po_a", "p_a", datetime(2025, 12, 31, 23, 59, tzinfo=UTC), w9=False)
    b = _completed("po_b", "p_b", datetime(2026, 1, 1, tzinfo=UTC))
    returned = mark_returned(_completed("po_c", "p_c", T0), T0 + timedelta(days=1))
    records = form_1099_records([b, a, returned, processing()], RULES)
    assert [(r.person_id, r.tax_year, r.payout_ids) for r in records] == [
        ("p_a", 2025, ("po_a",)),
        ("p_b", 2026, ("po_b",)),
    ]
    assert records[0].other_income == usd(10_000_000)  # box 3 = gross, not net
    assert records[0].federal_tax_withheld == usd(2_400_000)
    assert records[1].federal_tax_withheld == usd(0)


def test_1099_threshold() -> None:
    small = ProgramRules(form_1099_threshold=usd(20_000_000))
    w9 = _completed("po_a", "p_a", T0)
    assert form_1099_records([w9], small) == ()
    # Withholding is always reported, even below the threshold.
    withheld = _completed("po_b", "p_b", T0, w9=False)
    assert [r.person_id for r in form_1099_records([withheld], small)] == ["p_b"]


V2_HIGH_THRESHOLD = ProgramRules(
    version=2, effective_at=datetime(2026, 1, 1, tzinfo=UTC), form_1099_threshold=usd(20_000_000)
)


def test_1099_uses_each_payouts_own_rules_version() -> None:
    """A payout created under v1 keeps v1's threshold even after v2 raised it (rules never apply backwards)."""
    history = RulesHistory.of(RULES, V2_HIGH_THRESHOLD)
    under_v1 = _completed("po_a", "p_a", T0)
    under_v2 = replace(_completed("po_b", "p_b", T0), rules_version=2)
    records = form_1099_records([under_v1, under_v2], history)
    assert [r.person_id for r in records] == ["p_a"]
    as_mapping = {1: RULES, 2: V2_HIGH_THRESHOLD}
    assert form_1099_records([under_v1, under_v2], as_mapping) == records
    # the lowest threshold of a winner's payouts in the year decides (report when in doubt)
    both = form_1099_records([under_v1, replace(under_v2, winner_person_id="p_a")], history)
    assert [(r.person_id, r.payout_ids) for r in both] == [("p_a", ("po_a", "po_b"))]


def test_rules_for_refuses_a_missing_version() -> None:
    payout = fresh()
    assert rules_for(payout, RULES) is RULES
    assert rules_for(payout, RulesHistory.of(RULES, V2_HIGH_THRESHOLD)) is RULES
    with pytest.raises(DomainError, match="rules v1"):
        rules_for(payout, V2_HIGH_THRESHOLD)
    with pytest.raises(DomainError, match="rules v1"):
        rules_for(payout, {2: V2_HIGH_THRESHOLD})
    with pytest.raises(DomainError, match="rules v1"):
        rules_for(payout, {1: V2_HIGH_THRESHOLD})  # a mapping whose entry is another version


# -- withholding correction ----------------------------------------------------------------------------------------


def test_withholding_correction_needs_two_staff_and_no_money_in_flight() -> None:
    failed = fail(processing(replace(READY, w9_certified=False)))
    assert failed.amounts is not None
    assert failed.amounts.withholding == usd(2_400_000)
    corrected = correct_withholding(failed, w9_certified=True, requested_by=OPS, confirmed_by=CLERK, rules=RULES)
    assert corrected.amounts == payout_amounts(rules=RULES, w9_certified=True, retention_prepaid=False)
    assert corrected.withholding_corrections == 1
    # The retry pays the corrected net; the amounts stay frozen at the corrected values.
    retried = start_processing(reapproved(corrected), replace(READY, w9_certified=False), T0, RULES)
    assert retried.amounts == corrected.amounts
    with pytest.raises(PayoutRefused) as refused:
        correct_withholding(failed, w9_certified=True, requested_by=OPS, confirmed_by=OPS, rules=RULES)
    assert refused.value.reasons == (StaffRefusal.SAME_STAFF_TWICE,)
    for busy in (processing(), approved(), complete(processing(), "rail", T0)):
        with pytest.raises(PayoutRefused) as refused:
            correct_withholding(busy, w9_certified=True, requested_by=OPS, confirmed_by=CLERK, rules=RULES)
        assert refused.value.reasons == (StaffRefusal.WRONG_STATUS,)
    with pytest.raises(DomainError, match="rules v1"):
        correct_withholding(
            failed, w9_certified=True, requested_by=OPS, confirmed_by=CLERK, rules=ProgramRules(version=2)
        )


def test_withholding_correction_keeps_a_prepaid_retention_prepaid() -> None:
    prepaid = replace(READY, w9_certified=False, retention_prepaid=True)
    returned = mark_returned(complete(processing(prepaid), "rail", T0), T0 + timedelta(days=1))
    corrected = correct_withholding(returned, w9_certified=True, requested_by=OPS, confirmed_by=CLERK, rules=RULES)
    assert corrected.amounts is not None
    assert corrected.amounts.net == usd(10_000_000)
