"""Member profiles (personal data, erasable later) and the read side of the security log, as use cases see them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.checkout import PostalAddress


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Everything a member tells us about themselves, plus what we learned about reaching them."""

    account_id: UUID
    legal_first_name: str | None = None
    legal_last_name: str | None = None
    date_of_birth: date | None = None
    address: PostalAddress | None = None
    phone: str | None = None
    phone_verified_at: datetime | None = None
    time_zone: str | None = None
    email_bounced: bool = False
    """Set when mail to the account's address bounced: optional mail stops, mandatory notices add SMS (§11)."""
    deletion_requested_at: datetime | None = None
    updated_at: datetime | None = None


class ProfileRepository(Protocol):
    async def get(self, account_id: UUID, *, for_update: bool = False) -> Profile | None: ...

    async def save(self, profile: Profile, *, at: datetime) -> None:
        """Insert or update the profile row of `profile.account_id` (concurrent first saves converge)."""
        ...

    async def deletion_requests(self, *, after: UUID | None, limit: int) -> Sequence[UUID]:
        """Accounts that asked to be erased and are not erased yet, in id order after `after`."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityEventView:
    kind: str
    at: datetime
    ip: str | None
    user_agent: str | None
    detail: str | None


class SecurityEventReader(Protocol):
    """Security events recorded against one account (never searched by email: those are hashed)."""

    async def for_account(self, account_id: UUID, *, limit: int) -> Sequence[SecurityEventView]:
        """Newest first."""
        ...

    async def last(self, account_id: UUID, kind: str) -> datetime | None: ...
