"""`RateLimiter` on Redis: one hash per (scope, key) holding the domain's `ThrottleState`.

Updates are optimistic transactions (WATCH / MULTI / EXEC): read the state, apply
`domain.throttle.record_failure`, write it back only if nobody changed it meanwhile, else retry. The hash
expires exactly when the domain would forget it (`forget_at`), so idle keys cost nothing. Key names are
`{prefix}:{scope}:{HMAC-SHA256(key)}`: emails and client addresses never appear in Redis key names.
"""

import asyncio
import hashlib
import hmac
import math
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from adapters.ratelimit import policy_for
from domain import throttle
from domain.throttle import ThrottlePolicy, ThrottleState, forget_at
from ports.outbound.errors import ComponentUnavailable
from ports.outbound.rate_limit import Limit

COMPONENT = "rate_limiter"
MAX_ATTEMPTS = 64
"""Optimistic retries of one failure under contention; each conflict means another failure was counted."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAILURES, _WINDOW_START, _LOCKED_UNTIL = "f", "w", "l"


def _system_now() -> datetime:
    return datetime.now(UTC)


def _to_us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _from_us(value: Any) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_state(raw: Mapping[Any, Any]) -> ThrottleState:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    if not fields.get(_FAILURES):
        return ThrottleState()
    return ThrottleState(
        failures=int(fields[_FAILURES]),
        window_started_at=_from_us(fields[_WINDOW_START]) if fields.get(_WINDOW_START) else None,
        locked_until=_from_us(fields[_LOCKED_UNTIL]) if fields.get(_LOCKED_UNTIL) else None,
    )


def encode_state(state: ThrottleState) -> dict[str, int]:
    fields = {_FAILURES: state.failures}
    if state.window_started_at is not None:
        fields[_WINDOW_START] = _to_us(state.window_started_at)
    if state.locked_until is not None:
        fields[_LOCKED_UNTIL] = _to_us(state.locked_until)
    return fields


class RedisRateLimiter:
    component = COMPONENT

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        policies: Mapping[str, ThrottlePolicy],
        clock: Callable[[], datetime] = _system_now,
        key_secret: bytes = b"",
    ) -> None:
        if not prefix:
            raise ValueError("a key prefix is required")
        self._redis = redis
        self._prefix = prefix
        self._key_secret = key_secret
        self._policies = dict(policies)
        self._clock = clock

    def key_name(self, scope: str, key: str) -> str:
        digest = (
            hmac.new(self._key_secret, key.encode(), hashlib.sha256).hexdigest()
            if self._key_secret  # keyed: a known email cannot be looked up by hashing it
            else hashlib.sha256(key.encode()).hexdigest()
        )
        return f"{self._prefix}:{scope}:{digest}"

    async def check(self, scope: str, key: str) -> Limit:
        policy = policy_for(self._policies, scope)
        try:
            raw = await self._redis.hgetall(self.key_name(scope, key))
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc
        decision = throttle.check(decode_state(raw), now=self._clock(), policy=policy)
        return Limit(allowed=decision.allowed, retry_after=decision.retry_after)

    async def failure(self, scope: str, key: str) -> Limit:
        policy = policy_for(self._policies, scope)
        name = self.key_name(scope, key)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for attempt in range(MAX_ATTEMPTS):
                    try:
                        await pipe.watch(name)
                        raw = await pipe.hgetall(name)
                        now = self._clock()
                        state = throttle.record_failure(decode_state(raw), now=now, policy=policy)
                        until = forget_at(state, policy)
                        assert until is not None  # a recorded failure always has a window
                        ttl_ms = max(1, math.ceil((until - now) / timedelta(milliseconds=1)))
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.delete(name)
                        pipe.hset(name, mapping=encode_state(state))  # type: ignore[arg-type]
                        pipe.pexpire(name, ttl_ms)
                        await pipe.execute()
                    except WatchError:
                        await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))  # noqa: S311
                        continue
                    decision = throttle.check(state, now=now, policy=policy)
                    return Limit(allowed=decision.allowed, retry_after=decision.retry_after)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc
        raise ComponentUnavailable(COMPONENT, f"too much contention on one throttling key ({MAX_ATTEMPTS} tries)")

    async def success(self, scope: str, key: str) -> None:
        policy_for(self._policies, scope)
        try:
            await self._redis.delete(self.key_name(scope, key))
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> ComponentUnavailable:
    return ComponentUnavailable(COMPONENT, f"redis: {type(exc).__name__}: {exc}".splitlines()[0][:200])
