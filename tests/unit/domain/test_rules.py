"""ProgramRules: the §2 defaults, validation listing every problem, versions chosen by effective time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import NaiveDatetime, NoRulesInForce, RulesInvalid
from domain.money import Money
from domain.rules import (
    BEGINNING_OF_TIME,
    ProgramRules,
    RulesHistory,
    check_rules_change,
    rules_field_names,
    rules_in_force,
)


def usd(cents: int) -> Money:
    return Money(cents=cents)


T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_defaults_match_domain_table() -> None:
    rules = ProgramRules()
    assert rules.joining_fee == usd(30_000)
    assert rules.monthly_dues == usd(2_500)
    assert rules.retention_months == 12
    assert rules.grace_days == 30
    assert rules.invoice_unpaid_after_hours == 24
    assert rules.reward == usd(10_000_000)
    assert rules.payout_threshold == rules.reward
    assert rules.launch_date is None
    assert rules.min_months_before_payouts == 12
    assert rules.fund_share_bps == 10_000
    assert rules.backup_withholding_bps == 2_400
    assert rules.form_1099_threshold == usd(60_000)
    assert rules.approvals_required == 2
    assert rules.min_age_years == 18
    assert rules.min_tenure_months == 0
    assert rules.kyc_valid_months == 24
    assert rules.kyc_attempts_per_30_days == 3
    assert rules.payout_info_deadline_days == 180
    assert rules.reconciliation_max_age == timedelta(hours=1)
    assert rules.version == 1
    assert rules.effective_at == BEGINNING_OF_TIME


def test_derived_amounts() -> None:
    rules = ProgramRules()
    assert rules.retention_amount == usd(30_000)
    assert rules.max_withholding == usd(2_400_000)
    assert rules.min_net_reward == usd(7_570_000)  # $75,700: no W-9 and retention deducted
    assert rules.grace_period == timedelta(days=30)
    assert rules.invoice_unpaid_after == timedelta(hours=24)


def test_payouts_start_launch_plus_twelve_months_midnight_utc() -> None:
    rules = ProgramRules(launch_date=date(2024, 3, 1))
    assert rules.payouts_start() == datetime(2025, 3, 1, tzinfo=UTC)


def test_payouts_start_clamps_month_end() -> None:
    rules = ProgramRules(launch_date=date(2024, 2, 29))
    assert rules.payouts_start() == datetime(2025, 2, 28, tzinfo=UTC)


def test_no_launch_no_payouts_start() -> None:
    assert ProgramRules().payouts_start() is None


def test_field_names_cover_the_table() -> None:
    names = set(rules_field_names())
    assert {
        "joining_fee",
        "monthly_dues",
        "retention_months",
        "grace_days",
        "invoice_unpaid_after_hours",
        "reward",
        "payout_threshold",
        "launch_date",
        "min_months_before_payouts",
        "fund_share_bps",
        "backup_withholding_bps",
        "form_1099_threshold",
        "approvals_required",
        "min_age_years",
        "min_tenure_months",
        "kyc_valid_months",
        "kyc_attempts_per_30_days",
        "payout_info_deadline_days",
        "version",
        "effective_at",
    } <= names


class TestValidation:
    def test_every_problem_is_listed(self) -> None:
        with pytest.raises(RulesInvalid) as info:
            ProgramRules(
                payout_threshold=usd(9_999_999),
                fund_share_bps=10_001,
                backup_withholding_bps=-1,
                grace_days=0,
                retention_months=-1,
                approvals_required=1,
            )
        problems = info.value.problems
        assert "payout_threshold must be >= reward" in problems
        assert "fund_share_bps must be within 0..10000" in problems
        assert "backup_withholding_bps must be within 0..10000" in problems
        assert "grace_days must be positive" in problems
        assert "retention_months must not be negative" in problems
        assert "approvals_required must be >= 2 (two-person approval)" in problems
        assert len(problems) == 6

    def test_net_must_stay_positive(self) -> None:
        # retention 12 x 2500 = 30000, withholding 24% of 39473 = 9474 -> 39474 > reward
        with pytest.raises(RulesInvalid, match="net must stay positive"):
            ProgramRules(reward=usd(39_473), payout_threshold=usd(39_473))
        # the smallest reward with a positive net under defaults
        ok = ProgramRules(reward=usd(39_475), payout_threshold=usd(39_475))
        assert ok.min_net_reward.is_positive

    def test_threshold_defaults_to_the_reward(self) -> None:
        """§2: ``payout_threshold = reward`` unless given, so raising only the reward stays valid."""
        assert ProgramRules(reward=usd(5_000_000)).payout_threshold == usd(5_000_000)
        raised = ProgramRules(reward=usd(20_000_000))
        assert raised.payout_threshold == usd(20_000_000)
        assert ProgramRules(reward=usd(5_000_000), payout_threshold=usd(6_000_000)).payout_threshold == usd(6_000_000)
        with pytest.raises(RulesInvalid, match="payout_threshold must be >= reward"):
            ProgramRules(reward=usd(20_000_000), payout_threshold=usd(10_000_000))

    def test_threshold_equal_to_reward_is_fine(self) -> None:
        assert ProgramRules(payout_threshold=usd(10_000_000)).payout_threshold == usd(10_000_000)

    @pytest.mark.parametrize(
        ("overrides", "problem"),
        [
            ({"joining_fee": usd(0)}, "joining_fee must be positive"),
            ({"monthly_dues": usd(-1)}, "monthly_dues must be positive"),
            ({"form_1099_threshold": usd(-1)}, "form_1099_threshold must not be negative"),
            ({"joining_fee": usd(2_000)}, "joining_fee must be >= monthly_dues (it includes the first month's dues)"),
            ({"min_age_years": 17}, "min_age_years must be >= 18"),
            ({"version": 0}, "version must be positive"),
            ({"kyc_attempts_per_30_days": 0}, "kyc_attempts_per_30_days must be positive"),
            ({"grace_days": 30.0}, "grace_days must be an int"),
            ({"grace_days": True}, "grace_days must be an int"),
            ({"reward": 10_000_000}, "reward must be Money"),
            ({"effective_at": "2025-01-01"}, "effective_at must be a datetime"),
            ({"effective_at": datetime(2025, 1, 1)}, "effective_at must be timezone-aware UTC"),
            ({"launch_date": datetime(2024, 3, 1, tzinfo=UTC)}, "launch_date must be a date"),
        ],
    )
    def test_single_problem(self, overrides: dict[str, object], problem: str) -> None:
        with pytest.raises(RulesInvalid) as info:
            ProgramRules(**overrides)  # type: ignore[arg-type]
        assert problem in info.value.problems

    def test_mixed_currency_refused(self) -> None:
        with pytest.raises(RulesInvalid, match="one currency"):
            ProgramRules(monthly_dues=Money(cents=2_500, currency="EUR"))

    def test_effective_at_normalised_to_utc(self) -> None:
        plus_two = timezone_plus(2)
        rules = ProgramRules(effective_at=datetime(2025, 1, 1, 2, tzinfo=plus_two))
        assert rules.effective_at == T0
        assert rules.effective_at.tzinfo is UTC

    @given(
        reward=st.integers(min_value=1, max_value=10**9),
        dues=st.integers(min_value=1, max_value=10**6),
        months=st.integers(min_value=0, max_value=36),
        withholding=st.integers(min_value=0, max_value=10_000),
    )
    def test_valid_rules_always_have_positive_net(self, reward: int, dues: int, months: int, withholding: int) -> None:
        kwargs = {
            "reward": usd(reward),
            "payout_threshold": usd(reward),
            "monthly_dues": usd(dues),
            "joining_fee": usd(dues),
            "retention_months": months,
            "backup_withholding_bps": withholding,
        }
        # net = reward - retention - withholding (withholding rounded half-up) must stay positive
        net = reward - dues * months - (reward * withholding * 2 + 10_000) // 20_000
        if net > 0:
            assert ProgramRules(**kwargs).min_net_reward == usd(net)  # type: ignore[arg-type]
        else:
            with pytest.raises(RulesInvalid, match="net must stay positive"):
                ProgramRules(**kwargs)  # type: ignore[arg-type]


def timezone_plus(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


class TestVersions:
    def v(self, version: int, at: datetime, **overrides: object) -> ProgramRules:
        return ProgramRules(version=version, effective_at=at, **overrides)  # type: ignore[arg-type]

    def test_in_force_picks_latest_effective(self) -> None:
        v1 = self.v(1, BEGINNING_OF_TIME)
        v2 = self.v(2, T0, grace_days=45)
        history = RulesHistory.of(v2, v1)
        assert history.versions == (v1, v2)
        assert history.in_force(T0 - timedelta(seconds=1)) is v1
        assert history.in_force(T0) is v2  # effective instant is inclusive
        assert history.in_force(T0 + timedelta(days=400)) is v2
        assert history.latest is v2

    def test_records_keep_their_version(self) -> None:
        v1 = self.v(1, BEGINNING_OF_TIME)
        v2 = self.v(2, T0, grace_days=45)
        history = RulesHistory.of(v1, v2)
        # an invoice created under v1 is still graded by v1 after v2 took effect
        assert history.version(1).grace_days == 30
        assert history.version(2).grace_days == 45
        with pytest.raises(NoRulesInForce):
            history.version(3)
        with pytest.raises(NoRulesInForce):
            history.version(0)

    def test_nothing_in_force_before_first(self) -> None:
        with pytest.raises(NoRulesInForce):
            rules_in_force([self.v(1, T0)], T0 - timedelta(microseconds=1))

    def test_tie_on_effective_time_goes_to_higher_version(self) -> None:
        a = self.v(1, T0)
        b = self.v(2, T0, grace_days=10)
        assert rules_in_force([b, a], T0) is b

    def test_naive_instant_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            rules_in_force([ProgramRules()], datetime(2025, 1, 1))

    def test_history_validation(self) -> None:
        with pytest.raises(RulesInvalid, match="at least one"):
            RulesHistory.of()
        with pytest.raises(RulesInvalid, match="without gaps"):
            RulesHistory.of(self.v(1, BEGINNING_OF_TIME), self.v(3, T0))
        with pytest.raises(RulesInvalid, match="take effect after"):
            RulesHistory.of(self.v(1, T0), self.v(2, T0))

    def test_change_must_be_next_and_in_future(self) -> None:
        history = RulesHistory.of(self.v(1, BEGINNING_OF_TIME))
        now = T0
        good = check_rules_change(history, self.v(2, now + timedelta(days=7)), now)
        assert good.ok
        assert good.reasons == ()
        bad = check_rules_change(history, self.v(3, now), now)
        assert not bad.ok
        assert bad.reasons == ("not_next_version", "not_in_future")

    def test_change_must_follow_latest(self) -> None:
        history = RulesHistory.of(self.v(1, BEGINNING_OF_TIME), self.v(2, T0 + timedelta(days=30)))
        decision = check_rules_change(history, self.v(3, T0 + timedelta(days=10)), T0)
        assert decision.reasons == ("not_after_latest_version",)

    @given(
        offsets=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=6, unique=True),
        probe=st.integers(min_value=-10, max_value=2 * 10**6),
    )
    def test_in_force_is_latest_started(self, offsets: list[int], probe: int) -> None:
        instants = sorted(T0 + timedelta(minutes=o) for o in offsets)
        versions = [self.v(i, at) for i, at in enumerate(instants, start=1)]
        history = RulesHistory(versions=tuple(reversed(versions)))
        at = T0 + timedelta(minutes=probe)
        started = [v for v in versions if v.effective_at <= at]
        if not started:
            with pytest.raises(NoRulesInForce):
                history.in_force(at)
        else:
            chosen = history.in_force(at)
            assert chosen is started[-1]
            # a later version never applies before its effective time
            assert all(v.effective_at > at for v in versions if v.version > chosen.version)
