"""What operators watch, read from the database in one go at each metrics scrape (RELIABILITY.md 14)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenPayouts:
    count: int
    oldest_unchanged_s: float
    """Seconds since the least recently changed of them last changed: how long one has been stuck."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationalReadings:
    inbox_backlog: Mapping[str, int] = field(default_factory=dict)
    """Unprocessed provider messages, by provider."""
    inbox_oldest_s: Mapping[str, float] = field(default_factory=dict)
    """Age of the oldest unprocessed message, by provider (absent when none waits)."""
    reconciliation_age_s: Mapping[str, float] = field(default_factory=dict)
    """Seconds since the last successful reconciliation run, by kind."""
    money_drift_cents: int = 0
    """The last money reconciliation's drift between our ledger cash and the provider's balance."""
    fund_balance_cents: int = 0
    last_round_age_s: float | None = None
    payouts_frozen: bool = False
    open_payouts: Mapping[str, OpenPayouts] = field(default_factory=dict)
    """Payouts not yet final, by status."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundSummary:
    round_key: date
    evaluated_at: datetime
    winners: int
    reward_cents: int


class OperationalReadingsReader(Protocol):
    async def read(self, *, now: datetime, money_kind: str) -> OperationalReadings:
        """`money_kind`: the reconciliation kind whose last run's drift is `money_drift_cents`."""
        ...

    async def memberships_by_status(self) -> Mapping[str, int]:
        """How many memberships are in each status (upper case, as stored)."""
        ...

    async def inflow_by_day(self, *, since: date) -> Sequence[tuple[date, int]]:
        """Money into the fund per day (members' shares of payments, less reversals), from `since`."""
        ...

    async def fund_movement_by_day(self, *, since: date) -> Sequence[tuple[date, int]]:
        """Net change of the fund's balance per day (inflow, committed rewards, releases), from `since`."""
        ...

    async def recent_rounds(self, *, limit: int) -> Sequence[RoundSummary]:
        """The newest rounds first."""
        ...
