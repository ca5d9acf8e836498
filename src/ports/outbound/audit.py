"""The audit log: one hash chain per entity (DOMAIN.md §9). Personal data never goes in it."""

from typing import Protocol

from domain.audit import AuditLink


class AuditLogRepository(Protocol):
    async def head(self, entity_type: str, entity_id: str) -> AuditLink | None:
        """The newest link of the entity's chain, or None for an entity with no history yet."""
        ...

    async def add(self, link: AuditLink) -> None:
        """Append; a concurrent append of the same seq fails with `ConflictError` (the chain never forks)."""
        ...

    async def chain(self, entity_type: str, entity_id: str) -> list[AuditLink]: ...
