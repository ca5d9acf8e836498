"""Identity-verification records as stored: the domain's `KycRecord` plus what the member and staff are shown."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.kyc import KycRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredKyc:
    account_id: UUID
    record: KycRecord = field(default_factory=KycRecord)
    failure_reasons: tuple[str, ...] = ()
    verification_url: str | None = None
    flagged_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffVote:
    staff_id: UUID
    decision: str
    reason: str
    at: datetime


class KycRepository(Protocol):
    async def get(self, account_id: UUID, *, for_update: bool = False) -> StoredKyc | None: ...

    async def get_or_create(self, account_id: UUID, *, at: datetime) -> StoredKyc:
        """The person's record, locked for this transaction (created NOT_STARTED on first use)."""
        ...

    async def by_attempt(self, attempt_id: str, *, for_update: bool = False) -> StoredKyc | None:
        """The record whose current attempt this is, or whose attempt it once was (kyc_attempts)."""
        ...

    async def save(self, stored: StoredKyc, *, at: datetime) -> None: ...

    async def add_attempt(self, *, account_id: UUID, provider_attempt_id: str, started_at: datetime) -> bool: ...

    async def attempt_starts(self, account_id: UUID, *, since: datetime) -> Sequence[datetime]: ...

    async def fingerprint_taken(self, fingerprint: str, *, other_than: UUID) -> bool:
        """Another person with this identity holds a live membership or has won (§10 `duplicate_identity`)."""
        ...

    async def identity_terminated(self, fingerprint: str, *, other_than: UUID) -> bool:
        """Was a membership of this identity, under another account, terminated for cause (D154)?"""
        ...

    async def identity_elsewhere(self, fingerprint: str, *, other_than: UUID) -> tuple[bool, bool]:
        """(another person with this identity holds a live membership, another person with it has won)."""
        ...

    async def pending_since(self, cutoff: datetime, *, limit: int) -> Sequence[str]:
        """Attempt ids of PENDING records started before `cutoff` (the hourly re-fetch of lost webhooks)."""
        ...

    async def review_queue(self, *, after: UUID | None, limit: int) -> Sequence[StoredKyc]:
        """NEEDS_REVIEW records, by account id (keyset)."""
        ...

    async def add_vote(
        self, *, account_id: UUID, attempt_id: str, staff_id: UUID, decision: str, reason: str, at: datetime
    ) -> bool:
        """One vote per staff member and attempt; False if this staff member already voted on it."""
        ...

    async def votes(self, account_id: UUID, attempt_id: str) -> Sequence[StaffVote]: ...

    async def forget_vote_reasons(self, account_id: UUID) -> int:
        """Blank staff members' free-text reasons on the account's review votes (the votes stay); how many."""
        ...

    async def without_verification(self, *, activated_before: datetime, limit: int) -> Sequence[tuple[UUID, UUID]]:
        """(account id, membership id) of live memberships activated before the cut-off whose person has not
        started a verification (the 7-day reminder)."""
        ...
