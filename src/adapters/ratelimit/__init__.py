"""`RateLimiter` adapters: Redis (production, shared by every process) and in-process (the embedded default).

Both keep one `domain.throttle.ThrottleState` per (scope, key) and move it only through the domain's
`check` / `record_failure` / `record_success`, so the back-off arithmetic lives in one place.
"""

from collections.abc import Mapping

from domain.throttle import ThrottlePolicy


def policy_for(policies: Mapping[str, ThrottlePolicy], scope: str) -> ThrottlePolicy:
    try:
        return policies[scope]
    except KeyError:
        raise ValueError(f"unknown throttling scope {scope!r}") from None
