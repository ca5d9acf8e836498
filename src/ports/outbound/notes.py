"""Staff notes on members' accounts."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberNote:
    id: UUID
    account_id: UUID
    author_id: UUID
    body: str
    created_at: datetime


class MemberNoteRepository(Protocol):
    async def add(self, *, account_id: UUID, author_id: UUID, body: str, now: datetime) -> MemberNote: ...

    async def for_account(self, account_id: UUID, *, limit: int) -> Sequence[MemberNote]:
        """Newest first."""
        ...

    async def erase(self, account_id: UUID) -> int:
        """Delete every note on the account (its owner's data is being erased); how many."""
        ...
