"""Changing the program rules (DOMAIN.md §2): a proposal names the numbers that change and when; a second staff
member approves it; it then becomes the next version, in force from its effective time.

Why a notice period: members pay for their place under the rules they read. A change is approved at least
``notice`` before it takes effect, so members see it (business rules page, their feed) before it applies, and so
every running process has loaded the new version long before any record is created under it.

What the console may change: the §2 numbers except the launch (``launch_date`` and the months before payouts are
settings of the deployment) and ``monthly_dues``: every member's dues are a price on their subscription at the
payment provider, so a dues change needs every subscription migrated, which is not something a version can do by
itself (D156). A joining fee change applies to checkouts started after it takes effect.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.calendar import ensure_utc
from domain.errors import RulesInvalid
from domain.money import Money
from domain.rules import ProgramRules, RulesHistory, check_rules_change

MONEY_FIELDS = frozenset({"joining_fee", "reward", "payout_threshold", "form_1099_threshold"})
COUNT_FIELDS = frozenset(
    {
        "retention_months",
        "grace_days",
        "invoice_unpaid_after_hours",
        "fund_share_bps",
        "backup_withholding_bps",
        "approvals_required",
        "min_age_years",
        "min_tenure_months",
        "kyc_valid_months",
        "kyc_attempts_per_30_days",
        "payout_info_deadline_days",
    }
)
CHANGEABLE_FIELDS = MONEY_FIELDS | COUNT_FIELDS
"""Money in cents, the rest whole numbers: every change is an ``int``."""
DEFAULT_NOTICE = timedelta(days=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovedChange:
    """A stored, approved change: version ``version`` is the previous one with ``changes`` applied."""

    version: int
    effective_at: datetime
    changes: Mapping[str, int]


def value_of(rules: ProgramRules, name: str) -> int:
    """A changeable field as the integer a change carries (cents for money)."""
    value = getattr(rules, name)
    return value.cents if isinstance(value, Money) else int(value)


def apply_changes(
    base: ProgramRules, *, version: int, effective_at: datetime, changes: Mapping[str, int]
) -> ProgramRules:
    """``base`` with ``changes`` applied as version ``version``; ``RulesInvalid`` lists every problem."""
    problems = [f"{name} cannot be changed here" for name in sorted(set(changes) - CHANGEABLE_FIELDS)]
    problems += [f"{name} must be a whole number" for name, v in sorted(changes.items()) if type(v) is not int]
    values: dict[str, object] = {
        name: Money(cents=cents, currency=base.reward.currency) if name in MONEY_FIELDS else cents
        for name, cents in changes.items()
        if name in CHANGEABLE_FIELDS and type(cents) is int
    }
    try:
        changed = replace(base, version=version, effective_at=effective_at, **values)  # type: ignore[arg-type]
    except RulesInvalid as exc:
        problems += exc.problems
    if problems:
        raise RulesInvalid(tuple(problems))
    return changed


def history_of(first: ProgramRules, approved: Sequence[ApprovedChange]) -> RulesHistory:
    """Version 1 (from settings) followed by every approved change, each on top of the one before."""
    versions = [first]
    for change in sorted(approved, key=lambda c: c.version):
        versions.append(
            apply_changes(
                versions[-1], version=change.version, effective_at=change.effective_at, changes=change.changes
            )
        )
    return RulesHistory.of(*versions)


def proposed_version(
    history: RulesHistory,
    changes: Mapping[str, int],
    *,
    effective_at: datetime,
    now: datetime,
    notice: timedelta = DEFAULT_NOTICE,
) -> ProgramRules:
    """The version ``changes`` would become if approved at ``now``, or ``RulesInvalid`` with every problem.

    Checked when proposed and again when approved (time has passed and another version may have been approved)."""
    effective_at = ensure_utc(effective_at, "effective_at")
    now = ensure_utc(now, "now")
    latest = history.latest
    problems: list[str] = []
    if not changes:
        problems.append("a change must change at least one number")
    unchanged = sorted(name for name, v in changes.items() if name in CHANGEABLE_FIELDS and value_of(latest, name) == v)
    problems += [f"{name} is already {changes[name]}" for name in unchanged]
    if effective_at < now + notice:
        problems.append(f"effective_at must be at least {notice.days} days from now (members are told first)")
    try:
        proposed = apply_changes(latest, version=latest.version + 1, effective_at=effective_at, changes=changes)
    except RulesInvalid as exc:
        raise RulesInvalid(tuple(problems) + exc.problems) from None
    check = check_rules_change(history, proposed, now)
    problems += [f"effective_at: {reason}" for reason in check.reasons if reason != "not_in_future"]
    if problems:
        raise RulesInvalid(tuple(problems))
    return proposed


def differences(before: ProgramRules, after: ProgramRules) -> dict[str, tuple[int, int]]:
    """What a version changes, field by field: ``{name: (before, after)}`` (what members are shown)."""
    return {
        name: (value_of(before, name), value_of(after, name))
        for name in sorted(CHANGEABLE_FIELDS)
        if value_of(before, name) != value_of(after, name)
    }
