"""Program rules: every number of DOMAIN.md §2, versioned and dated.

Why versioned: a rules change is approved by two staff and takes effect at a future instant; it never applies to
invoices or payouts already created, which carry the version they were created under. So code never reads "the
current rules" for an existing record — it looks the record's version up (``RulesHistory.version``) — and new
records take the version in force at their creation instant (``RulesHistory.in_force``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from domain.calendar import add_months, ensure_utc, start_of_day_utc
from domain.errors import NoRulesInForce, RulesInvalid
from domain.money import BPS_DENOMINATOR, Money

BEGINNING_OF_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Default ``effective_at`` of the first version: it is in force for every instant the program can see."""

_MONEY_FIELDS = ("joining_fee", "monthly_dues", "reward", "payout_threshold", "form_1099_threshold")
_BPS_FIELDS = ("fund_share_bps", "backup_withholding_bps")
_POSITIVE_INT_FIELDS = (
    "version",
    "grace_days",
    "kyc_valid_months",
    "kyc_attempts_per_30_days",
    "payout_info_deadline_days",
    "reconciliation_max_age_minutes",
    "kyc_pending_refetch_minutes",
    "kyc_two_staff_top_positions",
    "queue_window_radius",
)
_NON_NEGATIVE_INT_FIELDS = (
    "retention_months",
    "invoice_unpaid_after_hours",
    "min_months_before_payouts",
    "min_tenure_months",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramRules:
    """One version of the program rules. Construction validates and lists every problem (``RulesInvalid``)."""

    version: int = 1
    effective_at: datetime = BEGINNING_OF_TIME
    # §2 table -------------------------------------------------------------------------------------------------
    joining_fee: Money = field(default_factory=lambda: Money(cents=30_000))
    """One-time, non-refundable; includes the first month's dues."""
    monthly_dues: Money = field(default_factory=lambda: Money(cents=2_500))
    retention_months: int = 12
    grace_days: int = 30
    invoice_unpaid_after_hours: int = 24
    reward: Money = field(default_factory=lambda: Money(cents=10_000_000))
    payout_threshold: Money = None  # type: ignore[assignment]  # None -> reward in __post_init__, never None after
    """§2 "= reward": omitted (None) means the reward, so raising the reward alone keeps the rules valid. Note that
    ``dataclasses.replace`` passes the current threshold on; give both when changing the reward that way."""
    launch_date: date | None = None
    """Required in production; without it no payout is ever possible (see ``payouts_start``)."""
    min_months_before_payouts: int = 12
    fund_share_bps: int = 10_000
    backup_withholding_bps: int = 2_400
    form_1099_threshold: Money = field(default_factory=lambda: Money(cents=60_000))
    approvals_required: int = 2
    min_age_years: int = 18
    min_tenure_months: int = 0
    kyc_valid_months: int = 24
    kyc_attempts_per_30_days: int = 3
    payout_info_deadline_days: int = 180
    # Other numbers DOMAIN.md states outside the §2 table, kept here so no rule hides a literal -----------------
    reconciliation_max_age_minutes: int = 60
    """§7: payouts need a successful reconciliation less than this old."""
    kyc_pending_refetch_minutes: int = 15
    """§10: pending KYC attempts older than this are re-fetched (lost webhooks)."""
    kyc_two_staff_top_positions: int = 10
    """§10: a staff KYC decision on a member at or above this queue position needs two staff."""
    queue_window_radius: int = 2
    """§4: the member window is ``[p - radius, p + radius]`` clamped to ``1..N``."""

    def __post_init__(self) -> None:
        if self.payout_threshold is None:
            object.__setattr__(self, "payout_threshold", self.reward)
        problems = self.problems()
        if problems:
            raise RulesInvalid(problems)
        # Normalise to UTC so comparisons and storage never depend on the caller's zone object.
        object.__setattr__(self, "effective_at", ensure_utc(self.effective_at, "effective_at"))

    def problems(self) -> tuple[str, ...]:
        """Every invariant this version breaks (empty when valid). Type problems first, then business rules."""
        problems: list[str] = []
        for name in (
            _POSITIVE_INT_FIELDS
            + _NON_NEGATIVE_INT_FIELDS
            + _BPS_FIELDS
            + (
                "approvals_required",
                "min_age_years",
            )
        ):
            if type(getattr(self, name)) is not int:
                problems.append(f"{name} must be an int")
        for name in _MONEY_FIELDS:
            if not isinstance(getattr(self, name), Money):
                problems.append(f"{name} must be Money")
        if not isinstance(self.effective_at, datetime):
            problems.append("effective_at must be a datetime")
        elif self.effective_at.tzinfo is None or self.effective_at.utcoffset() is None:
            problems.append("effective_at must be timezone-aware UTC")
        if self.launch_date is not None and (
            not isinstance(self.launch_date, date) or isinstance(self.launch_date, datetime)
        ):
            problems.append("launch_date must be a date")
        if problems:
            return tuple(problems)  # the business checks below assume the types are right

        currencies = {getattr(self, name).currency for name in _MONEY_FIELDS}
        if len(currencies) > 1:
            problems.append(f"all amounts must share one currency, got {sorted(currencies)}")
            return tuple(problems)
        for name in _POSITIVE_INT_FIELDS:
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        for name in _NON_NEGATIVE_INT_FIELDS:
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        for name in _BPS_FIELDS:
            if not 0 <= getattr(self, name) <= BPS_DENOMINATOR:
                problems.append(f"{name} must be within 0..{BPS_DENOMINATOR}")
        for name in ("joining_fee", "monthly_dues", "reward"):
            if not getattr(self, name).is_positive:
                problems.append(f"{name} must be positive")
        if self.form_1099_threshold.is_negative:
            problems.append("form_1099_threshold must not be negative")
        if self.joining_fee < self.monthly_dues:
            problems.append("joining_fee must be >= monthly_dues (it includes the first month's dues)")
        if self.payout_threshold < self.reward:
            problems.append("payout_threshold must be >= reward")
        if self.approvals_required < 2:
            problems.append("approvals_required must be >= 2 (two-person approval)")
        if self.min_age_years < 18:
            problems.append("min_age_years must be >= 18")
        if not problems and self.reward <= self.retention_amount + self.max_withholding:
            problems.append("reward must exceed retention + maximum withholding (net must stay positive)")
        return tuple(problems)

    # -- derived values ------------------------------------------------------------------------------------------

    @property
    def retention_amount(self) -> Money:
        """The retention prepayment: ``retention_months x monthly_dues``."""
        return self.monthly_dues * self.retention_months

    @property
    def max_withholding(self) -> Money:
        """Backup withholding on the gross reward when no certified W-9 is on file."""
        return self.reward.share(self.backup_withholding_bps)

    @property
    def min_net_reward(self) -> Money:
        """The smallest possible net reward (no W-9, retention deducted); validation keeps it positive."""
        return self.reward - self.retention_amount - self.max_withholding

    @property
    def reconciliation_max_age(self) -> timedelta:
        return timedelta(minutes=self.reconciliation_max_age_minutes)

    @property
    def grace_period(self) -> timedelta:
        return timedelta(days=self.grace_days)

    @property
    def invoice_unpaid_after(self) -> timedelta:
        return timedelta(hours=self.invoice_unpaid_after_hours)

    def payouts_start(self) -> datetime | None:
        """``launch_date + min_months_before_payouts`` calendar months at 00:00 UTC; ``None`` without a launch."""
        if self.launch_date is None:
            return None
        return start_of_day_utc(add_months(self.launch_date, self.min_months_before_payouts))


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesHistory:
    """All rules versions, validated as a whole: versions 1..n in order, effective times strictly increasing."""

    versions: tuple[ProgramRules, ...]

    def __post_init__(self) -> None:
        problems: list[str] = []
        ordered = tuple(sorted(self.versions, key=lambda rules: rules.version))
        if not ordered:
            problems.append("at least one rules version is required")
        for expected, rules in enumerate(ordered, start=1):
            if rules.version != expected:
                problems.append(f"versions must be 1..n without gaps; found {rules.version} at {expected}")
                break
        for earlier, later in pairwise(ordered):
            if later.effective_at <= earlier.effective_at:
                problems.append(f"version {later.version} must take effect after version {earlier.version}")
        if problems:
            raise RulesInvalid(tuple(problems))
        object.__setattr__(self, "versions", ordered)

    @classmethod
    def of(cls, *versions: ProgramRules) -> RulesHistory:
        return cls(versions=versions)

    def version(self, number: int) -> ProgramRules:
        """The version a record was created under (never re-evaluated against newer rules)."""
        if not 1 <= number <= len(self.versions):
            raise NoRulesInForce(f"unknown rules version {number}")
        return self.versions[number - 1]

    def in_force(self, at: datetime) -> ProgramRules:
        """The version in force at ``at``: the latest whose ``effective_at`` is at or before ``at``."""
        return rules_in_force(self.versions, at)

    @property
    def latest(self) -> ProgramRules:
        return self.versions[-1]


def rules_in_force(versions: Iterable[ProgramRules], at: datetime) -> ProgramRules:
    """Choose the version in force at ``at`` from any collection of versions.

    A change applies only from its ``effective_at`` (inclusive); ties on ``effective_at`` go to the higher
    version number. Raises ``NoRulesInForce`` when nothing has taken effect yet.
    """
    at = ensure_utc(at, "at")
    candidates = [rules for rules in versions if rules.effective_at <= at]
    if not candidates:
        raise NoRulesInForce(f"no rules version is in force at {at.isoformat()}")
    return max(candidates, key=lambda rules: (rules.effective_at, rules.version))


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesChangeCheck:
    ok: bool
    reasons: tuple[str, ...]


def check_rules_change(history: RulesHistory, proposed: ProgramRules, now: datetime) -> RulesChangeCheck:
    """Can ``proposed`` be scheduled at ``now``? It must be the next version and take effect in the future.

    Taking effect strictly after ``now`` is what guarantees it never touches records created before it.
    Approval by two staff is checked where approvals are recorded, not here.
    """
    now = ensure_utc(now, "now")
    reasons: list[str] = []
    if proposed.version != history.latest.version + 1:
        reasons.append("not_next_version")
    if proposed.effective_at <= now:
        reasons.append("not_in_future")
    if proposed.effective_at <= history.latest.effective_at:
        reasons.append("not_after_latest_version")
    return RulesChangeCheck(ok=not reasons, reasons=tuple(reasons))


def rules_field_names() -> tuple[str, ...]:
    """Every configurable field, in declaration order (for persistence and admin display)."""
    return tuple(f.name for f in fields(ProgramRules))


__all__ = [
    "BEGINNING_OF_TIME",
    "ProgramRules",
    "RulesChangeCheck",
    "RulesHistory",
    "check_rules_change",
    "rules_field_names",
    "rules_in_force",
]
