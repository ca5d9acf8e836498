"""The staff console's member pages: find a member, see why they are where they are, and see their home page
exactly as they see it (read-only). Every staff request is also written to the staff access log (see
`record_staff_access`), so reading a member's data leaves a trace like changing it does."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.audit import AuditLink, verify_chain
from domain.membership import MembershipState
from domain.sessions import Role
from ports.outbound.accounts import Account
from ports.outbound.directory import MemberQuery, MemberRow
from ports.outbound.oidc import LinkedIdentity
from ports.outbound.passkeys import Passkey
from ports.outbound.profiles import Profile, SecurityEventView
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import dashboard, payout_details, roles
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput, NotFound

PAGE_MAX = 100
MEMBERSHIP_STATUSES = frozenset(state.value for state in MembershipState)
RECENT_SECURITY_EVENTS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberPage:
    items: Sequence[MemberRow]
    next_cursor: UUID | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberDetail:
    account: Account
    profile: Profile | None
    passkeys: Sequence[Passkey]
    identities: Sequence[LinkedIdentity]
    home: dashboard.Dashboard
    """The member's own home page: membership, position with its history, next charge, KYC, eligibility."""
    payouts: Sequence[payout_details.PayoutView]
    audit: Sequence[AuditLink]
    audit_chain_valid: bool
    security_events: Sequence[SecurityEventView]


async def record_staff_access(deps: Deps, staff: Principal, *, method: str, path: str) -> None:
    """One line per staff request in the security log: who read or changed what, and when. Unchained (no lock
    per staff member), so a console firing requests in parallel never waits on its own log."""
    async with deps.uow() as uow:
        await uow.security_log.record(
            "staff_access", at=deps.clock.now(), account_id=staff.account_id, detail=f"{method} {path}"[:500]
        )
        await uow.commit()


async def search_members(
    deps: Deps, staff: Principal, *, text: str | None, status: str | None, cursor: UUID | None, limit: int
) -> MemberPage:
    require_staff(staff)
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit must be between 1 and {PAGE_MAX}")
    wanted = status.strip().lower() if status else None
    if wanted is not None and wanted != "none" and wanted not in MEMBERSHIP_STATUSES:
        raise InvalidInput("unknown status", [f"one of: {', '.join(sorted(MEMBERSHIP_STATUSES))}, none"])
    stored = "none" if wanted == "none" else wanted.upper() if wanted else None  # the table keeps them upper case
    query = MemberQuery(text=(text or "").strip()[:320] or None, status=stored)
    async with deps.uow() as uow:
        rows = await uow.directory.search(query, after=cursor, limit=limit + 1)
    page = rows[:limit]
    return MemberPage(items=page, next_cursor=page[-1].account_id if len(rows) > limit else None)


def as_member(staff: Principal, account: Account) -> Principal:
    """A read-only principal for the member, for "view as member": the member's own use cases answer, so staff
    see exactly what the member sees. It carries the staff member's session, never a session of the member's."""
    return Principal(
        account_id=account.id,
        email=account.email,
        role=Role.MEMBER,
        session_id=staff.session_id,
        authenticated_at=staff.authenticated_at,
        second_factor=False,
    )


async def member_account(uow: UnitOfWork, account_id: UUID, *, for_update: bool = False) -> Account:
    """The member's account; staff accounts and unknown ids are not found (staff pages are about members)."""
    account = await uow.accounts.get(account_id, for_update=for_update)
    if account is None or account.role != str(Role.MEMBER):
        raise NotFound("no such member")
    return account


async def _member(deps: Deps, account_id: UUID) -> Account:
    async with deps.uow() as uow:
        return await member_account(uow, account_id)


async def view_as_member(deps: Deps, staff: Principal, account_id: UUID) -> dashboard.Dashboard:
    require_staff(staff)
    return await dashboard.dashboard(deps, as_member(staff, await _member(deps, account_id)))


async def member_detail(deps: Deps, staff: Principal, account_id: UUID) -> MemberDetail:
    require_staff(staff)
    account = await _member(deps, account_id)
    member = as_member(staff, account)
    async with deps.uow() as uow:
        profile = await uow.profiles.get(account.id)
        passkeys = await uow.passkeys.list_for(account.id)
        identities = await uow.identities.list_for(account.id)
        chain = await uow.audit.chain(roles.AUDIT_ENTITY, str(account.id))
        events = await uow.security_events.for_account(account.id, limit=RECENT_SECURITY_EVENTS)
    return MemberDetail(
        account=account,
        profile=profile,
        passkeys=passkeys,
        identities=identities,
        home=await dashboard.dashboard(deps, member),
        payouts=await payout_details.my_payouts(deps, member),
        audit=chain,
        audit_chain_valid=verify_chain(chain).ok,
        security_events=events,
    )
