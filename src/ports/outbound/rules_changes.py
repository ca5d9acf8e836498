"""Stored program rules changes: proposals, and the approved ones that are versions 2, 3, …"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesChangeRecord:
    id: UUID
    changes: Mapping[str, int]
    effective_at: datetime
    reason: str
    status: str  # proposed | approved | rejected
    proposed_by: UUID
    proposed_at: datetime
    decided_by: UUID | None = None
    decided_at: datetime | None = None
    version: int | None = None


class RulesChangeRepository(Protocol):
    async def approved(self) -> Sequence[RulesChangeRecord]:
        """Every approved change, by version."""
        ...

    async def recent(self, *, limit: int) -> Sequence[RulesChangeRecord]:
        """Newest proposals first, whatever became of them."""
        ...

    async def get(self, change_id: UUID, *, for_update: bool = False) -> RulesChangeRecord | None: ...

    async def propose(self, record: RulesChangeRecord) -> None:
        """`ConflictError` when another proposal is open."""
        ...

    async def decide(self, record: RulesChangeRecord) -> None:
        """Store the approval (with its version) or the rejection of an open proposal. `ConflictError` when the
        version is taken (another approval got there first)."""
        ...
