"""Back-off for guessable secrets (RELIABILITY.md 18): sign-in, code checks, password reset; per account and per IP.

Why exponential and capped: a person who mistypes a few times is never held up; a guesser faces 30 s, 1 min,
2 min, … up to an hour per guess once the free failures are spent. Why the window survives lockouts: the failure
count resets only after ``window`` with neither a new window start nor a lockout, so waiting out a lockout never
buys a fresh set of free guesses. The store (Redis, in-process) keeps one ``ThrottleState`` per key.

Use: ``check`` before evaluating the secret (refused → 429 + Retry-After, nothing evaluated or recorded); on a
wrong secret ``record_failure`` then ``check`` again: the failure that starts a lockout is answered 429 too, so with
the defaults the 11th rapid failed sign-in gets 429. On success ``record_success``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.calendar import ensure_utc
from domain.errors import InvalidInput, InvalidPolicy

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottlePolicy:
    free_failures: int = 10
    window: timedelta = timedelta(minutes=15)
    base_lockout: timedelta = timedelta(seconds=30)
    max_lockout: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.free_failures < 0:
            raise InvalidPolicy("free_failures must not be negative")
        if self.window <= timedelta(0):
            raise InvalidPolicy("window must be positive")
        if self.base_lockout < _MICROSECOND:
            raise InvalidPolicy("base_lockout must be at least a microsecond")
        if self.max_lockout < self.base_lockout:
            raise InvalidPolicy("max_lockout must be at least base_lockout")


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleState:
    """Failures in the current window; the default value is a key never seen (or reset)."""

    failures: int = 0
    window_started_at: datetime | None = None
    locked_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.failures < 0:
            raise InvalidInput("failures must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleDecision:
    allowed: bool
    retry_after: timedelta | None


def lockout_after(failures: int, policy: ThrottlePolicy) -> timedelta | None:
    """Lockout once ``failures`` failures are counted: none up to ``free_failures``, then doubling, capped.

    Computed in integer microseconds with an early cap, so a huge count never builds a huge number.
    """
    if failures < 0:
        raise InvalidInput("failures must not be negative")
    if failures <= policy.free_failures:
        return None
    exponent = failures - policy.free_failures - 1
    base = policy.base_lockout // _MICROSECOND
    cap = policy.max_lockout // _MICROSECOND
    if exponent >= cap.bit_length():  # base ≥ 1, so base·2^exponent ≥ 2^exponent > cap
        return policy.max_lockout
    return timedelta(microseconds=min(base << exponent, cap))


def check(state: ThrottleState, *, now: datetime, policy: ThrottlePolicy) -> ThrottleDecision:
    """Whether an attempt may be evaluated now; if not, how long until it may (for ``Retry-After``)."""
    now = ensure_utc(now, "now")
    if state.locked_until is not None and now < ensure_utc(state.locked_until, "locked_until"):
        return ThrottleDecision(allowed=False, retry_after=state.locked_until - now)
    return ThrottleDecision(allowed=True, retry_after=None)


def forget_at(state: ThrottleState, policy: ThrottlePolicy) -> datetime | None:
    """When a store may drop `state`: a window after the later of its window start and its lockout end.

    From then on `record_failure` starts a fresh window and `check` allows, exactly as for an unknown key, so
    dropping the state changes nothing (adapters use it for Redis TTLs and in-memory sweeping).
    """
    if state.window_started_at is None:
        return None
    quiet_since = ensure_utc(state.window_started_at, "window_started_at")
    if state.locked_until is not None:
        quiet_since = max(quiet_since, ensure_utc(state.locked_until, "locked_until"))
    return quiet_since + policy.window


def _window_expired(state: ThrottleState, now: datetime, policy: ThrottlePolicy) -> bool:
    expires = forget_at(state, policy)
    return expires is None or now >= expires


def record_failure(state: ThrottleState, *, now: datetime, policy: ThrottlePolicy) -> ThrottleState:
    """Count one failed attempt; lock when the count passes ``free_failures``.

    A lockout never shortens: concurrent requests that slipped past ``check`` keep the later ``locked_until``.
    """
    now = ensure_utc(now, "now")
    started: datetime | None
    if _window_expired(state, now, policy):
        failures, started, previous_lock = 1, now, None
    else:
        failures, started, previous_lock = state.failures + 1, state.window_started_at, state.locked_until
    lock = lockout_after(failures, policy)
    locked_until = None if lock is None else now + lock
    if previous_lock is not None and (locked_until is None or previous_lock > locked_until):
        locked_until = previous_lock
    return ThrottleState(failures=failures, window_started_at=started, locked_until=locked_until)


def record_success(state: ThrottleState, *, now: datetime, policy: ThrottlePolicy) -> ThrottleState:
    """A correct secret clears the key (callers decide which keys: the account's, not a shared IP's)."""
    ensure_utc(now, "now")
    return ThrottleState()
