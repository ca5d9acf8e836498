"""The public next-payout estimate (DOMAIN.md §4): a date range from the trailing 90-day fund inflow.

Why a range, and labelled: members pay for a place in line, and a single date would read as a promise. The fund
grows with payments that can stop, be refunded or disputed, so the public view shows a band around the trailing
pace and says it is an estimate.

Method (integer arithmetic only):
- pace = ``inflows_last_90_days / 90`` per day (the net inflow into the ``fund`` account over the trailing window:
  member payments' fund share minus refunds and lost disputes; commits and releases excluded);
- shortfall = ``payout_threshold − fund``;
- earliest = ``ceil(shortfall / (pace × (1 + spread)))`` days, latest = ``ceil(shortfall / (pace × (1 − spread)))``
  days from today (UTC), with ``spread`` = ``EstimatePolicy.spread_bps`` (25 % by default);
- neither is ever before the first day payouts are possible (``launch_date + min_months_before_payouts``).
No estimate (``None``) without a launch date, when the fund is short and nothing flowed in, or when the latest
date would be more than ``horizon_days`` away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.calendar import ensure_utc
from domain.errors import CurrencyMismatch, InvalidInput
from domain.money import BPS_DENOMINATOR, Money
from domain.rules import ProgramRules


@dataclass(frozen=True, slots=True, kw_only=True)
class EstimatePolicy:
    """Numbers of the estimate method; passed in like ``ProgramRules``."""

    window_days: int = 90
    """§4: the trailing window whose fund inflow sets the pace."""
    spread_bps: int = 2_500
    """Half-width of the band around the trailing pace: ±25 % (the pace may speed up or slow down)."""
    horizon_days: int = 3_650
    """Beyond this many days (10 years) a projection means nothing: no estimate is shown."""

    def __post_init__(self) -> None:
        if self.window_days <= 0 or self.horizon_days <= 0:
            raise InvalidInput("window_days and horizon_days must be positive")
        if not 0 <= self.spread_bps < BPS_DENOMINATOR:
            raise InvalidInput(f"spread_bps must be within 0..{BPS_DENOMINATOR - 1}")


DEFAULT_ESTIMATE_POLICY = EstimatePolicy()


class EstimateKind(StrEnum):
    NOW = "now"
    """The fund holds the threshold and payouts are possible: the next daily evaluation may select."""
    RANGE = "range"


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A next-payout estimate: between ``earliest`` and ``latest`` (UTC dates, inclusive). Always an estimate."""

    kind: EstimateKind
    earliest: date
    latest: date
    earliest_days: int
    """Days from today (UTC) to ``earliest``."""
    latest_days: int
    label: str = "estimate"
    """Shown with the dates: this is a projection from the trailing fund inflow, not a promise."""


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def next_payout_estimate(
    inflows_last_90_days: Money,
    fund: Money,
    rules: ProgramRules,
    now: datetime,
    policy: EstimatePolicy = DEFAULT_ESTIMATE_POLICY,
) -> Estimate | None:
    """When might the fund reach ``payout_threshold``? See the module docstring for the method."""
    if inflows_last_90_days.currency != fund.currency:
        raise CurrencyMismatch(inflows_last_90_days.currency, fund.currency)
    today = ensure_utc(now, "now").date()
    start = rules.payouts_start()
    if start is None:
        return None  # without a launch date no payout is ever possible
    first_day = max(today, start.date())
    shortfall = (rules.payout_threshold - fund).cents
    if shortfall <= 0:
        kind = EstimateKind.NOW if first_day == today else EstimateKind.RANGE
        return _estimate(kind, today, first_day, first_day)
    inflow = inflows_last_90_days.cents
    if inflow <= 0:
        return None
    # days = shortfall / (inflow / window × (1 ± spread)) = shortfall × window × D / (inflow × (D ± spread))
    scaled = shortfall * policy.window_days * BPS_DENOMINATOR
    fastest = _ceil_div(scaled, inflow * (BPS_DENOMINATOR + policy.spread_bps))
    slowest = _ceil_div(scaled, inflow * (BPS_DENOMINATOR - policy.spread_bps))
    if slowest > policy.horizon_days:
        return None
    earliest = max(first_day, today + timedelta(days=fastest))
    latest = max(first_day, today + timedelta(days=slowest))
    return _estimate(EstimateKind.RANGE, today, earliest, latest)


def _estimate(kind: EstimateKind, today: date, earliest: date, latest: date) -> Estimate:
    return Estimate(
        kind=kind,
        earliest=earliest,
        latest=latest,
        earliest_days=(earliest - today).days,
        latest_days=(latest - today).days,
    )


__all__ = [
    "DEFAULT_ESTIMATE_POLICY",
    "Estimate",
    "EstimateKind",
    "EstimatePolicy",
    "next_payout_estimate",
]
