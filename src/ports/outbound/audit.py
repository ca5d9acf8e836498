"""The audit log: one hash chain per entity (DOMAIN.md §9). Personal data never goes in it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.audit import AuditLink, ChainHead

ChainKey = tuple[str, str]
"""(entity type, entity id): the key of one chain, and the keyset cursor when reading every chain."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    entity_type: str | None = None
    entity_id: str | None = None
    actor: str | None = None
    action: str | None = None


class AuditLogRepository(Protocol):
    async def head(self, entity_type: str, entity_id: str) -> AuditLink | None:
        """The newest link of the entity's chain, or None for an entity with no history yet."""
        ...

    async def add(self, link: AuditLink) -> None:
        """Append; a concurrent append of the same seq fails with `ConflictError` (the chain never forks)."""
        ...

    async def chain(self, entity_type: str, entity_id: str) -> list[AuditLink]: ...

    async def chains(self, *, after: ChainKey | None, limit: int) -> Sequence[list[AuditLink]]:
        """Up to `limit` whole chains whose key follows `after`, in key order, each in seq order.

        Keyset-paged so verifying millions of links holds only one page of chains in memory at a time.
        A stored row that no longer reads as an audit record raises `AuditError` naming its entity and seq.
        """
        ...

    async def heads(self, *, upto: datetime, after: ChainKey | None, limit: int) -> list[ChainHead]:
        """The head of up to `limit` chains (key after `after`, in key order) as of `upto`: each chain's
        last link recorded before `upto`. Chains that only began at or after `upto` are left out."""
        ...

    async def browse(self, where: AuditFilter, *, before: UUID | None, limit: int) -> Sequence[tuple[UUID, AuditLink]]:
        """Links matching `where`, newest first, with their row ids (the keyset cursor: pass the last as
        `before`)."""
        ...
