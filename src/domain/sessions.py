"""Roles, session lifetimes, step-up freshness and the staff second-factor gate (RELIABILITY.md 15).

Why shorter staff sessions: an admin or finance session can move money and change roles, so an unattended one
is worth more to an attacker (OWASP ASVS 3.3). Why a touch interval: writing ``last_seen_at`` on every request
costs a write per read; touching once a minute at most costs at most a minute of idle precision, which the
policy bounds (``touch_interval`` < every idle timeout). Session ids, cookies and hashing are adapters' work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import ensure_utc
from domain.errors import InvalidPolicy


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"
    FINANCE = "finance"


STAFF_ROLES = frozenset({Role.ADMIN, Role.FINANCE})


def is_staff(role: Role) -> bool:
    return role in STAFF_ROLES


def can_hold_membership(role: Role) -> bool:
    """Staff cannot hold memberships: people who approve payouts must not be able to win them."""
    return not is_staff(role)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    member_idle: timedelta = timedelta(minutes=30)
    member_absolute: timedelta = timedelta(hours=12)
    staff_idle: timedelta = timedelta(minutes=15)
    staff_absolute: timedelta = timedelta(hours=8)
    step_up_window: timedelta = timedelta(minutes=10)
    """How recent a sign-in (or re-authentication) must be for password, email and 2FA changes."""
    touch_interval: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        durations = (
            self.member_idle,
            self.member_absolute,
            self.staff_idle,
            self.staff_absolute,
            self.step_up_window,
            self.touch_interval,
        )
        if any(d <= timedelta(0) for d in durations):
            raise InvalidPolicy("session durations must be positive")
        if self.staff_idle > self.member_idle or self.staff_absolute > self.member_absolute:
            raise InvalidPolicy("staff sessions must not outlive member sessions")
        if self.member_idle > self.member_absolute or self.staff_idle > self.staff_absolute:
            raise InvalidPolicy("an idle timeout must not exceed its absolute timeout")
        if self.touch_interval >= self.staff_idle:
            raise InvalidPolicy("touch_interval must be shorter than every idle timeout")

    def idle(self, role: Role) -> timedelta:
        return self.staff_idle if is_staff(role) else self.member_idle

    def absolute(self, role: Role) -> timedelta:
        return self.staff_absolute if is_staff(role) else self.member_absolute


class SessionStatus(StrEnum):
    ACTIVE = "active"
    IDLE_EXPIRED = "idle_expired"
    ABSOLUTE_EXPIRED = "absolute_expired"


def session_status(
    *, role: Role, created_at: datetime, last_seen_at: datetime, now: datetime, policy: SessionPolicy
) -> SessionStatus:
    """Absolute expiry wins over idle expiry (it is the one no activity can extend); both deadlines are exclusive."""
    now = ensure_utc(now, "now")
    if now >= ensure_utc(created_at, "created_at") + policy.absolute(role):
        return SessionStatus.ABSOLUTE_EXPIRED
    if now >= ensure_utc(last_seen_at, "last_seen_at") + policy.idle(role):
        return SessionStatus.IDLE_EXPIRED
    return SessionStatus.ACTIVE


def should_touch(last_seen_at: datetime, now: datetime, policy: SessionPolicy) -> bool:
    """Whether this request should persist a new ``last_seen_at`` (at most once per ``touch_interval``)."""
    return ensure_utc(now, "now") - ensure_utc(last_seen_at, "last_seen_at") >= policy.touch_interval


def step_up_fresh(authenticated_at: datetime | None, now: datetime, policy: SessionPolicy) -> bool:
    """Whether the session authenticated recently enough for a sensitive change (the window end is exclusive)."""
    if authenticated_at is None:
        return False
    return ensure_utc(now, "now") - ensure_utc(authenticated_at, "authenticated_at") < policy.step_up_window


class AccessDenial(StrEnum):
    NOT_STAFF = "not_staff"
    SECOND_FACTOR_REQUIRED = "second_factor_required"


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    ok: bool
    reason: AccessDenial | None


def staff_access(role: Role, *, second_factor_enabled: bool) -> Access:
    """Staff routes answer only staff with a second factor enrolled (members: ``not_staff`` → 404/403)."""
    if not is_staff(role):
        return Access(ok=False, reason=AccessDenial.NOT_STAFF)
    if not second_factor_enabled:
        return Access(ok=False, reason=AccessDenial.SECOND_FACTOR_REQUIRED)
    return Access(ok=True, reason=None)
