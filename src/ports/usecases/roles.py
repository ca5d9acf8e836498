"""Roles: `member`, `admin`, `finance`. Role changes are audited (hash chain per account), end the
account's sessions (privileges are re-established at the next sign-in), and staff roles are refused to
anyone holding a live membership (staff cannot hold memberships, DOMAIN.md §8)."""

import asyncio
from dataclasses import replace
from uuid import UUID

from domain.passwords import check_password, normalise_password
from domain.sessions import Role, can_hold_membership
from ports.outbound.accounts import Account
from ports.outbound.errors import ConflictError
from ports.usecases.audit import record_audit
from ports.usecases.auth import auth_services, normalise_email
from ports.usecases.deps import Deps
from ports.usecases.errors import Forbidden, InvalidInput, NotFound

AUDIT_ENTITY = "account"


async def set_role(
    deps: Deps,
    *,
    account_id: str | None = None,
    email: str | None = None,
    role: Role,
    actor: str,
    reason: str,
    actor_account_id: UUID | None = None,
) -> Account:
    """`actor_account_id`: the staff account making the change through the API (never its own role)."""
    if not reason.strip():
        raise InvalidInput("a role change needs a reason")
    now = deps.clock.now()
    async with deps.uow() as uow:
        if account_id is not None:
            account = await uow.accounts.get(UUID(account_id), for_update=True)
        else:
            found = await uow.accounts.by_email(normalise_email(email or ""))
            account = await uow.accounts.get(found.id, for_update=True) if found else None
        if account is None:
            raise NotFound()
        if actor_account_id == account.id:
            raise Forbidden("nobody changes their own role: ask another administrator")
        if account.role == role:
            return account
        if not can_hold_membership(role) and await uow.accounts.has_live_membership(account.id):
            raise Forbidden("staff cannot hold memberships: this account has a live membership")
        updated = replace(account, role=str(role))
        await uow.accounts.save(updated)
        await uow.sessions.revoke_all(account.id, at=now)
        await record_audit(
            uow,
            entity_type=AUDIT_ENTITY,
            entity_id=str(account.id),
            actor=actor,
            action="role_changed",
            at=now,
            before={"role": account.role},
            after={"role": str(role)},
            reason=reason,
        )
        await uow.security_log.record("role_changed", at=now, account_id=account.id, detail=f"{account.role}->{role}")
        await uow.commit()
    return updated


async def create_admin(deps: Deps, *, email: str, password: str, actor: str) -> Account:
    """Bootstrap the first administrator (CLI). The address counts as verified; the admin must still enrol
    a second factor before any staff route answers."""
    auth = auth_services(deps)
    email = normalise_email(email)
    problems = check_password(
        password, policy=auth.password_policy, is_common=auth.common_passwords.__contains__, email=email
    )
    if problems:
        raise InvalidInput("the password is not acceptable", [str(p) for p in problems])
    password_hash = await asyncio.to_thread(auth.hasher.hash, normalise_password(password))
    now = deps.clock.now()
    async with deps.uow() as uow:
        try:
            account = await uow.accounts.add(email=email, password_hash=password_hash, role=str(Role.ADMIN), now=now)
        except ConflictError:
            raise InvalidInput("an account with this email exists; use `tenure accounts set-role`") from None
        account = replace(account, email_verified_at=now)
        await uow.accounts.save(account)
        await record_audit(
            uow,
            entity_type=AUDIT_ENTITY,
            entity_id=str(account.id),
            actor=actor,
            action="role_changed",
            at=now,
            before={"role": None},
            after={"role": str(Role.ADMIN)},
            reason="first administrator created from the command line",
        )
        await uow.commit()
    return account
