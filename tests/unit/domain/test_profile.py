"""Profile input rules: names, conservative 18+ age, US addresses, E.164 phones."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import birthday_instant
from domain.profile import (
    US_STATES,
    ProfileProblem,
    clean_text,
    date_of_birth_problems,
    name_ok,
    normalise_zip,
    phone_ok,
    us_address,
)

NOW = datetime(2026, 6, 15, 18, 0, tzinfo=UTC)


def test_age_uses_the_conservative_birthday() -> None:
    dob = date(2008, 6, 15)
    turns_18 = birthday_instant(dob, 18)
    assert turns_18 == datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    before = turns_18.replace(hour=11, minute=59)
    assert date_of_birth_problems(dob, now=before, min_age_years=18) == (ProfileProblem.UNDER_AGE,)
    assert date_of_birth_problems(dob, now=turns_18, min_age_years=18) == ()


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 6, 15)))
def test_a_date_of_birth_is_accepted_exactly_when_18_by_the_rule(dob: date) -> None:
    ok = date_of_birth_problems(dob, now=NOW, min_age_years=18) == ()
    assert ok == (birthday_instant(dob, 18) <= NOW)


@pytest.mark.parametrize("dob", [date(1899, 12, 31), date(2026, 6, 16)])
def test_impossible_dates_of_birth(dob: date) -> None:
    assert date_of_birth_problems(dob, now=NOW, min_age_years=18) == (ProfileProblem.DATE_OF_BIRTH_INVALID,)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12345", "12345"), ("123456789", "12345-6789"), ("12345-6789", "12345-6789"), (" 02134 ", "02134")],
)
def test_zip_codes_of_5_or_9_digits(raw: str, expected: str) -> None:
    assert normalise_zip(raw) == expected


@pytest.mark.parametrize("raw", ["1234", "123456", "12345-678", "K1A 0B1", "1234a", ""])
def test_not_zip_codes(raw: str) -> None:
    assert normalise_zip(raw) is None


def test_a_good_us_address_is_cleaned() -> None:
    address, problems = us_address(line1=" 1  Main St ", line2="", city="Albany", state="ny", zip_code="122071234")
    assert problems == ()
    assert address is not None
    assert (address.line1, address.line2, address.region, address.postal_code, address.country) == (
        "1 Main St",
        None,
        "NY",
        "12207-1234",
        "US",
    )
    assert {"PR", "GU", "DC", "AE"} <= US_STATES


def test_every_address_problem_is_reported_at_once() -> None:
    address, problems = us_address(line1=" ", line2="\u200b", city="", state="ON", zip_code="K1A")
    assert address is None
    assert set(problems) == {
        ProfileProblem.ADDRESS_INCOMPLETE,
        ProfileProblem.ADDRESS_LINE_INVALID,
        ProfileProblem.STATE_NOT_US,
        ProfileProblem.ZIP_INVALID,
    }


@pytest.mark.parametrize("phone", ["+12025550100", "+447911123456", "+4915112345678"])
def test_e164_phones(phone: str) -> None:
    assert phone_ok(phone)


@pytest.mark.parametrize("phone", ["12025550100", "+1 202 555 0100", "+0123456789", "+1234567", "+1234567890123456"])
def test_not_e164_phones(phone: str) -> None:
    assert not phone_ok(phone)


def test_names() -> None:
    assert name_ok(clean_text("  Jean-Luc   O'Brien "))
    assert clean_text("  a \t b ") == "a b"
    assert not name_ok("")
    assert not name_ok("123")
    assert not name_ok("Ann\u0000")
    assert not name_ok("x" * 101)
