"""`/api/business-rules`: the program rules as configured (public) and my eligibility rule by rule."""

from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from domain.money import Money
from entrypoints.http.schemas import MoneyOut, Problem, money_out
from ports.usecases import business_rules, program_rules
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps


class RuleOut(msgspec.Struct, rename="camel", kw_only=True):
    rule: str
    """membership_standing | identity_verified | minimum_age | one_win_per_person | minimum_tenure"""
    ok: bool
    reasons: list[str]


class MyEligibilityOut(msgspec.Struct, rename="camel", kw_only=True):
    eligible: bool
    at: datetime
    rules: list[RuleOut]


class ChangedValue(msgspec.Struct, rename="camel", kw_only=True):
    field: str
    before: int
    after: int
    """Money in cents; the rest whole numbers."""


class UpcomingOut(msgspec.Struct, rename="camel", kw_only=True):
    version: int
    effective_at: datetime
    changes: list[ChangedValue]


class ProgramRulesOut(msgspec.Struct, rename="camel", kw_only=True):
    version: int
    effective_at: datetime
    joining_fee: MoneyOut
    monthly_dues: MoneyOut
    retention_months: int
    grace_days: int
    reward: MoneyOut
    payout_threshold: MoneyOut
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
    upcoming: list[UpcomingOut]
    """Approved changes not in force yet: members see them before they apply."""


def my_eligibility_out(result: business_rules.MyEligibility) -> MyEligibilityOut:
    return MyEligibilityOut(
        eligible=result.eligible,
        at=result.at,
        rules=[RuleOut(rule=c.rule, ok=c.ok, reasons=list(c.reasons)) for c in result.rules],
    )


class BusinessRulesController(Controller):
    path = "/api/business-rules"
    tags = ["business-rules"]

    @get("/", operation_id="getProgramRules")
    async def rules(self, deps: NamedDependency[Deps]) -> ProgramRulesOut:
        """The program rules in force (fees, thresholds, dates): the same for everyone."""
        view = business_rules.program_rules(deps)
        fields: dict[str, Any] = {}
        for name in ProgramRulesOut.__struct_fields__:
            if name == "upcoming":
                continue
            value = getattr(view, name)
            fields[name] = money_out(value) if isinstance(value, Money) else value
        upcoming = [
            UpcomingOut(
                version=u.version,
                effective_at=u.effective_at,
                changes=[ChangedValue(field=k, before=b, after=a) for k, (b, a) in u.differences.items()],
            )
            for u in program_rules.upcoming(deps)
        ]
        return ProgramRulesOut(**fields, upcoming=upcoming)

    @get("/me", operation_id="getMyEligibility", responses={401: ResponseSpec(Problem, description="Not signed in")})
    async def mine(self, principal: NamedDependency[Principal], deps: NamedDependency[Deps]) -> MyEligibilityOut:
        """Each eligibility rule with pass/fail and the reasons it fails (DOMAIN.md §6)."""
        return my_eligibility_out(await business_rules.my_eligibility(deps, principal))
