"""The first half of a two-person action: an open request another staff member must confirm.

Cancelling a payout, correcting a frozen withholding and flipping the payouts-frozen switch all start the same
way: one staff member asks, with a reason, and the request is stored (at most one open per target, a database
fact) and audited on the target's chain.
"""

from collections.abc import Mapping
from datetime import datetime

from domain.audit import AuditValue
from ports.outbound.errors import ConflictError
from ports.outbound.payouts import StaffRequestRecord
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import Refused


async def ask(
    uow: UnitOfWork,
    deps: Deps,
    principal: Principal,
    *,
    kind: str,
    target: tuple[str, str],
    reason: str,
    action: str,
    at: datetime,
    after: Mapping[str, AuditValue],
    audit_reason: str | None = None,
) -> StaffRequestRecord:
    """Open the request (``target`` is the audited entity's type and id) and audit it as ``action``."""
    entity_type, entity_id = target
    request = StaffRequestRecord(
        id=deps.new_id(),
        kind=kind,
        target_id=entity_id,
        reason=reason,
        requested_by=principal.account_id,
        requested_at=at,
    )
    try:
        await uow.payouts.add_request(request)
    except ConflictError:
        raise Refused("another request for this was just opened", ["request_open"]) from None
    await record_audit(
        uow,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=str(principal.account_id),
        action=action,
        at=at,
        after=after,
        reason=audit_reason or reason,
    )
    return request


def confirmable(pending: StaffRequestRecord, principal: Principal, reason: str) -> None:
    """The second half: a different staff member confirming the very same request (its reason too)."""
    if pending.requested_by == principal.account_id:
        raise Refused("a second staff member must confirm", ["same_staff_twice"])
    if pending.reason != reason:
        raise Refused(
            f"the open request gives the reason {pending.reason!r}; confirm it or withdraw it first", ["reason_differs"]
        )
