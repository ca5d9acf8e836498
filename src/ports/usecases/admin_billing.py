"""The staff console's money pages for one member: every membership and every payment, with what was refunded.

These are what a refund or a termination acts on, so staff see the ids and states they need before acting. The
payments are the member's own payment history, read through the member's use case (as "view as member" does)."""

from collections.abc import Sequence
from uuid import UUID

from ports.outbound.billing import MembershipRecord
from ports.usecases import memberships as member_billing
from ports.usecases.admin_members import as_member, member_account
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps


async def memberships(deps: Deps, staff: Principal, account_id: UUID) -> Sequence[MembershipRecord]:
    """Newest first, ended ones included."""
    require_staff(staff)
    async with deps.uow() as uow:
        await member_account(uow, account_id)
        return await uow.billing.memberships_of(account_id)


async def payments(
    deps: Deps, staff: Principal, account_id: UUID, *, cursor: str | None, limit: int
) -> member_billing.HistoryPage:
    require_staff(staff)
    async with deps.uow() as uow:
        account = await member_account(uow, account_id)
    return await member_billing.payment_history(deps, as_member(staff, account), cursor=cursor, limit=limit)
