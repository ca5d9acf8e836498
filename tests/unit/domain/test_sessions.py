"""Roles, idle/absolute timeouts (staff shorter), touch throttling, step-up freshness, the staff 2FA gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidPolicy, NaiveDatetime
from domain.sessions import (
    STAFF_ROLES,
    Access,
    AccessDenial,
    Role,
    SessionPolicy,
    SessionStatus,
    can_hold_membership,
    is_staff,
    session_status,
    should_touch,
    staff_access,
    step_up_fresh,
)

POLICY = SessionPolicy()
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
US = timedelta(microseconds=1)


def status(role: Role, last_seen: timedelta, now: timedelta) -> SessionStatus:
    return session_status(role=role, created_at=T0, last_seen_at=T0 + last_seen, now=T0 + now, policy=POLICY)


class TestRoles:
    def test_staff(self) -> None:
        assert {Role.ADMIN, Role.FINANCE} == STAFF_ROLES
        assert [is_staff(r) for r in (Role.MEMBER, Role.ADMIN, Role.FINANCE)] == [False, True, True]

    def test_staff_cannot_hold_memberships(self) -> None:
        assert can_hold_membership(Role.MEMBER)
        assert not can_hold_membership(Role.ADMIN)
        assert not can_hold_membership(Role.FINANCE)

    def test_wire_values(self) -> None:
        assert [r.value for r in Role] == ["member", "admin", "finance"]


class TestPolicy:
    def test_defaults(self) -> None:
        assert (POLICY.member_idle, POLICY.member_absolute) == (timedelta(minutes=30), timedelta(hours=12))
        assert (POLICY.staff_idle, POLICY.staff_absolute) == (timedelta(minutes=15), timedelta(hours=8))
        assert (POLICY.step_up_window, POLICY.touch_interval) == (timedelta(minutes=10), timedelta(seconds=60))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"touch_interval": timedelta(0)},
            {"staff_idle": timedelta(minutes=31)},
            {"staff_absolute": timedelta(hours=13)},
            {"member_idle": timedelta(hours=13), "member_absolute": timedelta(hours=12)},
            {"staff_idle": timedelta(minutes=20), "staff_absolute": timedelta(minutes=10)},
            {"touch_interval": timedelta(minutes=15)},
        ],
    )
    def test_contradictions_refused(self, kwargs: dict[str, timedelta]) -> None:
        with pytest.raises(InvalidPolicy):
            SessionPolicy(**kwargs)


class TestStatus:
    def test_member_idle_boundary(self) -> None:
        assert status(Role.MEMBER, timedelta(0), 30 * MINUTE - US) is SessionStatus.ACTIVE
        assert status(Role.MEMBER, timedelta(0), 30 * MINUTE) is SessionStatus.IDLE_EXPIRED

    def test_staff_idle_is_shorter(self) -> None:
        assert status(Role.ADMIN, timedelta(0), 15 * MINUTE - US) is SessionStatus.ACTIVE
        assert status(Role.FINANCE, timedelta(0), 15 * MINUTE) is SessionStatus.IDLE_EXPIRED
        assert status(Role.MEMBER, timedelta(0), 15 * MINUTE) is SessionStatus.ACTIVE

    def test_absolute_boundary_despite_activity(self) -> None:
        twelve = timedelta(hours=12)
        assert status(Role.MEMBER, twelve - MINUTE, twelve - US) is SessionStatus.ACTIVE
        assert status(Role.MEMBER, twelve - MINUTE, twelve) is SessionStatus.ABSOLUTE_EXPIRED
        eight = timedelta(hours=8)
        assert status(Role.ADMIN, eight - MINUTE, eight) is SessionStatus.ABSOLUTE_EXPIRED

    def test_absolute_wins_over_idle(self) -> None:
        assert status(Role.MEMBER, timedelta(0), timedelta(hours=13)) is SessionStatus.ABSOLUTE_EXPIRED

    def test_naive_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            session_status(
                role=Role.MEMBER,
                created_at=T0,
                last_seen_at=datetime(2026, 1, 1),
                now=T0,
                policy=POLICY,
            )

    @given(
        role=st.sampled_from(Role),
        seen=st.integers(min_value=0, max_value=20 * 3600),
        idle=st.integers(min_value=0, max_value=20 * 3600),
    )
    def test_active_iff_within_both_limits(self, role: Role, seen: int, idle: int) -> None:
        last_seen, now = timedelta(seconds=seen), timedelta(seconds=seen + idle)
        result = status(role, last_seen, now)
        idle_limit = timedelta(minutes=15 if role in STAFF_ROLES else 30)
        absolute_limit = timedelta(hours=8 if role in STAFF_ROLES else 12)
        assert (result is SessionStatus.ACTIVE) == (now < absolute_limit and now - last_seen < idle_limit)
        # A staff session is never alive where the same member session is dead.
        if result is SessionStatus.ACTIVE:
            assert status(Role.MEMBER, last_seen, now) is SessionStatus.ACTIVE


class TestTouchAndStepUp:
    def test_touch_at_most_once_a_minute(self) -> None:
        assert not should_touch(T0, T0 + MINUTE - US, POLICY)
        assert should_touch(T0, T0 + MINUTE, POLICY)

    @given(
        gaps=st.lists(st.integers(min_value=0, max_value=14 * 60), min_size=1, max_size=50),
        role=st.sampled_from(Role),
    )
    def test_touching_keeps_a_busy_session_alive(self, gaps: list[int], role: Role) -> None:
        # Requests never more than 14 min apart, touched only when should_touch says so: never idle-expired.
        now = last_seen = T0
        for gap in gaps:
            now += timedelta(seconds=gap)
            result = session_status(role=role, created_at=T0, last_seen_at=last_seen, now=now, policy=POLICY)
            assert result is not SessionStatus.IDLE_EXPIRED
            if should_touch(last_seen, now, POLICY):
                last_seen = now

    def test_step_up_window(self) -> None:
        assert step_up_fresh(T0, T0 + 10 * MINUTE - US, POLICY)
        assert not step_up_fresh(T0, T0 + 10 * MINUTE, POLICY)
        assert not step_up_fresh(None, T0, POLICY)


class TestStaffAccess:
    def test_matrix(self) -> None:
        denied_member = Access(ok=False, reason=AccessDenial.NOT_STAFF)
        assert staff_access(Role.MEMBER, second_factor_enabled=True) == denied_member
        assert staff_access(Role.MEMBER, second_factor_enabled=False) == denied_member
        for role in (Role.ADMIN, Role.FINANCE):
            assert staff_access(role, second_factor_enabled=False) == Access(
                ok=False, reason=AccessDenial.SECOND_FACTOR_REQUIRED
            )
            assert staff_access(role, second_factor_enabled=True) == Access(ok=True, reason=None)

    def test_reasons_are_plain_strings_on_the_wire(self) -> None:
        assert staff_access(Role.ADMIN, second_factor_enabled=False).reason == "second_factor_required"
        assert staff_access(Role.MEMBER, second_factor_enabled=False).reason == "not_staff"
