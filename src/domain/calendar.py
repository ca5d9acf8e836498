"""Calendar arithmetic: months from an anchor, ages, tenure lengths. All instants are aware UTC.

Why from the anchor: ``due(n) = clamp(anchor + n months)`` is computed afresh for every ``n`` instead of
stepping month by month, so a Jan 31 anchor gives Feb 28, Mar 31, Apr 30 — dates never drift to the 28th.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.errors import InvalidDate, NaiveDatetime

MOST_CONSERVATIVE_UTC_OFFSET = timedelta(hours=-12)
"""UTC-12 is the last zone on Earth where a given calendar day begins (Baker/Howland Island, US territory).

When only a date of birth is known we do not know the person's zone, so a birthday counts as reached only once
it has begun *everywhere*: at 00:00 UTC-12 = 12:00 UTC on that date. Nobody is paid a day early.
"""


def ensure_utc(value: datetime, name: str = "instant") -> datetime:
    """Reject naive datetimes; return the same instant expressed in UTC."""
    if not isinstance(value, datetime):
        raise InvalidDate(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def start_of_day_utc(day: date) -> datetime:
    """00:00 UTC of ``day``."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def add_months(anchor: date, months: int) -> date:
    """``anchor + months`` calendar months, clamped to the last day of the target month."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise InvalidDate(f"{anchor.isoformat()} + {months} months is out of range")
    last_day = _stdlib_calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor.day, last_day))


def add_months_utc(anchor: datetime, months: int) -> datetime:
    """``anchor + months`` for an instant: the UTC date is clamped, the UTC time of day is kept."""
    anchor = ensure_utc(anchor, "anchor")
    return datetime.combine(add_months(anchor.date(), months), anchor.timetz())


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from ``start`` to ``end`` (``end ≥ start``), counted from the anchor ``start``.

    The largest ``m`` with ``add_months_utc(start, m) ≤ end``; e.g. Jan 31 → Feb 28 is one month.
    """
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end < start:
        raise InvalidDate("end is before start")
    months = (end.year - start.year) * 12 + (end.month - start.month)
    # The estimate lands in end's month; it can overshoot by at most one (same month, later day or time).
    if add_months_utc(start, months) > end:
        months -= 1
    return months


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenure:
    """A tenure length as shown to members: whole months, then whole days after the last month boundary."""

    months: int
    days: int


def tenure_between(start: datetime, end: datetime) -> Tenure:
    """Tenure from ``start`` (tenure_start) to ``end``: whole months from the anchor, then whole days."""
    months = months_between(start, end)
    rest = ensure_utc(end, "end") - add_months_utc(start, months)
    return Tenure(months=months, days=rest.days)


def age_on(date_of_birth: date, on: date) -> int:
    """Completed years on the calendar date ``on``.

    Compares (month, day) pairs, so a Feb 29 birthday is reached on Mar 1 in non-leap years (Feb 28 < Feb 29).
    """
    if on < date_of_birth:
        raise InvalidDate("date is before the date of birth")
    before_birthday = (on.month, on.day) < (date_of_birth.month, date_of_birth.day)
    return on.year - date_of_birth.year - (1 if before_birthday else 0)


def conservative_local_date(at: datetime) -> date:
    """The earliest calendar date anywhere on Earth at instant ``at`` (the date in UTC-12)."""
    return (ensure_utc(at, "at") + MOST_CONSERVATIVE_UTC_OFFSET).date()


def age_at(date_of_birth: date, at: datetime) -> int:
    """Completed years at instant ``at`` when only a date of birth is known (zone unknown).

    Conservative: evaluated on the earliest local date anywhere at ``at`` (UTC-12), so a person born on
    2007-06-15 is 18 from 2025-06-15T12:00Z, not from midnight UTC or their own (unknown) local midnight. Before
    the birth date itself (in that zone) the age is 0 rather than an error: a newborn is simply not of age.
    """
    local = conservative_local_date(at)
    if local < date_of_birth:
        return 0
    return age_on(date_of_birth, local)


def birthday_instant(date_of_birth: date, years: int) -> datetime:
    """The first instant at which ``age_at(date_of_birth, ·) ≥ years`` (Feb 29 → Mar 1 in common years)."""
    target_year = date_of_birth.year + years
    if _stdlib_calendar.isleap(target_year) or (date_of_birth.month, date_of_birth.day) != (2, 29):
        birthday = date_of_birth.replace(year=target_year)
    else:
        birthday = date(target_year, 3, 1)
    return start_of_day_utc(birthday) - MOST_CONSERVATIVE_UTC_OFFSET
