"""KYC: transitions, attempt limits, validity, stale events, staff precedence, review reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidTransition
from domain.kyc import (
    TRANSITIONS,
    KycEvent,
    KycNote,
    KycRecord,
    KycStatus,
    KycUpdate,
    ProviderOutcome,
    ProviderResult,
    ReviewReason,
    StaffDecision,
    StaffRefusal,
    StartRefusal,
    apply_provider_result,
    expires_at,
    is_current,
    is_expired,
    may_start_attempt,
    needs_refetch,
    staff_decide,
    staff_required,
    start_attempt,
    transition,
)
from domain.rules import ProgramRules

K = KycStatus
RULES = ProgramRules()
T0 = datetime(2025, 5, 1, 12, tzinfo=UTC)
DOB = date(1990, 4, 2)


def result(outcome: ProviderOutcome, at: datetime, attempt: str = "a1", **kw: object) -> ProviderResult:
    data: dict[str, object] = {"date_of_birth": DOB, "country": "US", "fingerprint": "f" * 64}
    data.update(kw)
    return ProviderResult(attempt_id=attempt, outcome=outcome, occurred_at=at, **data)  # type: ignore[arg-type]


def pending(at: datetime = T0) -> KycRecord:
    return start_attempt(KycRecord(), attempt_id="a1", now=at)


def apply(record: KycRecord, res: ProviderResult, conflict: bool = False, profile: date | None = DOB) -> KycUpdate:
    return apply_provider_result(record, res, fingerprint_conflict=conflict, profile_date_of_birth=profile)


def verified(at: datetime = T0) -> KycRecord:
    return apply(pending(at - timedelta(minutes=5)), result(ProviderOutcome.VERIFIED, at)).record


class TestTable:
    def test_main_path(self) -> None:
        assert transition(K.NOT_STARTED, KycEvent.START) is K.PENDING
        assert transition(K.PENDING, KycEvent.PROVIDER_VERIFIED) is K.VERIFIED
        assert transition(K.PENDING, KycEvent.SESSION_ENDED) is K.NOT_STARTED

    def test_refused(self) -> None:
        with pytest.raises(InvalidTransition):
            transition(K.NOT_STARTED, KycEvent.PROVIDER_VERIFIED)
        with pytest.raises(InvalidTransition):
            transition(K.PENDING, KycEvent.STAFF_APPROVE)

    def test_only_start_or_staff_leave_failed(self) -> None:
        exits = {event for (status, event) in TRANSITIONS if status is K.FAILED}
        assert exits == {KycEvent.START, KycEvent.STAFF_APPROVE}


class TestAttempts:
    def test_start_sets_pending(self) -> None:
        record = pending()
        assert record.status is K.PENDING
        assert record.attempt_id == "a1"
        assert record.attempt_started_at == T0

    def test_limit_in_rolling_30_days(self) -> None:
        starts = [T0 - timedelta(days=29), T0 - timedelta(days=10), T0 - timedelta(days=1)]
        decision = may_start_attempt(record=KycRecord(), previous_starts=starts, now=T0, rules=RULES)
        assert not decision.ok
        assert decision.reasons == (StartRefusal.ATTEMPT_LIMIT_REACHED,)
        assert decision.retry_after == T0 + timedelta(days=1)
        later = may_start_attempt(record=KycRecord(), previous_starts=starts, now=T0 + timedelta(days=1), rules=RULES)
        assert later.ok
        assert later.retry_after is None

    def test_starts_older_than_window_do_not_count(self) -> None:
        starts = [T0 - timedelta(days=30), T0 - timedelta(days=40), T0 - timedelta(days=2)]
        assert may_start_attempt(record=KycRecord(), previous_starts=starts, now=T0, rules=RULES).ok

    def test_expired_session_allows_retry(self) -> None:
        record = apply(pending(), result(ProviderOutcome.EXPIRED, T0 + timedelta(minutes=30))).record
        assert record.status is K.NOT_STARTED
        assert record.attempt_id is None
        assert may_start_attempt(record=record, previous_starts=[T0], now=T0 + timedelta(hours=1), rules=RULES).ok

    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            (pending(), StartRefusal.ATTEMPT_IN_PROGRESS),
            (replace(pending(), status=K.NEEDS_REVIEW), StartRefusal.UNDER_REVIEW),
            (verified(), StartRefusal.ALREADY_VERIFIED),
        ],
    )
    def test_refusals(self, record: KycRecord, reason: StartRefusal) -> None:
        decision = may_start_attempt(record=record, previous_starts=[], now=T0 + timedelta(hours=1), rules=RULES)
        assert decision.reasons == (reason,)

    def test_renewal_after_expiry(self) -> None:
        record = verified()
        later = expires_at(T0, RULES) + timedelta(seconds=1)
        assert may_start_attempt(record=record, previous_starts=[], now=later, rules=RULES).ok
        renewed = start_attempt(record, attempt_id="a2", now=later)
        assert renewed.status is K.PENDING

    @given(
        offsets=st.lists(st.integers(min_value=0, max_value=90 * 24), max_size=8),
        now_h=st.integers(min_value=0, max_value=90 * 24),
    )
    def test_never_more_than_limit_in_any_window(self, offsets: list[int], now_h: int) -> None:
        now = T0 + timedelta(hours=now_h)
        starts = [T0 + timedelta(hours=h) for h in offsets if h <= now_h]
        decision = may_start_attempt(record=KycRecord(), previous_starts=starts, now=now, rules=RULES)
        recent = [s for s in starts if now - timedelta(days=30) < s <= now]
        assert decision.ok is (len(recent) < RULES.kyc_attempts_per_30_days)
        if decision.retry_after is not None:
            assert decision.retry_after > now
            window = [s for s in starts if decision.retry_after - timedelta(days=30) < s <= decision.retry_after]
            assert len(window) < RULES.kyc_attempts_per_30_days

    def test_refetch_of_stale_pending(self) -> None:
        record = pending()
        assert not needs_refetch(record, T0 + timedelta(minutes=15), RULES)
        assert needs_refetch(record, T0 + timedelta(minutes=16), RULES)
        assert not needs_refetch(verified(), T0 + timedelta(days=1), RULES)


class TestValidity:
    def test_expires_after_kyc_valid_months(self) -> None:
        record = verified()
        end = expires_at(T0, RULES)
        assert end == datetime(2027, 5, 1, 12, tzinfo=UTC)
        assert is_current(record, end, RULES)
        assert not is_expired(record, end, RULES)
        assert is_expired(record, end + timedelta(seconds=1), RULES)
        assert not is_current(record, end + timedelta(seconds=1), RULES)

    def test_not_verified_is_not_current(self) -> None:
        assert not is_current(pending(), T0, RULES)
        assert not is_expired(pending(), T0, RULES)


class TestProviderResults:
    def test_verified(self) -> None:
        update = apply(pending(), result(ProviderOutcome.VERIFIED, T0 + timedelta(minutes=3)))
        assert update.applied
        assert update.note is KycNote.APPLIED
        assert update.record.status is K.VERIFIED
        assert update.record.verified_at == T0 + timedelta(minutes=3)
        assert update.record.date_of_birth == DOB
        assert update.record.country == "US"

    def test_failed(self) -> None:
        update = apply(pending(), result(ProviderOutcome.FAILED, T0 + timedelta(minutes=3)))
        assert update.record.status is K.FAILED
        assert update.record.verified_at is None

    def test_duplicate_fingerprint_needs_review(self) -> None:
        update = apply(pending(), result(ProviderOutcome.VERIFIED, T0 + timedelta(minutes=3)), conflict=True)
        assert update.record.status is K.NEEDS_REVIEW
        assert update.record.review_reasons == (ReviewReason.DUPLICATE_IDENTITY,)
        assert update.record.verified_at is None

    def test_dob_mismatch_needs_review(self) -> None:
        update = apply(pending(), result(ProviderOutcome.VERIFIED, T0), profile=date(1990, 4, 3))
        assert update.record.status is K.NEEDS_REVIEW
        assert update.record.review_reasons == (ReviewReason.DOB_MISMATCH,)

    def test_missing_data_needs_review(self) -> None:
        update = apply(pending(), result(ProviderOutcome.VERIFIED, T0, country=None), profile=None)
        assert update.record.review_reasons == (ReviewReason.MISSING_IDENTITY_DATA,)

    def test_provider_review(self) -> None:
        update = apply(pending(), result(ProviderOutcome.NEEDS_REVIEW, T0))
        assert update.record.status is K.NEEDS_REVIEW
        assert update.record.review_reasons == (ReviewReason.PROVIDER_REVIEW,)
        later = apply(update.record, result(ProviderOutcome.VERIFIED, T0 + timedelta(hours=2)))
        assert later.record.status is K.VERIFIED

    def test_stale_event_never_downgrades(self) -> None:
        record = verified(T0 + timedelta(minutes=10))
        stale = apply(record, result(ProviderOutcome.FAILED, T0 + timedelta(minutes=5)))
        assert not stale.applied
        assert stale.note is KycNote.STALE_EVENT
        assert stale.record is record

    @pytest.mark.parametrize("outcome", [ProviderOutcome.FAILED, ProviderOutcome.NEEDS_REVIEW])
    def test_same_second_event_never_downgrades_verified(self, outcome: ProviderOutcome) -> None:
        """§10: a FAILED/NEEDS_REVIEW stamped in the same second as VERIFIED cannot be shown to be newer."""
        record = verified(T0)
        tie = apply(record, result(outcome, T0))
        assert not tie.applied
        assert tie.note is KycNote.STALE_EVENT
        assert tie.record is record

    def test_same_second_failed_does_not_downgrade_review(self) -> None:
        review = apply(pending(), result(ProviderOutcome.NEEDS_REVIEW, T0)).record
        tie = apply(review, result(ProviderOutcome.FAILED, T0))
        assert (tie.applied, tie.record.status) == (False, K.NEEDS_REVIEW)

    def test_same_second_upgrade_or_equal_is_applied(self) -> None:
        failed = apply(pending(), result(ProviderOutcome.FAILED, T0)).record
        review = apply(pending(), result(ProviderOutcome.NEEDS_REVIEW, T0)).record
        assert apply(review, result(ProviderOutcome.VERIFIED, T0)).record.status is K.VERIFIED
        assert apply(review, result(ProviderOutcome.NEEDS_REVIEW, T0)).applied
        # a result in the same second as the attempt's start is not a downgrade of PENDING
        assert apply(pending(T0), result(ProviderOutcome.FAILED, T0)).record.status is K.FAILED
        assert apply(pending(T0), result(ProviderOutcome.EXPIRED, T0)).record.status is K.NOT_STARTED
        # FAILED has no provider exit at all (a new attempt is needed)
        assert apply(failed, result(ProviderOutcome.VERIFIED, T0)).note is KycNote.NOT_APPLICABLE

    @pytest.mark.parametrize(
        ("conflict", "profile", "extra"),
        [
            (True, DOB, (ReviewReason.DUPLICATE_IDENTITY,)),
            (False, date(1990, 4, 3), (ReviewReason.DOB_MISMATCH,)),
            (True, date(1990, 4, 3), (ReviewReason.DUPLICATE_IDENTITY, ReviewReason.DOB_MISMATCH)),
        ],
    )
    def test_provider_review_also_carries_identity_reasons(
        self, conflict: bool, profile: date, extra: tuple[ReviewReason, ...]
    ) -> None:
        update = apply(pending(), result(ProviderOutcome.NEEDS_REVIEW, T0), conflict=conflict, profile=profile)
        assert update.record.status is K.NEEDS_REVIEW
        assert update.record.review_reasons == (ReviewReason.PROVIDER_REVIEW, *extra)

    def test_other_attempt_ignored(self) -> None:
        record = verified()
        update = apply(record, result(ProviderOutcome.FAILED, T0 + timedelta(days=1), attempt="old"))
        assert update.note is KycNote.STALE_ATTEMPT
        assert update.record is record
        assert apply(KycRecord(), result(ProviderOutcome.VERIFIED, T0)).note is KycNote.STALE_ATTEMPT

    def test_session_end_after_result_not_applicable(self) -> None:
        record = verified()
        update = apply(record, result(ProviderOutcome.CANCELED, T0 + timedelta(hours=1)))
        assert update.note is KycNote.NOT_APPLICABLE
        assert update.record is record

    def test_staff_decision_wins_and_later_provider_status_is_flagged(self) -> None:
        review = apply(pending(), result(ProviderOutcome.VERIFIED, T0), conflict=True).record
        decided = staff_decide(
            review,
            decision=StaffDecision.REJECT,
            staff_ids=["s1"],
            queue_position=None,
            at=T0 + timedelta(hours=1),
            rules=RULES,
        )
        assert decided.ok
        assert decided.record.status is K.FAILED
        later = apply(decided.record, result(ProviderOutcome.VERIFIED, T0 + timedelta(hours=2)))
        assert not later.applied
        assert later.note is KycNote.STAFF_DECISION_STANDS
        assert later.record.status is K.FAILED

    @given(
        outcomes=st.lists(
            st.tuples(st.sampled_from(list(ProviderOutcome)), st.integers(min_value=0, max_value=1000)), max_size=10
        )
    )
    def test_applied_results_move_forward_in_provider_time(self, outcomes: list[tuple[ProviderOutcome, int]]) -> None:
        record = pending()
        for outcome, minute in outcomes:
            update = apply(record, result(outcome, T0 + timedelta(minutes=minute)))
            if update.applied:
                assert update.record.status_at is not None
                assert record.status_at is not None
                assert update.record.status_at >= record.status_at
            else:
                assert update.record is record
            record = update.record


class TestStaff:
    def review(self) -> KycRecord:
        return apply(pending(), result(ProviderOutcome.VERIFIED, T0), conflict=True).record

    def test_required_staff(self) -> None:
        assert staff_required(1, RULES) == 2
        assert staff_required(10, RULES) == 2
        assert staff_required(11, RULES) == 1
        assert staff_required(None, RULES) == 1

    def test_top_ten_needs_two_distinct_staff(self) -> None:
        at = T0 + timedelta(hours=1)
        one = staff_decide(
            self.review(), decision=StaffDecision.APPROVE, staff_ids=["s1", "s1"], queue_position=3, at=at, rules=RULES
        )
        assert not one.ok
        assert one.reasons == (StaffRefusal.NEEDS_SECOND_STAFF,)
        two = staff_decide(
            self.review(), decision=StaffDecision.APPROVE, staff_ids=["s1", "s2"], queue_position=3, at=at, rules=RULES
        )
        assert two.ok
        assert two.record.status is K.VERIFIED
        assert two.record.verified_at == at
        assert two.record.staff_decided_at == at

    def test_not_applicable_and_no_staff(self) -> None:
        decision = staff_decide(
            pending(), decision=StaffDecision.APPROVE, staff_ids=[], queue_position=None, at=T0, rules=RULES
        )
        assert decision.reasons == (StaffRefusal.NOT_APPLICABLE, StaffRefusal.NO_STAFF)
        assert decision.record.status is K.PENDING

    def test_new_attempt_clears_staff_decision(self) -> None:
        decided = staff_decide(
            self.review(), decision=StaffDecision.REJECT, staff_ids=["s1"], queue_position=50, at=T0, rules=RULES
        ).record
        retry = start_attempt(decided, attempt_id="a2", now=T0 + timedelta(days=1))
        assert retry.staff_decided_at is None
        assert retry.review_reasons == ()
        update = apply(retry, result(ProviderOutcome.VERIFIED, T0 + timedelta(days=1, minutes=5), attempt="a2"))
        assert update.applied
        assert update.record.status is K.VERIFIED
