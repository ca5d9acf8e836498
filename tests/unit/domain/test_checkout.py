"""Checkout preconditions: complete profile, US address, of age, current terms, payment authorization."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.checkout import (
    AddressProblem,
    CheckoutBlocker,
    PostalAddress,
    ProfileFacts,
    address_problems,
    checkout_blockers,
    is_us,
)
from domain.errors import NaiveDatetime
from domain.rules import ProgramRules

B = CheckoutBlocker
RULES = ProgramRules()
NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
HOME = PostalAddress(line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US")
ADULT = ProfileFacts(legal_name="Ada Lovelace", date_of_birth=date(1990, 1, 1), address=HOME)


def blockers(
    profile: ProfileFacts = ADULT,
    *,
    accepted: str | None = "2025-01",
    current: str = "2025-01",
    authorized: bool = True,
    now: datetime = NOW,
    rules: ProgramRules = RULES,
) -> tuple[CheckoutBlocker, ...]:
    return checkout_blockers(
        profile=profile,
        accepted_terms_version=accepted,
        current_terms_version=current,
        payment_authorization_accepted=authorized,
        now=now,
        rules=rules,
    )


def test_complete_profile_may_check_out() -> None:
    assert blockers() == ()


def test_empty_profile_lists_every_reason() -> None:
    assert blockers(ProfileFacts(), accepted=None, authorized=False) == (
        B.LEGAL_NAME_MISSING,
        B.DATE_OF_BIRTH_MISSING,
        B.ADDRESS_INCOMPLETE,
        B.TERMS_NOT_ACCEPTED,
        B.PAYMENT_AUTHORIZATION_MISSING,
    )


def test_blank_values_count_as_missing() -> None:
    blank = ProfileFacts(legal_name="  ", date_of_birth=date(1990, 1, 1), address=replace(HOME, city=" "))
    assert blockers(blank) == (B.LEGAL_NAME_MISSING, B.ADDRESS_INCOMPLETE)


def test_non_us_address_and_outdated_terms() -> None:
    abroad = replace(ADULT, address=replace(HOME, country="CA"))
    assert blockers(abroad, accepted="2024-07") == (B.ADDRESS_NOT_US, B.TERMS_OUTDATED)


def test_address_line2_is_optional_and_country_case_is_ignored() -> None:
    assert blockers(replace(ADULT, address=replace(HOME, line2="Apt 4", country=" us "))) == ()


def test_under_age_by_profile_date_of_birth() -> None:
    # 18 on 2025-06-15: reached at 12:00 UTC that day (the day has begun everywhere), not at midnight UTC.
    teen = replace(ADULT, date_of_birth=date(2007, 6, 15))
    assert blockers(teen, now=datetime(2025, 6, 15, 11, 59, 59, tzinfo=UTC)) == (B.UNDER_AGE,)
    assert blockers(teen, now=datetime(2025, 6, 15, 12, tzinfo=UTC)) == ()


def test_leap_day_birthday_turns_18_on_march_1() -> None:
    leap = replace(ADULT, date_of_birth=date(2008, 2, 29))
    assert blockers(leap, now=datetime(2026, 2, 28, 23, tzinfo=UTC)) == (B.UNDER_AGE,)
    assert blockers(leap, now=datetime(2026, 3, 1, 12, tzinfo=UTC)) == ()


def test_date_of_birth_in_the_future_is_under_age() -> None:
    assert blockers(replace(ADULT, date_of_birth=date(2030, 1, 1))) == (B.UNDER_AGE,)


def test_min_age_comes_from_the_rules() -> None:
    twenty = replace(ADULT, date_of_birth=date(2005, 1, 1))
    assert blockers(twenty) == ()
    assert blockers(twenty, rules=ProgramRules(min_age_years=21)) == (B.UNDER_AGE,)


def test_naive_now_is_refused() -> None:
    with pytest.raises(NaiveDatetime):
        blockers(now=datetime(2025, 1, 1))


@given(days=st.integers(min_value=-800, max_value=800))
def test_of_age_exactly_from_the_conservative_birthday(days: int) -> None:
    """Independent of ``age_at``: the 18th birthday begins everywhere at 12:00 UTC of that date."""
    dob = date(2000, 3, 10)
    now = datetime(2018, 3, 10, 12, tzinfo=UTC) + timedelta(hours=days)
    under = B.UNDER_AGE in blockers(replace(ADULT, date_of_birth=dob), now=now)
    assert under == (days < 0)


class TestAddress:
    def test_missing_address(self) -> None:
        assert address_problems(None) == (AddressProblem.INCOMPLETE,)

    def test_incomplete_and_foreign(self) -> None:
        assert address_problems(replace(HOME, postal_code=None, country="MX")) == (
            AddressProblem.INCOMPLETE,
            AddressProblem.NOT_US,
        )

    def test_missing_country_is_incomplete_not_foreign(self) -> None:
        assert address_problems(replace(HOME, country=None)) == (AddressProblem.INCOMPLETE,)

    def test_is_us(self) -> None:
        assert is_us("US")
        assert is_us("us")
        assert not is_us("USA")
        assert not is_us(None)
