"""Step-up, TOTP second factor with backup codes, password change and reset.

Sensitive changes (password, second factor) need a *recent* authentication: a sign-in or step-up within
the session policy's window. Every change that alters how someone signs in rotates the session, revoking
the old token, and ends the account's other sessions: a thief holding an old cookie is locked out.
"""

import asyncio
from dataclasses import dataclass, replace

from domain.one_time_codes import CodePurpose
from domain.passwords import check_password, normalise_password
from domain.sessions import step_up_fresh
from domain.sign_in_methods import Method
from domain.totp import (
    BACKUP_CODE_COUNT,
    backup_code_digest,
    backup_code_from_random,
    base32_secret,
    provisioning_uri,
    secret_from_random,
    verify_totp,
)
from ports.outbound.accounts import Account
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import (
    CODE_CHECK,
    RESET_REQUEST_BY_ADDRESS,
    SIGN_IN,
    Client,
    NewSession,
    Principal,
    auth_services,
    check_emailed_code,
    count_failure,
    issue_emailed_code,
    normalise_email,
    open_session,
    second_factor_ok,
    throttle_check,
    verify_password_of,
)
from ports.usecases.authenticators import ensure_removable, ensure_second_factor_proven
from ports.usecases.deps import Deps
from ports.usecases.errors import (
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    SecondFactorRequired,
    StepUpRequired,
)

TOTP_ISSUER = "Tenure"
TOTP_SECRET_BYTES = 20
BACKUP_CODE_RANDOM_BYTES = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpEnrolment:
    secret: str
    provisioning_uri: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondFactorEnabled:
    backup_codes: list[str]
    session: NewSession


def require_recent_authentication(deps: Deps, principal: Principal) -> None:
    if not step_up_fresh(principal.authenticated_at, deps.clock.now(), auth_services(deps).session_policy):
        raise StepUpRequired()


async def account_of(uow: UnitOfWork, principal: Principal) -> Account:
    """The caller's account, locked for the change at hand."""
    account = await uow.accounts.get(principal.account_id, for_update=True)
    if account is None:  # the session outlived its account: treat as signed out
        raise InvalidCredentials()
    return account


async def _new_backup_codes(deps: Deps, uow: UnitOfWork, account: Account) -> list[str]:
    auth = auth_services(deps)
    codes = [backup_code_from_random(auth.random.bytes(BACKUP_CODE_RANDOM_BYTES)) for _ in range(BACKUP_CODE_COUNT)]
    digests = [backup_code_digest(c, key=auth.code_key, account_id=str(account.id)) for c in codes]
    await uow.backup_codes.replace_all(account.id, digests, at=deps.clock.now())
    return codes


async def _rotate(
    deps: Deps, uow: UnitOfWork, account: Account, client: Client, *, second_factor: bool, keep_others: bool = False
) -> NewSession:
    """Replace the caller's session with a fresh one (new token); unless `keep_others`, end the account's
    other sessions too."""
    if not keep_others:
        await uow.sessions.revoke_all(account.id, at=deps.clock.now())
    return await open_session(deps, uow, account, client, second_factor=second_factor)


async def _require_second_factor(deps: Deps, uow: UnitOfWork, account: Account, submitted: str | None) -> None:
    """Accounts with TOTP prove it again (a code or a backup code) for changes to how they sign in. Wrong codes
    count towards the same back-off as codes everywhere else."""
    if account.totp_enabled_at is None:
        return
    limiter = auth_services(deps).limiter
    await throttle_check(limiter, (CODE_CHECK, account.email))
    if not submitted:
        raise SecondFactorRequired()
    if not await second_factor_ok(deps, uow, account, submitted):
        await uow.commit()  # keep the used-step bookkeeping of a partly valid attempt
        await count_failure(limiter, (CODE_CHECK, account.email))
        raise InvalidCode()


async def step_up(
    deps: Deps,
    principal: Principal,
    *,
    password: str,
    second_factor: str | None = None,
    client: Client | None = None,
) -> NewSession:
    """Re-authenticate within a session (for sensitive changes). Success replaces the session with a fresh
    one (new token); other sessions stay. Failures count like failed sign-ins."""
    auth = auth_services(deps)
    await throttle_check(auth.limiter, (SIGN_IN, principal.email))
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        ok = await verify_password_of(deps, account, password)
        with_second_factor = False
        if ok and account.totp_enabled_at is not None:
            ok = with_second_factor = bool(second_factor) and await second_factor_ok(
                deps, uow, account, second_factor or ""
            )
        session = None
        if ok:
            await uow.sessions.revoke(principal.session_id, account_id=account.id, at=deps.clock.now())
            session = await _rotate(  # a password step-up refreshes the time; it never drops a proven factor
                deps,
                uow,
                account,
                client or Client(),
                second_factor=with_second_factor or principal.second_factor,
                keep_others=True,
            )
        await uow.security_log.record(
            "step_up_succeeded" if ok else "step_up_failed", at=deps.clock.now(), account_id=account.id
        )
        await uow.commit()
    if session is None:
        await count_failure(auth.limiter, (SIGN_IN, principal.email))
        raise InvalidCredentials()
    return session


async def start_totp_enrolment(deps: Deps, principal: Principal) -> TotpEnrolment:
    """Store a new, not yet enabled, TOTP secret (sealed at rest) and return it for the authenticator app."""
    require_recent_authentication(deps, principal)
    auth = auth_services(deps)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        if account.totp_enabled_at is not None:
            raise InvalidInput("two-factor authentication is already enabled")
        await ensure_second_factor_proven(uow, account, session_proved_one=principal.second_factor)
        secret = secret_from_random(auth.random.bytes(TOTP_SECRET_BYTES))
        sealed = auth.box.seal(secret, context=f"totp:{account.id}")
        await uow.accounts.save(replace(account, totp_secret_sealed=sealed, totp_last_step=None))
        await uow.commit()
    return TotpEnrolment(
        secret=base32_secret(secret),
        provisioning_uri=provisioning_uri(secret, account_name=account.email, issuer=TOTP_ISSUER),
    )


async def confirm_totp(
    deps: Deps, principal: Principal, *, code: str, client: Client | None = None
) -> SecondFactorEnabled:
    """Enable TOTP once the member proves their app works; returns 10 single-use backup codes (shown once)."""
    require_recent_authentication(deps, principal)
    auth = auth_services(deps)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        if account.totp_enabled_at is not None or account.totp_secret_sealed is None:
            raise InvalidInput("start an enrolment first")
        await ensure_second_factor_proven(uow, account, session_proved_one=principal.second_factor)
        secret = auth.box.open(account.totp_secret_sealed, context=f"totp:{account.id}")
        await throttle_check(auth.limiter, (CODE_CHECK, account.email))
        check = verify_totp(secret, code.strip(), now=deps.clock.now(), last_used_step=None)
        if not check.ok:
            await count_failure(auth.limiter, (CODE_CHECK, account.email))
            raise InvalidCode()
        account = replace(account, totp_enabled_at=deps.clock.now(), totp_last_step=check.step)
        await uow.accounts.save(account)
        backup_codes = await _new_backup_codes(deps, uow, account)
        session = await _rotate(deps, uow, account, client or Client(), second_factor=True)
        await uow.security_log.record("second_factor_enabled", at=deps.clock.now(), account_id=account.id)
        await uow.commit()
    return SecondFactorEnabled(backup_codes=backup_codes, session=session)


async def disable_totp(deps: Deps, principal: Principal, *, code: str) -> None:
    """Switch TOTP off with a current code. Staff must keep a second factor: they may only if they have a passkey."""
    require_recent_authentication(deps, principal)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        if account.totp_enabled_at is None:
            raise InvalidInput("two-factor authentication is not enabled")
        await ensure_removable(uow, account, Method.TOTP)
        await _require_second_factor(deps, uow, account, code)
        account = await account_of(uow, principal)  # re-read: the check stored the used time step
        await uow.accounts.save(replace(account, totp_secret_sealed=None, totp_enabled_at=None, totp_last_step=None))
        await uow.backup_codes.replace_all(account.id, [], at=deps.clock.now())
        await uow.security_log.record("second_factor_disabled", at=deps.clock.now(), account_id=account.id)
        await uow.commit()


async def regenerate_backup_codes(deps: Deps, principal: Principal, *, code: str) -> list[str]:
    """New backup codes replace the old ones; it takes a current TOTP or backup code, so a stolen cookie
    alone can never mint a lasting way around the second factor."""
    require_recent_authentication(deps, principal)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        if account.totp_enabled_at is None:
            raise InvalidInput("enable two-factor authentication first")
        await _require_second_factor(deps, uow, account, code)
        account = await account_of(uow, principal)
        codes = await _new_backup_codes(deps, uow, account)
        await uow.security_log.record("backup_codes_regenerated", at=deps.clock.now(), account_id=account.id)
        await uow.commit()
    return codes


def _check_new_password(deps: Deps, password: str, email: str) -> None:
    auth = auth_services(deps)
    problems = check_password(
        password, policy=auth.password_policy, is_common=auth.common_passwords.__contains__, email=email
    )
    if problems:
        raise InvalidInput("the password is not acceptable", [str(p) for p in problems])


async def change_password(
    deps: Deps,
    principal: Principal,
    *,
    current: str,
    new: str,
    second_factor: str | None = None,
    client: Client | None = None,
) -> NewSession:
    """The current password (and the second factor, if enabled) is the step-up. Success rotates this session
    and ends all others."""
    auth = auth_services(deps)
    await throttle_check(auth.limiter, (SIGN_IN, principal.email))
    _check_new_password(deps, new, principal.email)
    new_hash = await asyncio.to_thread(auth.hasher.hash, normalise_password(new))
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        if not await verify_password_of(deps, account, current):
            await uow.security_log.record("password_change_failed", at=deps.clock.now(), account_id=account.id)
            await uow.commit()
            await count_failure(auth.limiter, (SIGN_IN, principal.email))
            raise InvalidCredentials()
        await _require_second_factor(deps, uow, account, second_factor)
        account = replace(await account_of(uow, principal), password_hash=new_hash)
        await uow.accounts.save(account)
        session = await _rotate(
            deps, uow, account, client or Client(), second_factor=account.totp_enabled_at is not None
        )
        await uow.security_log.record("password_changed", at=deps.clock.now(), account_id=account.id)
        await uow.commit()
    return session


async def request_password_reset(deps: Deps, *, email: str, client: Client | None = None) -> None:
    """Email a reset code if the account exists; the answer is the same either way. Every request counts
    against the client address, so nobody can use us to flood inboxes."""
    if client is not None and client.ip:
        limiter = auth_services(deps).limiter
        await throttle_check(limiter, (RESET_REQUEST_BY_ADDRESS, client.ip))
        await count_failure(limiter, (RESET_REQUEST_BY_ADDRESS, client.ip))
    email = normalise_email(email)
    async with deps.uow() as uow:
        account = await uow.accounts.by_email(email)
        if account is not None and account.active:
            await issue_emailed_code(deps, uow, account, CodePurpose.PASSWORD_RESET)
        await uow.commit()


async def reset_password(deps: Deps, *, email: str, code: str, new_password: str, client: Client | None = None) -> None:
    """Set a new password with an emailed code; every session of the account ends. The code also proves
    ownership of the address, so an unverified address becomes verified."""
    auth = auth_services(deps)
    email = normalise_email(email)
    _check_new_password(deps, new_password, email)  # before the code is spent
    account = await check_emailed_code(deps, email=email, code=code, purpose=CodePurpose.PASSWORD_RESET, client=client)
    new_hash = await asyncio.to_thread(auth.hasher.hash, normalise_password(new_password))
    async with deps.uow() as uow:
        fresh = await uow.accounts.get(account.id, for_update=True)
        if fresh is None:
            raise InvalidCode()
        now = deps.clock.now()
        await uow.accounts.save(
            replace(fresh, password_hash=new_hash, email_verified_at=fresh.email_verified_at or now)
        )
        await uow.sessions.revoke_all(fresh.id, at=now)
        await uow.security_log.record("password_reset", at=now, account_id=fresh.id)
        await uow.commit()
    await auth.limiter.success(SIGN_IN, email)  # whoever proved the address may sign in again at once
