"""`/api/admin`: staff routes. Every route takes the `staff` dependency: an admin or finance account whose
sessions require a second factor. Anyone else gets 401 (anonymous) or 403 (member, or staff without 2FA)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from domain.audit import verify_chain
from domain.sessions import Role
from entrypoints.http.schemas import Problem
from ports.usecases import roles
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
            deps, account_id=str(account_id), role=data.role, actor=f"account:{staff.account_id}", reason=data.reason
        )
        return AccountRole(account_id=account.id, role=account.role)

    @get("/accounts/{account_id:uuid}/audit", operation_id="getAccountAudit", responses=PROBLEMS)
    async def audit(
        self, account_id: FromPath[UUID], staff: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> AuditPage:
        """The account's audit chain (role changes), verified."""
        async with deps.uow() as uow:
            chain = await uow.audit.chain(roles.AUDIT_ENTITY, str(account_id))
        return AuditPage(
            items=[
                AuditEntry(
                    seq=link.record.seq,
                    at=link.record.at,
                    actor=link.record.actor,
                    action=link.record.action,
                    before=dict(link.record.before),
                    after=dict(link.record.after),
                    reason=link.record.reason,
                    hash=link.hash.hex(),
                )
                for link in chain
            ],
            chain_valid=verify_chain(chain).ok,
        )
