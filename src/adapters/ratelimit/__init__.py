"""`RateLimiter` adapters: Redis (production, shared by every process) and in-process (the embedded default).

Both keep one `domain.throttle.ThrottleState` per (scope, key) and move it only through the domain's
`check` / `record_failure` / `record_success`, so the back-off arithmetic lives in one place.
"""

from collections.abc import Mapping
from datetime import datetime

from domain.throttle import ThrottlePolicy, ThrottleState


def forget_at(state: ThrottleState, policy: ThrottlePolicy) -> datetime | None:
    """When the store may drop `state`: a window after the later of its window start and its lockout end.

    From then on `record_failure` starts a fresh window and `check` allows, exactly as for an unknown key, so
    dropping the state changes nothing (this is the instant used for Redis TTLs and in-memory sweeping).
    """
    if state.window_started_at is None:
        return None
    quiet_since = state.window_started_at
    if state.locked_until is not None:
        quiet_since = max(quiet_since, state.locked_until)
    return quiet_since + policy.window


def policy_for(policies: Mapping[str, ThrottlePolicy], scope: str) -> ThrottlePolicy:
    try:
        return policies[scope]
    except KeyError:
        raise ValueError(f"unknown throttling scope {scope!r}") from None
