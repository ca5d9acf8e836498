"""Calendar: months from the anchor with clamping, conservative ages, tenure lengths."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import (
    Tenure,
    add_months,
    add_months_utc,
    age_at,
    age_on,
    birthday_instant,
    conservative_local_date,
    ensure_utc,
    months_between,
    start_of_day_utc,
    tenure_between,
)
from domain.errors import InvalidDate, NaiveDatetime

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class TestEnsureUtc:
    def test_naive_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            ensure_utc(datetime(2025, 1, 1))

    def test_non_datetime_refused(self) -> None:
        with pytest.raises(InvalidDate):
            ensure_utc(date(2025, 1, 1))  # type: ignore[arg-type]

    def test_other_offset_converted(self) -> None:
        eastern = timezone(timedelta(hours=-5))
        assert ensure_utc(datetime(2025, 1, 1, 19, tzinfo=eastern)) == utc(2025, 1, 2, 0)
        assert ensure_utc(datetime(2025, 1, 1, 19, tzinfo=eastern)).tzinfo is UTC

    def test_start_of_day(self) -> None:
        assert start_of_day_utc(date(2025, 3, 1)) == utc(2025, 3, 1)


class TestAddMonths:
    def test_acceptance_anchor_jan_31(self) -> None:
        anchor = date(2025, 1, 31)
        assert [add_months(anchor, n) for n in (1, 2, 3)] == [
            date(2025, 2, 28),
            date(2025, 3, 31),
            date(2025, 4, 30),
        ]

    def test_leap_year(self) -> None:
        assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
        assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
        assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)

    def test_negative_and_year_wrap(self) -> None:
        assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)
        assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)

    def test_out_of_range(self) -> None:
        with pytest.raises(InvalidDate):
            add_months(date(9999, 12, 1), 1)

    def test_instant_keeps_time_of_day(self) -> None:
        assert add_months_utc(utc(2025, 1, 31, 13, 45, 10), 1) == utc(2025, 2, 28, 13, 45, 10)

    @given(anchor=dates, n=st.integers(min_value=0, max_value=600))
    def test_from_anchor_never_drifts_and_clamps(self, anchor: date, n: int) -> None:
        due = add_months(anchor, n)
        # right month
        assert (due.year * 12 + due.month) - (anchor.year * 12 + anchor.month) == n
        # the anchor's day, clamped to the month's last day (from the standard library, not from add_months)
        last_day = monthrange(due.year, due.month)[1]
        assert due.day == min(anchor.day, last_day)

    @given(anchor=dates, n=st.integers(min_value=0, max_value=120), k=st.integers(min_value=0, max_value=120))
    def test_stepping_can_drift_but_anchor_does_not(self, anchor: date, n: int, k: int) -> None:
        # from the anchor the day is always the anchor's when the month has it
        due = add_months(anchor, n + k)
        stepped = add_months(add_months(anchor, n), k)
        assert due.day >= stepped.day
        if anchor.day <= 28:
            assert due == stepped


class TestMonthsAndTenure:
    def test_months_between(self) -> None:
        start = utc(2025, 1, 31, 12)
        assert months_between(start, utc(2025, 2, 28, 11, 59)) == 0
        assert months_between(start, utc(2025, 2, 28, 12)) == 1
        assert months_between(start, utc(2025, 3, 30)) == 1
        assert months_between(start, utc(2025, 3, 31, 12)) == 2

    def test_end_before_start(self) -> None:
        with pytest.raises(InvalidDate):
            months_between(utc(2025, 1, 2), utc(2025, 1, 1))

    def test_tenure_months_and_days(self) -> None:
        assert tenure_between(utc(2025, 1, 31, 12), utc(2025, 3, 5, 12)) == Tenure(months=1, days=5)
        assert tenure_between(utc(2025, 1, 15), utc(2025, 1, 15)) == Tenure(months=0, days=0)
        assert tenure_between(utc(2024, 2, 29), utc(2025, 2, 28)) == Tenure(months=12, days=0)

    @given(start=instants, delta=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4000)))
    def test_tenure_is_consistent(self, start: datetime, delta: timedelta) -> None:
        end = start + delta
        tenure = tenure_between(start, end)
        boundary = add_months_utc(start, tenure.months)
        assert boundary <= end < add_months_utc(start, tenure.months + 1)
        assert tenure.days == (end - boundary).days
        assert 0 <= tenure.days <= 30


class TestAge:
    def test_age_on(self) -> None:
        assert age_on(date(2007, 6, 15), date(2025, 6, 14)) == 17
        assert age_on(date(2007, 6, 15), date(2025, 6, 15)) == 18

    def test_feb_29_turns_18_on_mar_1_in_common_years(self) -> None:
        dob = date(2008, 2, 29)
        assert age_on(dob, date(2026, 2, 28)) == 17
        assert age_on(dob, date(2026, 3, 1)) == 18
        assert age_on(dob, date(2028, 2, 29)) == 20  # leap year: on the day itself

    def test_age_on_before_birth(self) -> None:
        with pytest.raises(InvalidDate):
            age_on(date(2000, 1, 2), date(2000, 1, 1))

    def test_conservative_zone_is_utc_minus_12(self) -> None:
        assert conservative_local_date(utc(2025, 6, 15, 11, 59, 59)) == date(2025, 6, 14)
        assert conservative_local_date(utc(2025, 6, 15, 12)) == date(2025, 6, 15)

    def test_nobody_is_of_age_a_moment_early(self) -> None:
        dob = date(2007, 6, 15)
        # midnight UTC on the birthday is still the 14th in UTC-12 (and in Hawaii): not yet 18
        assert age_at(dob, utc(2025, 6, 15, 0)) == 17
        assert age_at(dob, utc(2025, 6, 15, 11, 59, 59)) == 17
        assert age_at(dob, utc(2025, 6, 15, 12)) == 18
        assert birthday_instant(dob, 18) == utc(2025, 6, 15, 12)

    def test_feb_29_instant(self) -> None:
        dob = date(2008, 2, 29)
        assert birthday_instant(dob, 18) == utc(2026, 3, 1, 12)
        assert birthday_instant(dob, 20) == utc(2028, 2, 29, 12)
        assert age_at(dob, utc(2026, 3, 1, 11, 59)) == 17
        assert age_at(dob, utc(2026, 3, 1, 12)) == 18

    def test_before_birth_is_zero(self) -> None:
        assert age_at(date(2025, 6, 15), utc(2025, 6, 15, 0)) == 0

    @given(dob=st.dates(min_value=date(1950, 1, 1), max_value=date(2020, 12, 31)), years=st.integers(1, 80))
    def test_birthday_instant_is_the_first_instant_of_age(self, dob: date, years: int) -> None:
        instant = birthday_instant(dob, years)
        assert age_at(dob, instant) == years
        assert age_at(dob, instant - timedelta(microseconds=1)) == years - 1
        # it is the start of the birthday (Mar 1 for Feb 29 in common years) in UTC-12, the last zone to reach it
        try:
            birthday = dob.replace(year=dob.year + years)
        except ValueError:
            birthday = date(dob.year + years, 3, 1)
        local = instant - timedelta(hours=12)
        assert (local.date(), local.time()) == (birthday, datetime.min.time())
