"""`/api/business-rules`: the program rules as configured, and my eligibility rule by rule (DOMAIN.md §6).

Eligibility is evaluated by the domain with every failed reason, and grouped here into the rules a member
reads: standing, identity, age, one win per person and identity, minimum tenure. Nothing about anyone else is
shown; the only facts about other people used are "this identity is held or has won elsewhere".
"""

from dataclasses import dataclass
from datetime import date, datetime

from domain.eligibility import Reason, eligibility
from domain.money import Money
from domain.rules import ProgramRules
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.eligibility import facts_of

RULE_REASONS: tuple[tuple[str, frozenset[Reason]], ...] = (
    (
        "membership_standing",
        frozenset({Reason.NOT_ACTIVE, Reason.PAST_DUE, Reason.CANCELLATION_SCHEDULED, Reason.PAYMENT_DISPUTED}),
    ),
    (
        "identity_verified",
        frozenset({Reason.KYC_NOT_VERIFIED, Reason.KYC_EXPIRED, Reason.KYC_NOT_US, Reason.IDENTITY_UNKNOWN}),
    ),
    ("minimum_age", frozenset({Reason.AGE_UNKNOWN, Reason.UNDER_AGE})),
    (
        "one_win_per_person",
        frozenset(
            {Reason.ALREADY_WON, Reason.IDENTITY_ALREADY_WON, Reason.DUPLICATE_IDENTITY, Reason.IDENTITY_TERMINATED}
        ),
    ),
    ("minimum_tenure", frozenset({Reason.MIN_TENURE_NOT_MET})),
)
"""Every reason belongs to exactly one rule (a test keeps this table complete)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleCheck:
    rule: str
    ok: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MyEligibility:
    eligible: bool
    at: datetime
    rules: tuple[RuleCheck, ...]


async def my_eligibility(deps: Deps, principal: Principal) -> MyEligibility:
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        facts = await facts_of(uow, principal.account_id, now)
    result = eligibility(facts, rules, now)
    checks = tuple(
        RuleCheck(
            rule=name,
            ok=not (reasons & set(result.reasons)),
            reasons=tuple(r.value for r in result.reasons if r in reasons),
        )
        for name, reasons in RULE_REASONS
    )
    return MyEligibility(eligible=result.ok, at=now, rules=checks)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramRulesView:
    version: int
    effective_at: datetime
    joining_fee: Money
    monthly_dues: Money
    retention_months: int
    grace_days: int
    reward: Money
    payout_threshold: Money
    launch_date: date | None
    payouts_from: datetime | None
    min_age_years: int
    min_tenure_months: int
    kyc_valid_months: int
    kyc_attempts_per_30_days: int
    fund_share_bps: int
    backup_withholding_bps: int
    payout_info_deadline_days: int
    terms_version: str
    """The membership terms a person accepts at checkout (the SPA shows and sends this version)."""


def program_rules(deps: Deps) -> ProgramRulesView:
    rules: ProgramRules = deps.rules.in_force(deps.clock.now())
    return ProgramRulesView(
        version=rules.version,
        effective_at=rules.effective_at,
        joining_fee=rules.joining_fee,
        monthly_dues=rules.monthly_dues,
        retention_months=rules.retention_months,
        grace_days=rules.grace_days,
        reward=rules.reward,
        payout_threshold=rules.payout_threshold,
        launch_date=rules.launch_date,
        payouts_from=rules.payouts_start(),
        min_age_years=rules.min_age_years,
        min_tenure_months=rules.min_tenure_months,
        kyc_valid_months=rules.kyc_valid_months,
        kyc_attempts_per_30_days=rules.kyc_attempts_per_30_days,
        fund_share_bps=rules.fund_share_bps,
        backup_withholding_bps=rules.backup_withholding_bps,
        payout_info_deadline_days=rules.payout_info_deadline_days,
        terms_version=deps.billing.terms_version,
    )
