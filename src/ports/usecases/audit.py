"""Recording audited state changes, in the same transaction as the change itself."""

from collections.abc import Mapping
from datetime import datetime

from domain.audit import AuditRecord, AuditValue, append
from ports.outbound.unit_of_work import UnitOfWork


async def record_audit(
    uow: UnitOfWork,
    *,
    entity_type: str,
    entity_id: str,
    actor: str,
    action: str,
    at: datetime,
    before: Mapping[str, AuditValue] | None = None,
    after: Mapping[str, AuditValue] | None = None,
    reason: str | None = None,
) -> None:
    head = await uow.audit.head(entity_type, entity_id)
    record = AuditRecord(
        entity_type=entity_type,
        entity_id=entity_id,
        seq=head.record.seq + 1 if head else 1,
        actor=actor,
        at=at,
        action=action,
        before=dict(before or {}),
        after=dict(after or {}),
        reason=reason,
    )
    await uow.audit.add(append(head, record))
