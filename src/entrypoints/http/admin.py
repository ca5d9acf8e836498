"""`/api/admin`: staff routes. Every route takes the `staff` dependency: an admin or finance account whose
sessions require a second factor. Anyone else gets 401 (anonymous) or 403 (member, or staff without 2FA)."""

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.audit import AuditLink, verify_chain
from domain.sessions import Role
from entrypoints.http.dashboard import DashboardOut, dashboard_out
from entrypoints.http.payouts import PayoutOut, payout_out
from entrypoints.http.schemas import Problem
from ports.outbound.audit import AuditFilter
from ports.outbound.directory import MemberRow
from ports.outbound.notes import MemberNote
from ports.outbound.profiles import Profile
from ports.usecases import admin_members, admin_support, exports, roles, staff_dashboard
from ports.usecases.auth import Principal
from ports.usecases.credentials import require_recent_authentication
from ports.usecases.deps import Deps
from ports.usecases.errors import Forbidden

PROBLEMS = {
    400: ResponseSpec(Problem, description="Invalid body"),
    401: ResponseSpec(Problem, description="Not signed in"),
    403: ResponseSpec(Problem, description="Not staff, no second factor, or not allowed for this role"),
    404: ResponseSpec(Problem, description="No such account"),
    422: ResponseSpec(Problem, description="The change breaks a rule"),
}


class RoleChange(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    role: Role
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class AccountRole(msgspec.Struct, rename="camel", kw_only=True):
    account_id: UUID
    role: str


class AuditEntry(msgspec.Struct, rename="camel", kw_only=True):
    seq: int
    at: datetime
    actor: str
    action: str
    before: dict[str, str | int | bool | None]
    after: dict[str, str | int | bool | None]
    reason: str | None
    hash: str


class AuditPage(msgspec.Struct, rename="camel", kw_only=True):
    items: list[AuditEntry]
    chain_valid: bool


class Reason(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class NoteIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=admin_support.NOTE_MAX)]


class NoteOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    author_id: UUID
    body: str
    created_at: datetime


class NoteList(msgspec.Struct, rename="camel", kw_only=True):
    items: list[NoteOut]


def _note(note: MemberNote) -> NoteOut:
    return NoteOut(id=note.id, author_id=note.author_id, body=note.body, created_at=note.created_at)


class SessionsEnded(msgspec.Struct, rename="camel", kw_only=True):
    ended: int


class AuditLogEntry(AuditEntry, kw_only=True):
    entity_type: str
    entity_id: str


class AuditLogPage(msgspec.Struct, rename="camel", kw_only=True):
    items: list[AuditLogEntry]
    next_cursor: UUID | None


class MonthAmount(msgspec.Struct, rename="camel", kw_only=True):
    month: str
    """YYYY-MM"""
    cents: int


class RoundOut(msgspec.Struct, rename="camel", kw_only=True):
    round: str
    evaluated_at: datetime
    winners: int
    reward_cents: int


class StaffDashboardOut(msgspec.Struct, rename="camel", kw_only=True):
    members_by_status: dict[str, int]
    inflow_by_month: list[MonthAmount]
    fund_by_month: list[MonthAmount]
    fund_cents: int
    threshold_cents: int
    open_payouts_by_status: dict[str, int]
    recent_rounds: list[RoundOut]
    alerts: list[str]
    """inbox_lag | reconciliation_stale | reconciliation_drift | fund_ready_no_round | payout_stuck | payouts_frozen"""


def _months(series: Sequence[tuple[date, int]]) -> list[MonthAmount]:
    return [MonthAmount(month=month.strftime("%Y-%m"), cents=cents) for month, cents in series]


class MemberRowOut(msgspec.Struct, rename="camel", kw_only=True):
    account_id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    member_number: int | None
    membership_status: str | None
    account_status: str
    created_at: datetime


class MemberPageOut(msgspec.Struct, rename="camel", kw_only=True):
    items: list[MemberRowOut]
    next_cursor: UUID | None


class AccountOut(msgspec.Struct, rename="camel", kw_only=True):
    id: UUID
    email: str
    email_verified: bool
    role: str
    status: str
    created_at: datetime
    totp_enabled: bool
    passkeys: int
    linked_providers: list[str]
    has_password: bool


class ProfileOut(msgspec.Struct, rename="camel", kw_only=True):
    first_name: str | None
    last_name: str | None
    date_of_birth: str | None
    city: str | None
    region: str | None
    phone_last2: str | None
    phone_verified: bool
    email_bounced: bool
    deletion_requested_at: datetime | None


class SecurityEventOut(msgspec.Struct, rename="camel", kw_only=True):
    kind: str
    at: datetime
    ip: str | None
    detail: str | None


class MemberDetailOut(msgspec.Struct, rename="camel", kw_only=True):
    account: AccountOut
    profile: ProfileOut | None
    home: DashboardOut
    """The member's home page exactly as they see it: membership, position and its history, eligibility."""
    payouts: list[PayoutOut]
    audit: list[AuditEntry]
    audit_chain_valid: bool
    security_events: list[SecurityEventOut]


def _entry_fields(link: AuditLink) -> dict[str, Any]:
    record = link.record
    return {
        "seq": record.seq,
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "before": dict(record.before),
        "after": dict(record.after),
        "reason": record.reason,
        "hash": link.hash.hex(),
    }


def _audit_entries(chain: Sequence[AuditLink]) -> list[AuditEntry]:
    return [AuditEntry(**_entry_fields(link)) for link in chain]


def _row(row: MemberRow) -> MemberRowOut:
    return MemberRowOut(
        account_id=row.account_id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        member_number=row.member_number,
        membership_status=row.membership_status.lower() if row.membership_status else None,
        account_status=row.account_status,
        created_at=row.created_at,
    )


def _profile(profile: Profile | None) -> ProfileOut | None:
    if profile is None:
        return None
    return ProfileOut(
        first_name=profile.legal_first_name,
        last_name=profile.legal_last_name,
        date_of_birth=profile.date_of_birth.isoformat() if profile.date_of_birth else None,
        city=profile.address.city if profile.address else None,
        region=profile.address.region if profile.address else None,
        phone_last2=profile.phone[-2:] if profile.phone else None,
        phone_verified=profile.phone_verified_at is not None,
        email_bounced=profile.email_bounced,
        deletion_requested_at=profile.deletion_requested_at,
    )


def _detail(detail: admin_members.MemberDetail) -> MemberDetailOut:
    account = detail.account
    return MemberDetailOut(
        account=AccountOut(
            id=account.id,
            email=account.email,
            email_verified=account.email_verified_at is not None,
            role=account.role,
            status=account.status,
            created_at=account.created_at,
            totp_enabled=account.totp_enabled_at is not None,
            passkeys=len(detail.passkeys),
            linked_providers=[i.provider for i in detail.identities],
            has_password=account.password_hash is not None,
        ),
        profile=_profile(detail.profile),
        home=dashboard_out(detail.home),
        payouts=[payout_out(view, staff=True) for view in detail.payouts],
        audit=_audit_entries(detail.audit),
        audit_chain_valid=detail.audit_chain_valid,
        security_events=[
            SecurityEventOut(kind=e.kind, at=e.at, ip=e.ip, detail=e.detail) for e in detail.security_events
        ],
    )


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]

    @put("/accounts/{account_id:uuid}/role", operation_id="setAccountRole", responses=PROBLEMS)
    async def set_role(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[RoleChange],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> AccountRole:
        """Grant or revoke a role (admins only, authenticated within the step-up window). Audited; the
        account's sessions end."""
        if staff.role != Role.ADMIN:
            raise Forbidden("only administrators manage roles")
        require_recent_authentication(deps, staff)
        account = await roles.set_role(
            deps,
            account_id=str(account_id),
            role=data.role,
            actor=f"account:{staff.account_id}",
            reason=data.reason,
            actor_account_id=staff.account_id,
        )
        return AccountRole(account_id=account.id, role=account.role)

    @get("/accounts/{account_id:uuid}/audit", operation_id="getAccountAudit", responses=PROBLEMS)
    async def audit(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> AuditPage:
        """The account's audit chain (role changes), verified."""
        async with deps.uow() as uow:
            chain = await uow.audit.chain(roles.AUDIT_ENTITY, str(account_id))
        return AuditPage(items=_audit_entries(chain), chain_valid=verify_chain(chain).ok)

    @get("/dashboard", operation_id="getStaffDashboard", responses=PROBLEMS)
    async def dashboard(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> StaffDashboardOut:
        """Members by status, twelve months of inflow and fund balance, open payouts, latest rounds, alerts."""
        view = await staff_dashboard.staff_dashboard(deps, staff)
        return StaffDashboardOut(
            members_by_status=dict(view.members_by_status),
            inflow_by_month=_months(view.inflow_by_month),
            fund_by_month=_months(view.fund_by_month),
            fund_cents=view.fund_cents,
            threshold_cents=view.threshold_cents,
            open_payouts_by_status=dict(view.payouts_by_status),
            recent_rounds=[
                RoundOut(
                    round=r.round_key.isoformat(),
                    evaluated_at=r.evaluated_at,
                    winners=r.winners,
                    reward_cents=r.reward_cents,
                )
                for r in view.recent_rounds
            ],
            alerts=[str(a) for a in view.alerts],
        )

    @get("/members", operation_id="searchMembers", responses=PROBLEMS)
    async def members(
        self,
        *,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        q: Annotated[str | None, QueryParameter(max_length=320)] = None,
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        cursor: Annotated[UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=admin_members.PAGE_MAX)] = 50,
    ) -> MemberPageOut:
        """Find members by email (or its start), name, member number, and the status of their latest membership
        (`none`: never joined). Keyset pages: pass `nextCursor` back as `cursor`."""
        page = await admin_members.search_members(deps, staff, text=q, status=status, cursor=cursor, limit=limit)
        return MemberPageOut(items=[_row(r) for r in page.items], next_cursor=page.next_cursor)

    @get("/members/{account_id:uuid}", operation_id="getMember", responses=PROBLEMS)
    async def member(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> MemberDetailOut:
        """Everything about one member: account, profile, their home page as they see it (position and its
        history, eligibility with reasons, KYC, next charge), payouts, the audit trail and recent security events."""
        return _detail(await admin_members.member_detail(deps, staff, account_id))

    @post(
        "/members/{account_id:uuid}/resend-verification",
        operation_id="resendMemberVerification",
        status_code=HTTP_204_NO_CONTENT,
        responses={**PROBLEMS, 409: ResponseSpec(Problem, description="The address is verified already")},
    )
    async def resend_verification(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[Reason],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> None:
        """Email the member a fresh verification code (audited with the reason)."""
        await admin_support.resend_verification(deps, staff, account_id, reason=data.reason)

    @post(
        "/members/{account_id:uuid}/sessions/end", operation_id="endMemberSessions", status_code=200, responses=PROBLEMS
    )
    async def end_sessions(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[Reason],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> SessionsEnded:
        """Sign the member out of every session (audited with the reason)."""
        return SessionsEnded(ended=await admin_support.end_sessions(deps, staff, account_id, reason=data.reason))

    @post("/members/{account_id:uuid}/notes", operation_id="addMemberNote", status_code=201, responses=PROBLEMS)
    async def add_note(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[NoteIn],
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
    ) -> NoteOut:
        """A note for other staff (its text stays out of the audit log; erased with the member's data)."""
        return _note(await admin_support.add_note(deps, staff, account_id, body=data.body))

    @get("/members/{account_id:uuid}/notes", operation_id="listMemberNotes", responses=PROBLEMS)
    async def notes(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> NoteList:
        """The newest 100 notes on the member's account."""
        return NoteList(items=[_note(n) for n in await admin_support.notes_of(deps, staff, account_id)])

    @get("/audit", operation_id="browseAuditLog", responses=PROBLEMS)
    async def audit_log(
        self,
        *,
        staff: NamedDependency[Principal],
        deps: NamedDependency[Deps],
        entity_type: Annotated[str | None, QueryParameter(name="entityType", max_length=48)] = None,
        entity_id: Annotated[str | None, QueryParameter(name="entityId", max_length=64)] = None,
        actor: Annotated[str | None, QueryParameter(max_length=64)] = None,
        action: Annotated[str | None, QueryParameter(max_length=64)] = None,
        cursor: Annotated[UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=admin_support.AUDIT_PAGE_MAX)] = 50,
    ) -> AuditLogPage:
        """Every audit record, newest first, filtered by entity, actor (e.g. `account:<id>`) or action."""
        page = await admin_support.browse_audit(
            deps,
            staff,
            AuditFilter(entity_type=entity_type, entity_id=entity_id, actor=actor, action=action),
            cursor=cursor,
            limit=limit,
        )
        return AuditLogPage(
            items=[
                AuditLogEntry(
                    entity_type=link.record.entity_type, entity_id=link.record.entity_id, **_entry_fields(link)
                )
                for link in page.items
            ],
            next_cursor=page.next_cursor,
        )

    @get("/members/{account_id:uuid}/view", operation_id="viewAsMember", responses=PROBLEMS)
    async def view_as(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> DashboardOut:
        """The member's home page exactly as `GET /api/dashboard` answers them (read-only; the access is logged)."""
        return dashboard_out(await admin_members.view_as_member(deps, staff, account_id))


CSV_RESPONSES = {**PROBLEMS, 200: ResponseSpec(None, description="CSV (text/csv), streamed", media_type="text/csv")}


def _csv(chunks: AsyncIterator[str], name: str) -> Stream:
    return Stream(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tenure-{name}.csv"', "Cache-Control": "no-store"},
    )


class ExportController(Controller):
    """Exports stream in keyset batches: memory stays flat for any number of rows."""

    path = "/api/admin/exports"
    tags = ["admin"]

    @get("/members.csv", operation_id="exportMembers", responses=CSV_RESPONSES)
    async def members(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> Stream:
        """Every member account with its latest membership (staff)."""
        return _csv(exports.members_csv(deps, staff), "members")

    @get("/payments.csv", operation_id="exportPayments", responses=CSV_RESPONSES)
    async def payments(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> Stream:
        """Every payment received, with refunds and disputes (finance)."""
        return _csv(exports.payments_csv(deps, staff), "payments")

    @get("/payouts.csv", operation_id="exportPayouts", responses=CSV_RESPONSES)
    async def payouts(self, staff: NamedDependency[Principal], deps: NamedDependency[Deps]) -> Stream:
        """Every payout with its frozen amounts; never bank or tax numbers (finance)."""
        return _csv(exports.payouts_csv(deps, staff), "payouts")
