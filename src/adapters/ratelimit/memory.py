"""In-process `RateLimiter` for the embedded default (one process): a dict of `ThrottleState`s."""

from collections.abc import Callable, Mapping
from datetime import datetime

from adapters.ratelimit import policy_for
from domain import throttle
from domain.throttle import ThrottlePolicy, ThrottleState, forget_at
from ports.outbound.rate_limit import Limit

SWEEP_EVERY = 1024
"""Drop forgettable states after this many recorded failures, so memory stays bounded by recent activity."""


class InMemoryRateLimiter:
    def __init__(self, policies: Mapping[str, ThrottlePolicy], clock: Callable[[], datetime]) -> None:
        self._policies = dict(policies)
        self._clock = clock
        self._states: dict[tuple[str, str], ThrottleState] = {}
        self._since_sweep = 0

    async def check(self, scope: str, key: str) -> Limit:
        policy = policy_for(self._policies, scope)
        state = self._states.get((scope, key), ThrottleState())
        decision = throttle.check(state, now=self._clock(), policy=policy)
        return Limit(allowed=decision.allowed, retry_after=decision.retry_after)

    async def failure(self, scope: str, key: str) -> Limit:
        policy = policy_for(self._policies, scope)
        now = self._clock()
        # No await between the read and the write: atomic within the event loop.
        state = throttle.record_failure(self._states.get((scope, key), ThrottleState()), now=now, policy=policy)
        self._states[(scope, key)] = state
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._sweep(now)
        decision = throttle.check(state, now=now, policy=policy)
        return Limit(allowed=decision.allowed, retry_after=decision.retry_after)

    async def success(self, scope: str, key: str) -> None:
        policy_for(self._policies, scope)
        self._states.pop((scope, key), None)

    def _sweep(self, now: datetime) -> None:
        self._since_sweep = 0
        for (scope, key), state in list(self._states.items()):
            until = forget_at(state, self._policies[scope])
            if until is None or until <= now:
                del self._states[(scope, key)]

    def __len__(self) -> int:
        """How many (scope, key) states are held (for tests and diagnostics)."""
        return len(self._states)
