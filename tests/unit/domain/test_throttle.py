"""Throttling with back-off: free failures, doubling lockouts, the cap, window resets, the 11th-failure 429."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput, InvalidPolicy, NaiveDatetime
from domain.throttle import (
    ThrottleDecision,
    ThrottlePolicy,
    ThrottleState,
    check,
    lockout_after,
    record_failure,
    record_success,
)

POLICY = ThrottlePolicy()
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def fail_times(times: list[datetime], policy: ThrottlePolicy = POLICY) -> ThrottleState:
    state = ThrottleState()
    for at in times:
        state = record_failure(state, now=at, policy=policy)
    return state


class TestPolicy:
    def test_defaults(self) -> None:
        assert POLICY.free_failures == 10
        assert POLICY.window == timedelta(minutes=15)
        assert POLICY.base_lockout == timedelta(seconds=30)
        assert POLICY.max_lockout == timedelta(hours=1)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"free_failures": -1},
            {"window": timedelta(0)},
            {"base_lockout": timedelta(0)},
            {"base_lockout": timedelta(minutes=2), "max_lockout": timedelta(minutes=1)},
        ],
    )
    def test_contradictions_refused(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidPolicy):
            ThrottlePolicy(**kwargs)  # type: ignore[arg-type]

    def test_negative_state_refused(self) -> None:
        with pytest.raises(InvalidInput):
            ThrottleState(failures=-1)


class TestLockoutAfter:
    @pytest.mark.parametrize(
        ("failures", "expected"),
        [
            (0, None),
            (10, None),
            (11, timedelta(seconds=30)),
            (12, timedelta(minutes=1)),
            (13, timedelta(minutes=2)),
            (17, timedelta(minutes=32)),
            (18, timedelta(hours=1)),  # 64 min capped
            (10**6, timedelta(hours=1)),
            (10**30, timedelta(hours=1)),
        ],
    )
    def test_schedule(self, failures: int, expected: timedelta | None) -> None:
        assert lockout_after(failures, POLICY) == expected

    def test_negative_refused(self) -> None:
        with pytest.raises(InvalidInput):
            lockout_after(-1, POLICY)

    def test_zero_free_failures(self) -> None:
        strict = ThrottlePolicy(free_failures=0)
        assert lockout_after(0, strict) is None
        assert lockout_after(1, strict) == timedelta(seconds=30)

    @given(
        free=st.integers(min_value=0, max_value=50),
        base_us=st.integers(min_value=1, max_value=10**9),
        extra_us=st.integers(min_value=0, max_value=10**11),
        a=st.integers(min_value=0, max_value=10**4),
        b=st.integers(min_value=0, max_value=10**4),
    )
    def test_monotone_capped_and_free(self, free: int, base_us: int, extra_us: int, a: int, b: int) -> None:
        policy = ThrottlePolicy(
            free_failures=free,
            base_lockout=timedelta(microseconds=base_us),
            max_lockout=timedelta(microseconds=base_us + extra_us),
        )
        low, high = sorted((a, b))
        lock_low, lock_high = lockout_after(low, policy), lockout_after(high, policy)
        for failures, lock in ((low, lock_low), (high, lock_high)):
            assert (lock is None) == (failures <= free)
            if lock is not None:
                assert policy.base_lockout <= lock <= policy.max_lockout
        if lock_low is not None:
            assert lock_high is not None
            assert lock_high >= lock_low
        # One more failure at most doubles the lockout (never jumps straight to the cap from far below).
        nxt = lockout_after(high + 1, policy)
        if lock_high is not None and nxt is not None:
            assert nxt <= 2 * lock_high


class TestSignInScenario:
    def test_eleventh_rapid_failure_is_answered_429(self) -> None:
        state = ThrottleState()
        for n in range(1, 11):
            at = T0 + n * SECOND
            assert check(state, now=at, policy=POLICY).allowed
            state = record_failure(state, now=at, policy=POLICY)
            assert check(state, now=at, policy=POLICY) == ThrottleDecision(allowed=True, retry_after=None)
        eleventh = T0 + 11 * SECOND
        assert check(state, now=eleventh, policy=POLICY).allowed
        state = record_failure(state, now=eleventh, policy=POLICY)
        assert check(state, now=eleventh, policy=POLICY) == ThrottleDecision(
            allowed=False, retry_after=timedelta(seconds=30)
        )
        # The twelfth attempt, 10 s later, is refused before anything is evaluated.
        assert check(state, now=eleventh + 10 * SECOND, policy=POLICY) == ThrottleDecision(
            allowed=False, retry_after=timedelta(seconds=20)
        )

    def test_back_off_doubles_after_each_lockout(self) -> None:
        state = fail_times([T0] * 11)
        at = T0
        for expected in (60, 120, 240):
            at = state.locked_until or at
            assert check(state, now=at, policy=POLICY).allowed  # the lockout has just ended
            state = record_failure(state, now=at, policy=POLICY)
            assert check(state, now=at, policy=POLICY).retry_after == timedelta(seconds=expected)

    def test_success_resets(self) -> None:
        state = fail_times([T0] * 9)
        state = record_success(state, now=T0, policy=POLICY)
        assert state == ThrottleState()
        assert fail_times([T0] * 10) != state

    def test_naive_now_refused(self) -> None:
        with pytest.raises(NaiveDatetime):
            check(ThrottleState(), now=datetime(2026, 1, 1), policy=POLICY)


class TestWindow:
    def test_slow_failures_start_a_new_window(self) -> None:
        state = fail_times([T0 + n * SECOND for n in range(10)])
        later = T0 + timedelta(minutes=15)
        state = record_failure(state, now=later, policy=POLICY)
        assert (state.failures, state.window_started_at, state.locked_until) == (1, later, None)

    def test_window_still_open_keeps_counting(self) -> None:
        state = fail_times([T0] * 10)
        state = record_failure(state, now=T0 + timedelta(minutes=15) - SECOND, policy=POLICY)
        assert state.failures == 11
        assert state.locked_until is not None

    def test_waiting_out_a_lockout_does_not_reset_the_count(self) -> None:
        # 16 failures: the last lockout is 16 min, longer than the window; right after it the count continues.
        state = fail_times([T0] * 16)
        assert state.locked_until == T0 + timedelta(minutes=16)
        state = record_failure(state, now=T0 + timedelta(minutes=16), policy=POLICY)
        assert state.failures == 17
        assert state.locked_until == T0 + timedelta(minutes=16 + 32)

    def test_quiet_window_after_a_lockout_resets(self) -> None:
        state = fail_times([T0] * 11)
        assert state.locked_until is not None
        quiet = state.locked_until + timedelta(minutes=15)
        state = record_failure(state, now=quiet, policy=POLICY)
        assert (state.failures, state.locked_until) == (1, None)

    def test_lockout_never_shortens(self) -> None:
        # A stale state from a stricter past (failures below the threshold yet locked) keeps its lock.
        lock = T0 + timedelta(hours=2)
        state = ThrottleState(failures=0, window_started_at=T0, locked_until=lock)
        assert record_failure(state, now=T0 + SECOND, policy=POLICY).locked_until == lock
        state = ThrottleState(failures=12, window_started_at=T0, locked_until=lock)
        assert record_failure(state, now=T0 + SECOND, policy=POLICY).locked_until == lock


@given(gaps=st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=40))
def test_never_locked_within_free_failures_and_always_capped(gaps: list[int]) -> None:
    at = T0
    state = ThrottleState()
    for gap in gaps:
        at += timedelta(seconds=gap)
        decision = check(state, now=at, policy=POLICY)
        if not decision.allowed:
            assert state.failures > POLICY.free_failures
            assert decision.retry_after is not None
            assert timedelta(0) < decision.retry_after <= POLICY.max_lockout
            continue  # refused attempts are not evaluated, so not recorded
        state = record_failure(state, now=at, policy=POLICY)
        assert state.failures >= 1
        if state.failures <= POLICY.free_failures:
            assert state.locked_until is None
        else:
            assert state.locked_until is not None
            assert timedelta(0) < state.locked_until - at <= POLICY.max_lockout


@given(count=st.integers(min_value=1, max_value=60))
def test_rapid_failures_lock_for_the_documented_schedule(count: int) -> None:
    decision = check(fail_times([T0] * count), now=T0, policy=POLICY)
    if count <= 10:
        assert decision == ThrottleDecision(allowed=True, retry_after=None)
    else:
        expected = timedelta(seconds=min(30 * 2 ** (count - 11), 3600))
        assert decision == ThrottleDecision(allowed=False, retry_after=expected)
