"""Next-payout estimate: a labelled date range from the trailing 90-day fund inflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import CurrencyMismatch, InvalidInput, NaiveDatetime
from domain.estimates import Estimate, EstimateKind, EstimatePolicy, next_payout_estimate
from domain.money import Money
from domain.rules import ProgramRules

RULES = ProgramRules(launch_date=date(2024, 3, 1))  # payouts possible from 2025-03-01
NOW = datetime(2025, 6, 1, 15, tzinfo=UTC)


def usd(cents: int) -> Money:
    return Money(cents=cents)


def test_range_from_the_trailing_pace() -> None:
    # $9,000 in 90 days = $100/day; $30,000 short. ±25 %: $125/day -> 240 days, $75/day -> 400 days.
    estimate = next_payout_estimate(usd(900_000), usd(7_000_000), RULES, NOW)
    assert estimate == Estimate(
        kind=EstimateKind.RANGE,
        earliest=date(2025, 6, 1) + timedelta(days=240),
        latest=date(2025, 6, 1) + timedelta(days=400),
        earliest_days=240,
        latest_days=400,
    )
    assert estimate.label == "estimate"


def test_days_round_up() -> None:
    # $1/day exactly, 1 cent short -> the day the cent arrives, never a day early.
    estimate = next_payout_estimate(usd(9_000), usd(9_999_999), RULES, NOW, EstimatePolicy(spread_bps=0))
    assert estimate is not None
    assert (estimate.earliest_days, estimate.latest_days) == (1, 1)


def test_now_when_the_fund_holds_the_threshold() -> None:
    for fund in (10_000_000, 25_000_000):
        estimate = next_payout_estimate(usd(0), usd(fund), RULES, NOW)
        assert estimate is not None
        assert estimate.kind is EstimateKind.NOW
        assert (estimate.earliest, estimate.latest) == (date(2025, 6, 1), date(2025, 6, 1))
        assert (estimate.earliest_days, estimate.latest_days) == (0, 0)


def test_none_without_inflow_while_short() -> None:
    assert next_payout_estimate(usd(0), usd(5_000_000), RULES, NOW) is None
    assert next_payout_estimate(usd(-100), usd(5_000_000), RULES, NOW) is None  # refunds outweighed payments


def test_none_without_a_launch_date() -> None:
    assert next_payout_estimate(usd(900_000), usd(20_000_000), ProgramRules(), NOW) is None


def test_never_before_payouts_are_possible() -> None:
    early = datetime(2024, 6, 1, tzinfo=UTC)
    full = next_payout_estimate(usd(0), usd(10_000_000), RULES, early)
    assert full is not None
    assert full.kind is EstimateKind.RANGE
    assert (full.earliest, full.latest) == (date(2025, 3, 1), date(2025, 3, 1))
    assert full.earliest_days == (date(2025, 3, 1) - date(2024, 6, 1)).days
    # a fast pace cannot bring it forward either; a slow one can push the latest beyond the start
    fast = next_payout_estimate(usd(9_000_000), usd(9_000_000), RULES, early)
    assert fast is not None
    assert fast.earliest == date(2025, 3, 1)
    # $30/day, $10,000 short: ±25 % -> 267 days (before the start, so the start) .. 445 days
    slow = next_payout_estimate(usd(270_000), usd(9_000_000), RULES, early)
    assert slow is not None
    assert (slow.earliest, slow.latest) == (date(2025, 3, 1), date(2024, 6, 1) + timedelta(days=445))


def test_none_beyond_the_horizon() -> None:
    # $1/day, $10,000 short: 8,000..13,334 days -> beyond 10 years, no estimate
    assert next_payout_estimate(usd(9_000), usd(9_000_000), RULES, NOW) is None
    wide = EstimatePolicy(horizon_days=20_000)
    estimate = next_payout_estimate(usd(9_000), usd(9_000_000), RULES, NOW, wide)
    assert estimate is not None
    assert (estimate.earliest_days, estimate.latest_days) == (8_000, 13_334)


def test_inputs_are_checked() -> None:
    with pytest.raises(CurrencyMismatch):
        next_payout_estimate(Money(cents=1, currency="EUR"), usd(1), RULES, NOW)
    with pytest.raises(NaiveDatetime):
        next_payout_estimate(usd(1), usd(1), RULES, datetime(2025, 1, 1))
    with pytest.raises(InvalidInput):
        EstimatePolicy(window_days=0)
    with pytest.raises(InvalidInput):
        EstimatePolicy(horizon_days=0)
    with pytest.raises(InvalidInput):
        EstimatePolicy(spread_bps=10_000)
    with pytest.raises(InvalidInput):
        EstimatePolicy(spread_bps=-1)


@given(
    inflow=st.integers(10_000, 10**9),
    fund=st.integers(-(10**7), 10**7 - 1),
    spread=st.integers(0, 5_000),
)
def test_range_brackets_the_trailing_pace(inflow: int, fund: int, spread: int) -> None:
    """earliest ≤ pace-only date ≤ latest, and at the band's paces the fund reaches the threshold on those days."""
    estimate = next_payout_estimate(
        usd(inflow), usd(fund), RULES, NOW, EstimatePolicy(spread_bps=spread, horizon_days=10**6)
    )
    assert estimate is not None
    assert estimate.kind is EstimateKind.RANGE
    short = 10_000_000 - fund
    central = -(-short * 90 // inflow)
    assert estimate.earliest_days <= central <= estimate.latest_days
    # at pace × (1 + spread) the shortfall is covered on day `earliest` but not the day before
    fast_per_day_x = inflow * (10_000 + spread)  # cents per day × 90 × 10_000
    assert estimate.earliest_days * fast_per_day_x >= short * 90 * 10_000
    assert (estimate.earliest_days - 1) * fast_per_day_x < short * 90 * 10_000
