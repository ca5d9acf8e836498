"""What a member may enter about themselves (API `/api/profiles/me`; DOMAIN.md §3 "before checkout").

Why here: the same checks guard the profile screen and, later, checkout and cheque payouts, so they are rules,
not HTTP validation. Every check returns *all* its problems at once (a person fixing a form wants the full list).
The time zone is checked by the caller against the IANA database (reading it is I/O, so not in the domain).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum

from domain.calendar import age_at
from domain.checkout import US, PostalAddress

US_STATES = frozenset(
    {
        *("AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY"),
        *("LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND"),
        *("OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY"),
        "DC",
        # Territories are entered as US states (D45) and military post offices are US addresses.
        *("AS", "GU", "MP", "PR", "VI", "UM", "AA", "AE", "AP"),
    }
)
"""Two-letter USPS codes of the states, DC, the territories and the military post offices."""

PHONE_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
ZIP_CODE = re.compile(r"^(\d{5})-?(\d{4})?$")
NAME_MAX_LENGTH = 100
ADDRESS_LINE_MAX_LENGTH = 200
OLDEST_BIRTH_YEAR = 1900


class ProfileProblem(StrEnum):
    FIRST_NAME_INVALID = "first_name_invalid"
    LAST_NAME_INVALID = "last_name_invalid"
    DATE_OF_BIRTH_INVALID = "date_of_birth_invalid"
    """In the future or before 1900."""
    UNDER_AGE = "under_age"
    ADDRESS_INCOMPLETE = "address_incomplete"
    ADDRESS_LINE_INVALID = "address_line_invalid"
    STATE_NOT_US = "state_not_us"
    ZIP_INVALID = "zip_invalid"
    PHONE_INVALID = "phone_invalid"
    TIME_ZONE_INVALID = "time_zone_invalid"


def _printable(value: str) -> bool:
    """No control, format or private-use characters (they hide text or break mail merges)."""
    return all(unicodedata.category(ch)[0] != "C" for ch in value)


def clean_text(value: str) -> str:
    """NFC-normalised with surrounding and repeated inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def name_ok(value: str) -> bool:
    """A legal name part: 1–100 printable characters with at least one letter."""
    return (
        0 < len(value) <= NAME_MAX_LENGTH
        and _printable(value)
        and any(unicodedata.category(ch)[0] == "L" for ch in value)
    )


def date_of_birth_problems(date_of_birth: date, *, now: datetime, min_age_years: int) -> tuple[ProfileProblem, ...]:
    """Age uses the conservative rule of ``calendar.age_at`` (D20/D47): 18 only once the birthday began everywhere."""
    if date_of_birth.year < OLDEST_BIRTH_YEAR or date_of_birth > now.date():
        return (ProfileProblem.DATE_OF_BIRTH_INVALID,)
    if age_at(date_of_birth, now) < min_age_years:
        return (ProfileProblem.UNDER_AGE,)
    return ()


def normalise_zip(value: str) -> str | None:
    """``12345`` or ``12345-6789`` (from 5 or 9 digits, with or without the dash); None if not a ZIP code."""
    match = ZIP_CODE.match(value.strip())
    if match is None:
        return None
    five, four = match.groups()
    return f"{five}-{four}" if four else five


def us_address(
    *, line1: str, line2: str | None, city: str, state: str, zip_code: str
) -> tuple[PostalAddress | None, tuple[ProfileProblem, ...]]:
    """A cleaned US postal address (country ``US``), or every problem with the input."""
    problems: list[ProfileProblem] = []
    line1, city = clean_text(line1), clean_text(city)
    line2 = clean_text(line2) if line2 is not None else None
    if not line1 or not city:
        problems.append(ProfileProblem.ADDRESS_INCOMPLETE)
    if any(not _printable(part) or len(part) > ADDRESS_LINE_MAX_LENGTH for part in (line1, line2 or "", city) if part):
        problems.append(ProfileProblem.ADDRESS_LINE_INVALID)
    region = state.strip().upper()
    if region not in US_STATES:
        problems.append(ProfileProblem.STATE_NOT_US)
    postal_code = normalise_zip(zip_code)
    if postal_code is None:
        problems.append(ProfileProblem.ZIP_INVALID)
    if problems:
        return None, tuple(problems)
    address = PostalAddress(
        line1=line1, line2=line2 or None, city=city, region=region, postal_code=postal_code, country=US
    )
    return address, ()


def phone_ok(value: str) -> bool:
    """E.164: ``+``, a non-zero country code digit, 8–15 digits in all; no spaces or punctuation."""
    return PHONE_E164.match(value) is not None
