"""Server-stored ceremony challenges (passkeys, OpenID sign-in), each redeemable once."""

from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.challenges import Challenge


class ChallengeRepository(Protocol):
    async def add(self, challenge: Challenge, *, secret: bytes) -> None:
        """Store `challenge` with its `secret`: the WebAuthn challenge bytes, or a sealed OpenID payload."""
        ...

    async def get_for_update(self, challenge_id: UUID) -> tuple[Challenge, bytes] | None:
        """The challenge and its secret, locked until the transaction ends (one redemption at a time)."""
        ...

    async def consume(self, challenge_id: UUID, *, at: datetime) -> bool:
        """Mark it used; False when it was used already."""
        ...

    async def purge(self, *, expired_before: datetime) -> int:
        """Delete challenges that expired before this time (used or not); how many."""
        ...
