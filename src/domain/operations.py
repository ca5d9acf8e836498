"""What the staff dashboard flags, and the monthly series it draws, from operational readings (RELIABILITY.md 14).

The same conditions the Prometheus alert rules watch (`ops/prometheus/alerts.yml`), decided here for the console:
a provider message waiting too long, event reconciliation stale, money drift, a fund at the threshold with no round
for two days, a payout that has not moved for three days, and the payouts-frozen switch being on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Alert(StrEnum):
    INBOX_LAG = "inbox_lag"
    RECONCILIATION_STALE = "reconciliation_stale"
    RECONCILIATION_DRIFT = "reconciliation_drift"
    FUND_READY_NO_ROUND = "fund_ready_no_round"
    PAYOUT_STUCK = "payout_stuck"
    PAYOUTS_FROZEN = "payouts_frozen"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertThresholds:
    inbox_lag: timedelta = timedelta(minutes=5)
    reconciliation_age: timedelta = timedelta(hours=1)
    round_overdue: timedelta = timedelta(days=2)
    payout_unchanged: timedelta = timedelta(days=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Situation:
    inbox_oldest_s: Mapping[str, float]
    reconciliation_age_s: float | None
    """Seconds since the last successful event reconciliation (None: never)."""
    money_drift_cents: int
    fund_cents: int
    threshold_cents: int
    payouts_started: bool
    payouts_frozen: bool
    last_round_age_s: float | None
    oldest_unchanged_payout_s: float
    """Among payouts still moving through approval, scheduling and processing."""


def active_alerts(situation: Situation, thresholds: AlertThresholds = AlertThresholds()) -> tuple[Alert, ...]:
    found: list[Alert] = []
    if any(age > thresholds.inbox_lag.total_seconds() for age in situation.inbox_oldest_s.values()):
        found.append(Alert.INBOX_LAG)
    age = situation.reconciliation_age_s
    if situation.payouts_started and (age is None or age > thresholds.reconciliation_age.total_seconds()):
        found.append(Alert.RECONCILIATION_STALE)
    if situation.money_drift_cents != 0:
        found.append(Alert.RECONCILIATION_DRIFT)
    round_age = situation.last_round_age_s
    if (
        situation.payouts_started
        and not situation.payouts_frozen
        and situation.fund_cents >= situation.threshold_cents
        and (round_age is None or round_age > thresholds.round_overdue.total_seconds())
    ):
        found.append(Alert.FUND_READY_NO_ROUND)
    if situation.oldest_unchanged_payout_s > thresholds.payout_unchanged.total_seconds():
        found.append(Alert.PAYOUT_STUCK)
    if situation.payouts_frozen:
        found.append(Alert.PAYOUTS_FROZEN)
    return tuple(found)


def month_of(day: date) -> date:
    return day.replace(day=1)


def by_month(days: Iterable[tuple[date, int]], *, months: Iterable[date]) -> list[tuple[date, int]]:
    """Per-day amounts summed per calendar month, for exactly `months` (month starts, in order; a month with
    nothing is 0)."""
    totals: dict[date, int] = {}
    for day, cents in days:
        totals[month_of(day)] = totals.get(month_of(day), 0) + cents
    return [(month, totals.get(month, 0)) for month in months]


def month_end_balances(closing_cents: int, movements: list[tuple[date, int]]) -> list[tuple[date, int]]:
    """Each month's closing balance, given today's balance and every month's net movement up to this month:
    walking back from now, a month closed at the next month's close less the next month's movement."""
    balances: list[tuple[date, int]] = []
    balance = closing_cents
    for month, moved in reversed(movements):
        balances.append((month, balance))
        balance -= moved
    return list(reversed(balances))


def last_months(today: date, count: int) -> list[date]:
    """The starts of the `count` calendar months ending with today's, oldest first."""
    months: list[date] = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(months))
