"""Throttling with back-off (sign-in, code checks, password reset), per account and per client address."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    allowed: bool
    retry_after: timedelta | None = None


class RateLimiter(Protocol):
    async def check(self, scope: str, key: str) -> Limit:
        """Whether another attempt is allowed now for (`scope`, `key`), without counting it."""
        ...

    async def failure(self, scope: str, key: str) -> Limit:
        """Count a failed attempt; returns whether the next attempt is allowed."""
        ...

    async def success(self, scope: str, key: str) -> None:
        """Forget the failures of (`scope`, `key`)."""
        ...
