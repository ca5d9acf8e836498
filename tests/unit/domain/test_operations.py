"""The staff dashboard's alerts and monthly series (`domain.operations`)."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.operations import (
    Alert,
    Situation,
    active_alerts,
    by_month,
    last_months,
    month_end_balances,
)

DAY = 86_400.0
CALM = Situation(
    inbox_oldest_s={"stripe": 10.0},
    reconciliation_age_s=600.0,
    money_drift_cents=0,
    fund_cents=5_000_000,
    threshold_cents=10_000_000,
    payouts_started=True,
    payouts_frozen=False,
    last_round_age_s=None,
    oldest_unchanged_payout_s=0.0,
)


def with_(**changes: object) -> Situation:
    return Situation(**{**{f: getattr(CALM, f) for f in Situation.__dataclass_fields__}, **changes})  # type: ignore[arg-type]


def test_a_calm_program_raises_nothing() -> None:
    assert active_alerts(CALM) == ()


def test_each_condition_raises_its_alert_alone() -> None:
    cases = {
        Alert.INBOX_LAG: with_(inbox_oldest_s={"stripe": 10.0, "plaid": 301.0}),
        Alert.RECONCILIATION_STALE: with_(reconciliation_age_s=3601.0),
        Alert.RECONCILIATION_DRIFT: with_(money_drift_cents=-1),
        Alert.FUND_READY_NO_ROUND: with_(fund_cents=10_000_000),
        Alert.PAYOUT_STUCK: with_(oldest_unchanged_payout_s=3 * DAY + 1),
    }
    for alert, situation in cases.items():
        assert active_alerts(situation) == (alert,), alert


def test_boundaries_are_exclusive() -> None:
    assert active_alerts(with_(inbox_oldest_s={"stripe": 300.0})) == ()
    assert active_alerts(with_(reconciliation_age_s=3600.0)) == ()
    assert active_alerts(with_(oldest_unchanged_payout_s=3 * DAY)) == ()
    assert active_alerts(with_(fund_cents=10_000_000, last_round_age_s=2 * DAY)) == ()
    assert active_alerts(with_(fund_cents=10_000_000, last_round_age_s=2 * DAY + 1)) == (Alert.FUND_READY_NO_ROUND,)


def test_before_payouts_start_a_full_fund_or_no_reconciliation_is_no_incident() -> None:
    early = with_(payouts_started=False, fund_cents=20_000_000, reconciliation_age_s=None)
    assert active_alerts(early) == ()
    assert active_alerts(with_(reconciliation_age_s=None)) == (Alert.RECONCILIATION_STALE,)


def test_the_freeze_is_shown_and_explains_a_waiting_fund() -> None:
    assert active_alerts(with_(payouts_frozen=True, fund_cents=20_000_000)) == (Alert.PAYOUTS_FROZEN,)


def test_last_months_ends_with_this_month_across_a_new_year() -> None:
    assert last_months(date(2027, 2, 14), 4) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    assert len(last_months(date(2027, 2, 14), 12)) == 12


def test_by_month_sums_days_and_fills_empty_months() -> None:
    months = [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]
    days = [(date(2026, 11, 3), 100), (date(2026, 11, 30), 50), (date(2027, 1, 1), -20), (date(2027, 1, 31), 5)]
    assert by_month(days, months=months) == [(months[0], 150), (months[1], 0), (months[2], -15)]


def test_month_end_balances_walk_back_from_today() -> None:
    movements = [(date(2026, 11, 1), 1_000), (date(2026, 12, 1), 500), (date(2027, 1, 1), -300)]
    assert month_end_balances(2_200, movements) == [
        (date(2026, 11, 1), 2_000),
        (date(2026, 12, 1), 2_500),
        (date(2027, 1, 1), 2_200),
    ]


@given(
    opening=st.integers(-(10**9), 10**9),
    moves=st.lists(st.integers(-(10**7), 10**7), min_size=1, max_size=24),
)
def test_balances_are_the_opening_plus_the_running_movements(opening: int, moves: list[int]) -> None:
    months = [date(2020, 1, 1) + timedelta(days=31 * i) for i in range(len(moves))]
    closing = opening + sum(moves)
    balances = month_end_balances(closing, list(zip(months, moves, strict=True)))
    running = opening
    for (month, balance), move, expected_month in zip(balances, moves, months, strict=True):
        running += move
        assert (month, balance) == (expected_month, running)
