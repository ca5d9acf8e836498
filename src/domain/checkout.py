"""Checkout preconditions (DOMAIN.md §2 ``min_age_years``, §3 "Before checkout").

Why every reason at once: a person about to pay $300 should see everything still missing on one screen, not fix
one field and be refused for the next. The program is for US persons (§1), so the address must be a US one, and
the person must be of age by their profile date of birth before any money is taken (KYC re-checks the age with
the verified date of birth at selection).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.calendar import age_at, ensure_utc
from domain.rules import ProgramRules

US = "US"
"""ISO 3166-1 alpha-2 code of the only country the program serves; territories are addressed as US states."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PostalAddress:
    """A postal address as entered; ``None`` or blank means not given. ``region`` is the US state code."""

    line1: str | None = None
    line2: str | None = None
    """Optional (apartment, suite)."""
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class AddressProblem(StrEnum):
    INCOMPLETE = "address_incomplete"
    """A required line (street, city, state, ZIP, country) is missing."""
    NOT_US = "address_not_us"


def _given(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def is_us(country: str | None) -> bool:
    """The country code is ``US`` (case and surrounding spaces ignored)."""
    return country is not None and country.strip().upper() == US


def address_problems(address: PostalAddress | None) -> tuple[AddressProblem, ...]:
    """Every problem with an address that must be a complete US address (checkout, cheque payouts)."""
    if address is None:
        return (AddressProblem.INCOMPLETE,)
    problems: list[AddressProblem] = []
    required = (address.line1, address.city, address.region, address.postal_code, address.country)
    if not all(_given(value) for value in required):
        problems.append(AddressProblem.INCOMPLETE)
    if _given(address.country) and not is_us(address.country):
        problems.append(AddressProblem.NOT_US)
    return tuple(problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileFacts:
    """What the profile holds when checkout is asked for (``None`` = not filled in yet)."""

    legal_name: str | None = None
    date_of_birth: date | None = None
    address: PostalAddress | None = None


class CheckoutBlocker(StrEnum):
    LEGAL_NAME_MISSING = "legal_name_missing"
    DATE_OF_BIRTH_MISSING = "date_of_birth_missing"
    ADDRESS_INCOMPLETE = "address_incomplete"
    ADDRESS_NOT_US = "address_not_us"
    UNDER_AGE = "under_age"
    """Younger than ``min_age_years`` at ``now`` by the profile date of birth, in the most conservative zone."""
    TERMS_NOT_ACCEPTED = "terms_not_accepted"
    TERMS_OUTDATED = "terms_outdated"
    """Accepted an earlier terms version; the current one must be accepted."""
    PAYMENT_AUTHORIZATION_MISSING = "payment_authorization_missing"


_ADDRESS_BLOCKER = {
    AddressProblem.INCOMPLETE: CheckoutBlocker.ADDRESS_INCOMPLETE,
    AddressProblem.NOT_US: CheckoutBlocker.ADDRESS_NOT_US,
}


def checkout_blockers(
    *,
    profile: ProfileFacts,
    accepted_terms_version: str | None,
    current_terms_version: str,
    payment_authorization_accepted: bool,
    now: datetime,
    rules: ProgramRules,
) -> tuple[CheckoutBlocker, ...]:
    """Every reason checkout may not start now (empty = may start), in a stable order.

    Age uses ``calendar.age_at`` (birthday counted from 12:00 UTC, D20), the same conservative rule as
    eligibility, so nobody checks out a few hours before turning 18 anywhere on Earth. Recording the
    acceptance (version, time, IP) is the caller's job; this only decides.
    """
    now = ensure_utc(now, "now")
    blockers: list[CheckoutBlocker] = []
    if not _given(profile.legal_name):
        blockers.append(CheckoutBlocker.LEGAL_NAME_MISSING)
    if profile.date_of_birth is None:
        blockers.append(CheckoutBlocker.DATE_OF_BIRTH_MISSING)
    blockers.extend(_ADDRESS_BLOCKER[problem] for problem in address_problems(profile.address))
    if profile.date_of_birth is not None and age_at(profile.date_of_birth, now) < rules.min_age_years:
        blockers.append(CheckoutBlocker.UNDER_AGE)
    if accepted_terms_version is None:
        blockers.append(CheckoutBlocker.TERMS_NOT_ACCEPTED)
    elif accepted_terms_version != current_terms_version:
        blockers.append(CheckoutBlocker.TERMS_OUTDATED)
    if not payment_authorization_accepted:
        blockers.append(CheckoutBlocker.PAYMENT_AUTHORIZATION_MISSING)
    return tuple(blockers)


__all__ = [
    "US",
    "AddressProblem",
    "CheckoutBlocker",
    "PostalAddress",
    "ProfileFacts",
    "address_problems",
    "checkout_blockers",
    "is_us",
]
