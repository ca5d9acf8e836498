"""The `RateLimiter` contract, run against both adapters: Redis (real server, keys under this run's namespace)
and in-process. Same tests, same expectations; the back-off numbers come from `domain.throttle`.

Both adapters take the clock as an argument, so lockouts are crossed by moving a fake clock, not by sleeping
(Redis TTLs are relative and far longer than a test). One Redis test uses the real clock end to end."""

import asyncio
import hashlib
import itertools
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from adapters.ratelimit import memory
from adapters.ratelimit.memory import InMemoryRateLimiter
from adapters.ratelimit.redis import RedisRateLimiter, decode_state
from domain import throttle
from domain.throttle import ThrottlePolicy, ThrottleState, forget_at
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.rate_limit import Limit, RateLimiter
from tests import services
from tests.fakes import FakeClock

SECOND = timedelta(seconds=1)
ACCOUNT = "sign-in:account"
IP = "sign-in:ip"
STRICT = "code:email"
POLICY = ThrottlePolicy(free_failures=10, window=timedelta(minutes=15), base_lockout=SECOND, max_lockout=8 * SECOND)
POLICIES = {
    ACCOUNT: POLICY,
    IP: POLICY,
    STRICT: ThrottlePolicy(free_failures=2, window=timedelta(minutes=5), base_lockout=SECOND, max_lockout=SECOND),
}
ALLOWED = Limit(allowed=True, retry_after=None)
_prefixes = itertools.count()


@dataclass
class Subject:
    limiter: RateLimiter
    clock: FakeClock
    kind: str
    redis: Redis | None = None
    prefix: str = ""


@pytest.fixture
async def redis_subject(redis_namespace: str) -> AsyncIterator[Subject]:
    """The Redis adapter on a fake clock, its keys under this run's namespace and removed after the test."""
    clock = FakeClock()
    redis = Redis.from_url(services.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    prefix = f"{redis_namespace}:ratelimit{next(_prefixes)}"
    try:
        limiter = RedisRateLimiter(redis, prefix=prefix, policies=POLICIES, clock=clock.now)
        yield Subject(limiter, clock, "redis", redis, prefix)
    finally:
        await services.delete_redis_keys(f"{prefix}:*")
        await redis.aclose()


@pytest.fixture(params=["redis", "memory"])
def subject(request: pytest.FixtureRequest) -> Subject:
    if request.param == "redis":
        redis_subject: Subject = request.getfixturevalue("redis_subject")
        return redis_subject
    clock = FakeClock()
    return Subject(InMemoryRateLimiter(POLICIES, clock.now), clock, "memory")


async def fail(limiter: RateLimiter, times: int, scope: str = ACCOUNT, key: str = "ada@example.com") -> list[Limit]:
    return [await limiter.failure(scope, key) for _ in range(times)]


def refused(retry_after: timedelta) -> Limit:
    return Limit(allowed=False, retry_after=retry_after)


async def test_ten_failures_are_free_and_the_eleventh_is_refused_with_retry_after(subject: Subject) -> None:
    limiter = subject.limiter
    for n in range(1, 11):
        assert await limiter.failure(ACCOUNT, "ada@example.com") == ALLOWED, f"failure {n} is free"
        assert await limiter.check(ACCOUNT, "ada@example.com") == ALLOWED
    assert await limiter.failure(ACCOUNT, "ada@example.com") == refused(SECOND)
    assert await limiter.check(ACCOUNT, "ada@example.com") == refused(SECOND)
    subject.clock.advance(timedelta(milliseconds=400))
    assert await limiter.check(ACCOUNT, "ada@example.com") == refused(timedelta(milliseconds=600))
    subject.clock.advance(timedelta(milliseconds=600))
    assert await limiter.check(ACCOUNT, "ada@example.com") == ALLOWED


async def test_checking_does_not_count(subject: Subject) -> None:
    for _ in range(25):
        assert await subject.limiter.check(ACCOUNT, "ada@example.com") == ALLOWED
    assert await fail(subject.limiter, 10) == [ALLOWED] * 10


async def test_lockout_doubles_with_each_further_failure_up_to_the_cap(subject: Subject) -> None:
    await fail(subject.limiter, 10)
    retry_afters = [limit.retry_after for limit in await fail(subject.limiter, 6)]
    assert retry_afters == [SECOND, 2 * SECOND, 4 * SECOND, 8 * SECOND, 8 * SECOND, 8 * SECOND]
    assert retry_afters == [throttle.lockout_after(n, POLICY) for n in range(11, 17)]


async def test_waiting_out_a_lockout_does_not_buy_fresh_free_failures(subject: Subject) -> None:
    await fail(subject.limiter, 11)
    subject.clock.advance(SECOND)
    assert await subject.limiter.check(ACCOUNT, "ada@example.com") == ALLOWED
    assert await subject.limiter.failure(ACCOUNT, "ada@example.com") == refused(2 * SECOND)
    subject.clock.advance(2 * SECOND)
    assert await subject.limiter.failure(ACCOUNT, "ada@example.com") == refused(4 * SECOND)


async def test_a_quiet_window_forgets_the_failures(subject: Subject) -> None:
    await fail(subject.limiter, 9)
    subject.clock.advance(POLICY.window)
    assert await fail(subject.limiter, 10) == [ALLOWED] * 10
    assert (await subject.limiter.failure(ACCOUNT, "ada@example.com")).allowed is False


async def test_success_resets_the_count_and_lifts_a_lockout(subject: Subject) -> None:
    await fail(subject.limiter, 10)
    await subject.limiter.success(ACCOUNT, "ada@example.com")
    assert await fail(subject.limiter, 10) == [ALLOWED] * 10
    assert await subject.limiter.failure(ACCOUNT, "ada@example.com") == refused(SECOND)
    await subject.limiter.success(ACCOUNT, "ada@example.com")
    assert await subject.limiter.check(ACCOUNT, "ada@example.com") == ALLOWED
    await subject.limiter.success(ACCOUNT, "never-seen@example.com")  # forgetting an unknown key is fine


async def test_different_keys_are_independent(subject: Subject) -> None:
    await fail(subject.limiter, 11, key="ada@example.com")
    assert (await subject.limiter.check(ACCOUNT, "ada@example.com")).allowed is False
    assert await subject.limiter.check(ACCOUNT, "grace@example.com") == ALLOWED
    assert await fail(subject.limiter, 10, key="grace@example.com") == [ALLOWED] * 10
    await subject.limiter.success(ACCOUNT, "grace@example.com")
    assert (await subject.limiter.check(ACCOUNT, "ada@example.com")).allowed is False


async def test_scopes_are_independent_and_keep_their_own_policy(subject: Subject) -> None:
    await fail(subject.limiter, 11, scope=ACCOUNT, key="203.0.113.7")
    assert (await subject.limiter.check(ACCOUNT, "203.0.113.7")).allowed is False
    assert await subject.limiter.check(IP, "203.0.113.7") == ALLOWED
    assert await fail(subject.limiter, 3, scope=STRICT, key="203.0.113.7") == [ALLOWED, ALLOWED, refused(SECOND)]
    await subject.limiter.success(STRICT, "203.0.113.7")
    assert (await subject.limiter.check(ACCOUNT, "203.0.113.7")).allowed is False


async def test_an_unknown_scope_is_refused(subject: Subject) -> None:
    with pytest.raises(ValueError, match="unknown throttling scope"):
        await subject.limiter.failure("no-such-scope", "k")
    with pytest.raises(ValueError, match="unknown throttling scope"):
        await subject.limiter.check("no-such-scope", "k")


async def test_concurrent_failures_are_each_counted_once(subject: Subject) -> None:
    limits = await asyncio.gather(*(subject.limiter.failure(ACCOUNT, "ada@example.com") for _ in range(30)))
    assert sum(limit.allowed for limit in limits) == 10
    # 30 failures counted: the 30th doubled 19 times past the base, capped.
    subject.clock.advance(7 * SECOND)
    assert await subject.limiter.check(ACCOUNT, "ada@example.com") == refused(SECOND)
    if subject.redis is not None:
        assert isinstance(subject.limiter, RedisRateLimiter)
        raw = await subject.redis.hgetall(subject.limiter.key_name(ACCOUNT, "ada@example.com"))
        assert decode_state(raw).failures == 30


# --- Redis only ---


async def test_redis_key_names_hold_no_raw_key_text(redis_subject: Subject) -> None:
    subject = redis_subject
    assert subject.redis is not None
    for key in ["ada.lovelace@example.com", "203.0.113.77"]:
        await subject.limiter.failure(ACCOUNT, key)
    names = sorted([_name(k) async for k in subject.redis.scan_iter(match=f"{subject.prefix}:*")])
    expected = sorted(
        f"{subject.prefix}:{ACCOUNT}:{hashlib.sha256(k.encode()).hexdigest()}"
        for k in ["ada.lovelace@example.com", "203.0.113.77"]
    )
    assert names == expected
    for name in names:
        for fragment in ["ada", "lovelace", "example", "203.0"]:
            assert fragment not in name


async def test_redis_state_expires_when_the_domain_would_forget_it(redis_subject: Subject) -> None:
    subject = redis_subject
    assert subject.redis is not None
    assert isinstance(subject.limiter, RedisRateLimiter)
    await fail(subject.limiter, 13)
    name = subject.limiter.key_name(ACCOUNT, "ada@example.com")
    ttl_ms = await subject.redis.pttl(name)
    # the window runs from the end of the 13th failure's 4 s lockout
    assert (POLICY.window + 4 * SECOND) - timedelta(seconds=5) < timedelta(milliseconds=ttl_ms)
    assert timedelta(milliseconds=ttl_ms) <= POLICY.window + 4 * SECOND
    await subject.limiter.success(ACCOUNT, "ada@example.com")
    assert await subject.redis.exists(name) == 0


async def test_redis_with_the_real_clock(redis_namespace: str) -> None:
    redis = Redis.from_url(services.REDIS_URL)
    prefix = f"{redis_namespace}:ratelimit-real{next(_prefixes)}"
    fast = ThrottlePolicy(free_failures=2, window=timedelta(seconds=30), base_lockout=timedelta(milliseconds=200))
    limiter = RedisRateLimiter(redis, prefix=prefix, policies={ACCOUNT: fast})
    try:
        assert [(await limiter.failure(ACCOUNT, "k")).allowed for _ in range(3)] == [True, True, False]
        limit = await limiter.check(ACCOUNT, "k")
        assert limit.allowed is False
        assert limit.retry_after is not None
        assert timedelta(0) < limit.retry_after <= timedelta(milliseconds=200)
        await asyncio.sleep(0.25)
        assert await limiter.check(ACCOUNT, "k") == ALLOWED
        limit = await limiter.failure(ACCOUNT, "k")
        assert limit == refused(timedelta(milliseconds=400))
    finally:
        await services.delete_redis_keys(f"{prefix}:*")
        await redis.aclose()


async def test_redis_unreachable_is_component_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    limiter = RedisRateLimiter(redis, prefix="unreachable", policies=POLICIES)
    try:
        for call in (limiter.check, limiter.failure, limiter.success):
            with pytest.raises(ComponentUnavailable) as info:
                await call(ACCOUNT, "ada@example.com")
            assert info.value.component == "rate_limiter"
            assert "ada@example.com" not in str(info.value)
    finally:
        await redis.aclose()


def _name(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


# --- in-process only ---


async def test_memory_forgets_quiet_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "SWEEP_EVERY", 4)
    clock = FakeClock()
    limiter = InMemoryRateLimiter(POLICIES, clock.now)
    for key in ["a", "b", "c"]:
        await limiter.failure(ACCOUNT, key)
    assert len(limiter) == 3
    clock.advance(POLICY.window)
    await limiter.failure(ACCOUNT, "d")  # the 4th failure sweeps: a, b and c are forgettable now
    assert len(limiter) == 1
    assert await fail(limiter, 10, key="a") == [ALLOWED] * 10


@pytest.mark.parametrize("failures", [1, 10, 11, 14])
def test_forget_at_is_when_the_domain_starts_a_fresh_window(failures: int) -> None:
    clock = FakeClock()
    state = ThrottleState()
    for _ in range(failures):
        state = throttle.record_failure(state, now=clock.now(), policy=POLICY)
        clock.advance(timedelta(milliseconds=100))
    until = forget_at(state, POLICY)
    assert until is not None
    just_before = throttle.record_failure(state, now=until - timedelta(microseconds=1), policy=POLICY)
    at = throttle.record_failure(state, now=until, policy=POLICY)
    assert just_before.failures == failures + 1
    assert at.failures == 1
    assert throttle.check(state, now=until, policy=POLICY).allowed
    assert forget_at(ThrottleState(), POLICY) is None
