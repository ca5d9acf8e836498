"""Eligibility (every failed reason), program-level payout readiness, winners count, blocked members."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.eligibility import (
    NOT_DISQUALIFYING,
    DisqualifyingReason,
    Eligibility,
    EligibilityFacts,
    ProgramBlock,
    RankedEligibility,
    Reason,
    blocked_near_payout,
    eligibility,
    first_eligible,
    fund_near_payout,
    is_disqualifying,
    monthly_inflow,
    payout_date_near,
    payouts_possible,
    winners_count,
)
from domain.errors import InvalidInput
from domain.kyc import KycRecord, KycStatus
from domain.membership import MembershipState
from domain.money import Money
from domain.rules import ProgramRules

S = MembershipState
RULES = ProgramRules(launch_date=date(2024, 3, 1))
AT = datetime(2025, 6, 1, 1, tzinfo=UTC)


def usd(cents: int) -> Money:
    return Money(cents=cents)


def good_kyc(**kw: object) -> KycRecord:
    base = KycRecord(
        status=KycStatus.VERIFIED,
        attempt_id="a1",
        verified_at=AT - timedelta(days=30),
        date_of_birth=date(1990, 1, 1),
        country="US",
        fingerprint="f" * 64,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def facts(**kw: object) -> EligibilityFacts:
    base = EligibilityFacts(
        state=S.ACTIVE,
        tenure_start=AT - timedelta(days=400),
        cancellation_scheduled=False,
        open_dispute=False,
        kyc=good_kyc(),
        person_has_won=False,
        identity_has_won=False,
        identity_has_other_live_membership=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class TestMemberEligibility:
    def test_eligible(self) -> None:
        assert eligibility(facts(), RULES, AT) == Eligibility(ok=True, reasons=())

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"state": S.PAST_DUE}, Reason.PAST_DUE),
            ({"state": S.WON}, Reason.NOT_ACTIVE),
            ({"state": S.PENDING}, Reason.NOT_ACTIVE),
            ({"cancellation_scheduled": True}, Reason.CANCELLATION_SCHEDULED),
            ({"open_dispute": True}, Reason.PAYMENT_DISPUTED),
            ({"kyc": KycRecord()}, Reason.KYC_NOT_VERIFIED),
            ({"kyc": good_kyc(status=KycStatus.NEEDS_REVIEW)}, Reason.KYC_NOT_VERIFIED),
            ({"kyc": good_kyc(verified_at=None)}, Reason.KYC_NOT_VERIFIED),
            ({"kyc": good_kyc(verified_at=AT - timedelta(days=800))}, Reason.KYC_EXPIRED),
            ({"kyc": good_kyc(country="CA")}, Reason.KYC_NOT_US),
            ({"kyc": good_kyc(date_of_birth=None)}, Reason.AGE_UNKNOWN),
            ({"kyc": good_kyc(fingerprint=None)}, Reason.IDENTITY_UNKNOWN),
            ({"kyc": good_kyc(date_of_birth=date(2007, 6, 1))}, Reason.UNDER_AGE),
            ({"person_has_won": True}, Reason.ALREADY_WON),
            ({"identity_has_won": True}, Reason.IDENTITY_ALREADY_WON),
            ({"identity_has_other_live_membership": True}, Reason.DUPLICATE_IDENTITY),
        ],
    )
    def test_each_reason(self, overrides: dict[str, object], reason: Reason) -> None:
        result = eligibility(facts(**overrides), RULES, AT)
        assert not result.ok
        assert result.reasons == (reason,)

    def test_age_uses_conservative_zone(self) -> None:
        # turns 18 on 2025-06-01: at 01:00 UTC it is still May 31 in UTC-12
        kyc = good_kyc(date_of_birth=date(2007, 6, 1))
        assert eligibility(facts(kyc=kyc), RULES, AT).reasons == (Reason.UNDER_AGE,)
        assert eligibility(facts(kyc=kyc), RULES, datetime(2025, 6, 1, 12, tzinfo=UTC)).ok

    def test_every_reason_is_returned(self) -> None:
        result = eligibility(
            facts(
                state=S.PAST_DUE,
                cancellation_scheduled=True,
                open_dispute=True,
                kyc=good_kyc(verified_at=AT - timedelta(days=800), country="MX", date_of_birth=date(2010, 1, 1)),
                person_has_won=True,
                identity_has_won=True,
                identity_has_other_live_membership=True,
            ),
            ProgramRules(min_tenure_months=24),
            AT,
        )
        assert result.reasons == (
            Reason.PAST_DUE,
            Reason.CANCELLATION_SCHEDULED,
            Reason.PAYMENT_DISPUTED,
            Reason.KYC_EXPIRED,
            Reason.KYC_NOT_US,
            Reason.UNDER_AGE,
            Reason.ALREADY_WON,
            Reason.IDENTITY_ALREADY_WON,
            Reason.DUPLICATE_IDENTITY,
            Reason.MIN_TENURE_NOT_MET,
        )

    def test_min_tenure(self) -> None:
        rules = ProgramRules(min_tenure_months=6)
        start = datetime(2025, 1, 31, 10, tzinfo=UTC)
        assert eligibility(facts(tenure_start=start), rules, datetime(2025, 7, 31, 9, tzinfo=UTC)).reasons == (
            Reason.MIN_TENURE_NOT_MET,
        )
        assert eligibility(facts(tenure_start=start), rules, datetime(2025, 7, 31, 10, tzinfo=UTC)).ok
        # tenure starting after the evaluation instant (clock skew) counts as zero
        assert eligibility(facts(tenure_start=AT + timedelta(days=1)), rules, AT).reasons == (
            Reason.MIN_TENURE_NOT_MET,
        )


class TestProgram:
    def decide(self, **kw: object) -> tuple[ProgramBlock, ...]:
        args: dict[str, object] = {
            "at": datetime(2025, 3, 1, tzinfo=UTC),
            "rules": RULES,
            "fund": usd(10_000_000),
            "frozen": False,
            "inbox_backlog": False,
            "last_reconciliation_at": datetime(2025, 3, 1, tzinfo=UTC) - timedelta(minutes=59),
        }
        args.update(kw)
        decision = payouts_possible(**args)  # type: ignore[arg-type]
        assert decision.ok is (not decision.reasons)
        return decision.reasons

    def test_acceptance_launch_plus_twelve_months(self) -> None:
        start = datetime(2025, 3, 1, tzinfo=UTC)
        assert self.decide(at=start) == ()
        assert self.decide(at=start - timedelta(seconds=1), last_reconciliation_at=start - timedelta(minutes=10)) == (
            ProgramBlock.TOO_EARLY,
        )

    def test_acceptance_fund_one_cent_short(self) -> None:
        assert self.decide(fund=usd(9_999_999)) == (ProgramBlock.FUND_BELOW_THRESHOLD,)
        assert winners_count(fund=usd(9_999_999), rules=RULES, eligible_count=5) == 0

    def test_every_blocker(self) -> None:
        assert self.decide(
            rules=ProgramRules(),
            fund=usd(-1),
            frozen=True,
            inbox_backlog=True,
            last_reconciliation_at=None,
        ) == (
            ProgramBlock.LAUNCH_DATE_NOT_SET,
            ProgramBlock.FUND_BELOW_THRESHOLD,
            ProgramBlock.FROZEN,
            ProgramBlock.INBOX_BACKLOG,
            ProgramBlock.RECONCILIATION_MISSING,
        )

    def test_reconciliation_must_be_under_an_hour_old(self) -> None:
        at = datetime(2025, 3, 1, tzinfo=UTC)
        assert self.decide(last_reconciliation_at=at - timedelta(hours=1)) == (ProgramBlock.RECONCILIATION_STALE,)


class TestWinnersCount:
    def test_acceptance_fund_250k_five_members(self) -> None:
        # 5 members, #1 not verified -> 4 eligible; floor(250k / 100k) = 2 winners
        assert winners_count(fund=usd(25_000_000), rules=RULES, eligible_count=4) == 2
        ranked = [
            RankedEligibility(
                membership_id=f"m{p}",
                position=p,
                eligibility=Eligibility(ok=p != 1, reasons=() if p != 1 else (Reason.KYC_NOT_VERIFIED,)),
            )
            for p in range(1, 6)
        ]
        winners = first_eligible(ranked, 2)
        assert [w.membership_id for w in winners] == ["m2", "m3"]
        assert usd(25_000_000) - RULES.reward * len(winners) == usd(5_000_000)

    def test_acceptance_past_due_number_two_is_skipped(self) -> None:
        states = [S.ACTIVE, S.PAST_DUE, S.ACTIVE, S.ACTIVE, S.ACTIVE]
        results = [eligibility(facts(state=state), RULES, AT) for state in states]
        assert results[1].reasons == (Reason.PAST_DUE,)
        ranked = [
            RankedEligibility(membership_id=f"m{p}", position=p, eligibility=result)
            for p, result in enumerate(results, start=1)
        ]
        assert [w.position for w in first_eligible(ranked, 2)] == [1, 3]

    def test_limited_by_eligible(self) -> None:
        assert winners_count(fund=usd(50_000_000), rules=RULES, eligible_count=3) == 3
        assert winners_count(fund=usd(50_000_000), rules=RULES, eligible_count=0) == 0

    def test_threshold_above_reward(self) -> None:
        rules = ProgramRules(payout_threshold=usd(15_000_000))
        assert winners_count(fund=usd(14_999_999), rules=rules, eligible_count=9) == 0
        assert winners_count(fund=usd(15_000_000), rules=rules, eligible_count=9) == 1

    def test_negative_eligible_refused(self) -> None:
        with pytest.raises(InvalidInput):
            winners_count(fund=usd(0), rules=RULES, eligible_count=-1)

    @given(
        fund=st.integers(min_value=-(10**9), max_value=10**10),
        more=st.integers(min_value=0, max_value=10**9),
        eligible=st.integers(min_value=0, max_value=200),
    )
    def test_properties(self, fund: int, more: int, eligible: int) -> None:
        count = winners_count(fund=usd(fund), rules=RULES, eligible_count=eligible)
        assert 0 <= count <= eligible
        if fund < RULES.payout_threshold.cents:
            assert count == 0
        # never commits more than the fund holds
        assert count * RULES.reward.cents <= max(fund, 0)
        # monotone in the fund
        assert winners_count(fund=usd(fund + more), rules=RULES, eligible_count=eligible) >= count
        if fund >= RULES.payout_threshold.cents:
            assert count == min(fund // RULES.reward.cents, eligible)


class TestDisqualification:
    def test_closed_list(self) -> None:
        assert {r.value for r in DisqualifyingReason} == {
            "fraud",
            "duplicate_identity",
            "under_age",
            "jurisdiction",
            "joining_payment_reversed",
            "unclaimed",
            "declined_by_member",
        }
        assert all(is_disqualifying(r) for r in DisqualifyingReason)
        assert is_disqualifying("unclaimed")
        assert not is_disqualifying(NOT_DISQUALIFYING)
        with pytest.raises(InvalidInput):
            is_disqualifying("changed_my_mind")


class TestBlockedNearPayout:
    def ranked(self, oks: list[bool]) -> list[RankedEligibility]:
        return [
            RankedEligibility(
                membership_id=f"m{p}",
                position=p,
                eligibility=Eligibility(ok=ok, reasons=() if ok else (Reason.KYC_NOT_VERIFIED,)),
            )
            for p, ok in enumerate(oks, start=1)
        ]

    def test_not_near(self) -> None:
        # one month's inflow short of the threshold by a cent
        assert not fund_near_payout(usd(8_999_999), usd(1_000_000), RULES)
        assert (
            blocked_near_payout(
                self.ranked([False, True]), fund=usd(8_999_999), monthly_inflow=usd(1_000_000), rules=RULES
            )
            == ()
        )

    def test_a_shrinking_fund_is_near_only_at_the_threshold(self) -> None:
        assert not fund_near_payout(usd(9_999_999), usd(-5), RULES)
        assert fund_near_payout(usd(10_000_000), usd(-5), RULES)

    def test_the_payout_date_must_be_within_a_month(self) -> None:
        launched = replace(RULES, launch_date=date(2025, 3, 1))  # payouts from 2026-03-01T00:00Z
        assert not payout_date_near(datetime(2026, 1, 29, 23, 59, tzinfo=UTC), launched)
        assert payout_date_near(datetime(2026, 1, 30, tzinfo=UTC), launched)
        assert payout_date_near(datetime(2027, 1, 1, tzinfo=UTC), launched)
        assert not payout_date_near(datetime(2027, 1, 1, tzinfo=UTC), replace(RULES, launch_date=None))

    def test_monthly_inflow_from_a_window(self) -> None:
        assert monthly_inflow(usd(9_000_000), days=90) == usd(3_000_000)
        assert monthly_inflow(usd(100), days=90) == usd(33)
        with pytest.raises(InvalidInput):
            monthly_inflow(usd(1), days=0)

    def test_tells_those_who_would_be_skipped(self) -> None:
        assert fund_near_payout(usd(9_000_000), usd(1_000_000), RULES)
        ranked = self.ranked([False, True, False, True])
        blocked = blocked_near_payout(
            list(reversed(ranked)), fund=usd(9_500_000), monthly_inflow=usd(1_000_000), rules=RULES
        )
        # one expected winner (#2): only #1 is passed over; #3 is behind the expected winner
        assert [(b.membership_id, b.position, b.reasons) for b in blocked] == [("m1", 1, (Reason.KYC_NOT_VERIFIED,))]

    def test_two_expected_winners(self) -> None:
        ranked = self.ranked([False, True, False, True, False])
        blocked = blocked_near_payout(ranked, fund=usd(20_000_000), monthly_inflow=usd(0), rules=RULES)
        assert [b.position for b in blocked] == [1, 3]

    def test_nobody_eligible_tells_everyone(self) -> None:
        blocked = blocked_near_payout(
            self.ranked([False, False]), fund=usd(10_000_000), monthly_inflow=usd(0), rules=RULES
        )
        assert [b.position for b in blocked] == [1, 2]
