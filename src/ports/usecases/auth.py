"""Sign-up, email verification, sign-in, sessions and sign-out.

Rules every use case here follows:
- Answers never reveal whether an email has an account. Unknown emails cost a password hash too, and get
  the same response and the same errors.
- Session cookies carry a random token. Only its SHA-256 is stored, so a database leak gives no live
  sessions. Signing in always creates a new session, which defeats session fixation.
- Argon2 work runs in a thread, so one sign-in cannot stall every other request on the event loop.
- Throttling counts failures per account and per client address, and answers `Throttled` with a retry
  time.
"""

import asyncio
import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from domain.challenges import ChallengeKind
from domain.one_time_codes import (
    CodePurpose,
    IssuedCode,
    check_code,
    code_from_random,
    issue_code,
    resend_allowed,
)
from domain.passwords import check_password, normalise_password
from domain.sessions import STAFF_ROLES, Role, SessionStatus, session_status, should_touch
from domain.throttle import ThrottlePolicy
from domain.totp import match_backup_code, verify_totp
from ports.outbound.accounts import Account, AuthSession
from ports.outbound.errors import ConflictError
from ports.outbound.rate_limit import RateLimiter
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.authenticators import PasskeyAnswer, verified_passkey
from ports.usecases.deps import AuthServices, Deps
from ports.usecases.errors import (
    CeremonyExpired,
    EmailNotVerified,
    Forbidden,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    SecondFactorRequired,
    Throttled,
)

SESSION_TOKEN_BYTES = 32
CODE_ISSUED_EVENT = "account.code_issued"
SIGN_IN, SIGN_IN_BY_ADDRESS = "sign_in", "sign_in_address"
CODE_CHECK, CODE_CHECK_BY_ADDRESS = "code_check", "code_check_address"
RESET_REQUEST_BY_ADDRESS = "reset_request_address"
CEREMONY_START_BY_ADDRESS = "ceremony_start_address"

THROTTLE_POLICIES: dict[str, ThrottlePolicy] = {
    SIGN_IN: ThrottlePolicy(),
    # One address may front many people (offices, carrier NAT): a looser limit, still with back-off.
    SIGN_IN_BY_ADDRESS: ThrottlePolicy(free_failures=100),
    CODE_CHECK: ThrottlePolicy(),
    CODE_CHECK_BY_ADDRESS: ThrottlePolicy(free_failures=100),
    # Every reset request counts: it sends an email, so one address may not use us to flood inboxes.
    RESET_REQUEST_BY_ADDRESS: ThrottlePolicy(free_failures=20),
    # Every passkey or provider sign-in start stores a challenge row (purged after a day): generous for an office
    # behind one address, a wall for floods (at most ~1,200 rows an hour per address, then back-off).
    CEREMONY_START_BY_ADDRESS: ThrottlePolicy(free_failures=300),
}
"""Back-off per scope. Codes also die after their own 3 attempts; this limit stops guessing across resends."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling, as established from their session cookie."""

    account_id: UUID
    email: str
    role: Role
    session_id: UUID
    authenticated_at: datetime
    second_factor: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSession:
    token: str
    principal: Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    ip: str | None = None
    user_agent: str | None = None


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def auth_services(deps: Deps) -> AuthServices:
    if deps.auth is None:
        raise RuntimeError("authentication services are not configured")
    return deps.auth


def require_staff(principal: Principal) -> None:
    """Staff use cases refuse anyone else, whatever route reached them (the HTTP layer also checks 2FA)."""
    if principal.role not in STAFF_ROLES:
        raise Forbidden()


def principal_of(account: Account, session: AuthSession) -> Principal:
    return Principal(
        account_id=account.id,
        email=account.email,
        role=Role(account.role),
        session_id=session.id,
        authenticated_at=session.authenticated_at,
        second_factor=session.second_factor_at is not None,
    )


async def throttle_check(limiter: RateLimiter, *checks: tuple[str, str | None]) -> None:
    for scope, key in checks:
        if key:
            limit = await limiter.check(scope, key)
            if not limit.allowed:
                raise Throttled(limit.retry_after)


async def count_failure(limiter: RateLimiter, *keys: tuple[str, str | None]) -> None:
    """Count a failed attempt; the attempt that crosses the limit is itself answered with `Throttled`."""
    verdicts = [await limiter.failure(scope, key) for scope, key in keys if key]
    refused = [v for v in verdicts if not v.allowed]
    if refused:
        raise Throttled(max((v.retry_after for v in refused if v.retry_after), default=None))


async def issue_emailed_code(deps: Deps, uow: UnitOfWork, account: Account, purpose: CodePurpose) -> None:
    """Issue a fresh code (replacing any earlier one) unless the resend cool-down is running; the code
    travels to the email job only sealed, so neither the outbox nor the job queue holds it in clear."""
    auth = auth_services(deps)
    now = deps.clock.now()
    existing = await uow.codes.get(account.id, purpose)
    if existing is not None and not resend_allowed(existing.issued_at, now=now, policy=auth.code_policy).ok:
        return
    code = code_from_random(auth.random.bytes(8), auth.code_policy.length)
    issued = issue_code(
        code=code, key=auth.code_key, subject=str(account.id), purpose=purpose, now=now, policy=auth.code_policy
    )
    await uow.codes.put(account.id, issued)
    sealed = auth.box.seal(code.encode(), context=f"code:{account.id}:{purpose}")
    uow.record(
        event_name=CODE_ISSUED_EVENT,
        aggregate_type="account",
        aggregate_id=str(account.id),
        payload={"purpose": str(purpose), "sealedCode": base64.b64encode(sealed).decode()},
    )


async def sign_up(deps: Deps, *, email: str, password: str, client: Client | None = None) -> None:
    """Create a member account and email a verification code. An existing email gets the same answer."""
    auth = auth_services(deps)
    email = normalise_email(email)
    problems = check_password(
        password, policy=auth.password_policy, is_common=auth.common_passwords.__contains__, email=email
    )
    if problems:
        raise InvalidInput("the password is not acceptable", [str(p) for p in problems])
    password_hash = await asyncio.to_thread(auth.hasher.hash, normalise_password(password))
    async with deps.uow() as uow:
        account = await uow.accounts.by_email(email)
        if account is None:
            try:
                account = await uow.accounts.add(
                    email=email, password_hash=password_hash, role=str(Role.MEMBER), now=deps.clock.now()
                )
            except ConflictError:  # a concurrent sign-up won the race: answer as for an existing email
                account = await uow.accounts.by_email(email)
        if account is not None and account.email_verified_at is None:
            # Whoever signs up last sets the password of an unverified account, so someone who registered
            # another person's address first cannot keep a password on the account that person verifies.
            locked = await uow.accounts.get(account.id, for_update=True)
            if locked is not None and locked.email_verified_at is None:
                await uow.accounts.save(replace(locked, password_hash=password_hash))
            await issue_emailed_code(deps, uow, account, CodePurpose.EMAIL_VERIFICATION)
        await uow.security_log.record("sign_up", at=deps.clock.now(), email=email, ip=client.ip if client else None)
        await uow.commit()


async def resend_verification(deps: Deps, *, email: str) -> None:
    email = normalise_email(email)
    async with deps.uow() as uow:
        account = await uow.accounts.by_email(email)
        if account is not None and account.email_verified_at is None:
            await issue_emailed_code(deps, uow, account, CodePurpose.EMAIL_VERIFICATION)
        await uow.commit()


async def check_emailed_code(
    deps: Deps, *, email: str, code: str, purpose: CodePurpose, client: Client | None = None
) -> Account:
    """Check an emailed code for `email`; consume it on success. Failures count towards throttling, per
    account and per client address."""
    auth = auth_services(deps)
    ip = client.ip if client else None
    await throttle_check(auth.limiter, (CODE_CHECK, email), (CODE_CHECK_BY_ADDRESS, ip))
    async with deps.uow() as uow:
        account = await uow.accounts.by_email(email)
        # Locked: concurrent guesses at one code are counted one after another (3 tries means 3).
        issued: IssuedCode | None = await uow.codes.get(account.id, purpose, for_update=True) if account else None
        result = check_code(issued, code, key=auth.code_key, now=deps.clock.now(), policy=auth.code_policy)
        if result.updated is not None and account is not None:
            await uow.codes.put(account.id, result.updated)
        if not result.ok:
            await uow.security_log.record(
                "code_rejected", at=deps.clock.now(), email=email, detail=f"{purpose}: {result.reason}"
            )
        await uow.commit()
    if not result.ok or account is None:
        await count_failure(auth.limiter, (CODE_CHECK, email), (CODE_CHECK_BY_ADDRESS, ip))
        raise InvalidCode()
    await auth.limiter.success(CODE_CHECK, email)
    return account


async def verify_email(deps: Deps, *, email: str, code: str, client: Client | None = None) -> None:
    email = normalise_email(email)
    account = await check_emailed_code(
        deps, email=email, code=code, purpose=CodePurpose.EMAIL_VERIFICATION, client=client
    )
    async with deps.uow() as uow:
        current = await uow.accounts.get(account.id, for_update=True)  # never save a stale snapshot
        if current is not None:
            await uow.accounts.save(replace(current, email_verified_at=current.email_verified_at or deps.clock.now()))
            await uow.security_log.record("email_verified", at=deps.clock.now(), account_id=account.id)
        await uow.commit()


async def second_factor_ok(deps: Deps, uow: UnitOfWork, account: Account, submitted: str) -> bool:
    """A TOTP code (each time step once: the account row is locked while checking) or a backup code."""
    auth = auth_services(deps)
    locked = await uow.accounts.get(account.id, for_update=True)
    if locked is None or locked.totp_secret_sealed is None:
        return False
    secret = auth.box.open(locked.totp_secret_sealed, context=f"totp:{locked.id}")
    check = verify_totp(secret, submitted.strip(), now=deps.clock.now(), last_used_step=locked.totp_last_step)
    if check.ok:
        await uow.accounts.save(replace(locked, totp_last_step=check.step))
        return True
    digest = match_backup_code(
        submitted, await uow.backup_codes.unused(locked.id), key=auth.code_key, account_id=str(locked.id)
    )
    return digest is not None and await uow.backup_codes.mark_used(locked.id, digest, at=deps.clock.now())


async def _second_factor(
    deps: Deps, uow: UnitOfWork, account: Account, code: str | None, passkey: PasskeyAnswer | None
) -> tuple[bool, Exception | None]:
    """Whether sign-in proved a second factor, or why it failed. A passkey may be offered by any account that has
    one; a code is needed only when TOTP is on."""
    if passkey is not None:
        try:
            await verified_passkey(
                deps,
                uow,
                passkey,
                ChallengeKind.PASSKEY_ASSERTION,
                require_user_verification=False,  # the password is the other factor
                account_id=account.id,
            )
        except (InvalidCredentials, CeremonyExpired) as exc:
            return False, exc
        return True, None
    if account.totp_enabled_at is None:
        return False, None
    if not code:
        return False, SecondFactorRequired()
    if not await second_factor_ok(deps, uow, account, code):
        return False, InvalidCredentials()
    return True, None


async def sign_in(
    deps: Deps,
    *,
    email: str,
    password: str,
    second_factor: str | None = None,
    passkey: PasskeyAnswer | None = None,
    client: Client | None = None,
    replaces_token: str | None = None,
) -> NewSession:
    """Password sign-in. The second factor, required when TOTP is on, is a TOTP or backup code or a passkey's
    answer (any of the account's passkeys, user verification not needed: the password is the other factor)."""
    auth = auth_services(deps)
    client = client or Client()
    email = normalise_email(email)
    await throttle_check(auth.limiter, (SIGN_IN, email), (SIGN_IN_BY_ADDRESS, client.ip))
    now = deps.clock.now()

    async with deps.uow() as uow:
        account = await uow.accounts.by_email(email)
        password_ok = await verify_password_of(deps, account, password)

        failure: Exception | None = None
        with_second_factor = False
        if not password_ok or account is None:
            failure = InvalidCredentials()
        elif account.email_verified_at is None:
            failure = EmailNotVerified()
        else:
            with_second_factor, failure = await _second_factor(deps, uow, account, second_factor, passkey)
        if failure is None and account is not None:
            # Lock and re-read: a second factor enabled while we hashed must be honoured, and later writes
            # must not overwrite what the second-factor check just stored.
            locked = await uow.accounts.get(account.id, for_update=True)
            if locked is None or not locked.active:
                failure = InvalidCredentials()
            elif locked.totp_enabled_at is not None and not with_second_factor:
                failure = SecondFactorRequired()
            else:
                account = locked

        if failure is not None:
            await uow.security_log.record(
                "sign_in_failed",
                at=now,
                account_id=account.id if account else None,
                email=email,
                ip=client.ip,
                user_agent=client.user_agent,
                detail=type(failure).__name__,
            )
            await uow.commit()
            if isinstance(failure, InvalidCredentials):
                await count_failure(auth.limiter, (SIGN_IN, email), (SIGN_IN_BY_ADDRESS, client.ip))
            raise failure

        assert account is not None
        assert account.password_hash is not None
        if auth.hasher.needs_rehash(account.password_hash):
            rehashed = await asyncio.to_thread(auth.hasher.hash, normalise_password(password))
            account = replace(account, password_hash=rehashed)
            await uow.accounts.save(account)
        new = await signed_in(
            deps, uow, account, client, replaces_token=replaces_token, second_factor=with_second_factor
        )
        await uow.commit()
    await auth.limiter.success(SIGN_IN, email)
    return new


async def signed_in(
    deps: Deps,
    uow: UnitOfWork,
    account: Account,
    client: Client,
    *,
    replaces_token: str | None,
    second_factor: bool,
    how: str | None = None,
) -> NewSession:
    """The end of every sign-in (password, passkey, provider): the browser's previous session ends, a fresh one
    opens (no fixation), and the security log records how."""
    now = deps.clock.now()
    if replaces_token:
        old = await uow.sessions.by_token_hash(token_hash(replaces_token))
        if old is not None:
            await uow.sessions.revoke(old[0].id, account_id=old[0].account_id, at=now)
    new = await open_session(deps, uow, account, client, second_factor=second_factor)
    await uow.security_log.record(
        "sign_in_succeeded", at=now, account_id=account.id, ip=client.ip, user_agent=client.user_agent, detail=how
    )
    return new


async def open_session(
    deps: Deps, uow: UnitOfWork, account: Account, client: Client, *, second_factor: bool = False
) -> NewSession:
    """A fresh session (new random token) for `account`; callers revoke whatever it replaces.
    `second_factor` says whether it was established with one (staff routes require that)."""
    token = auth_services(deps).random.token(SESSION_TOKEN_BYTES)
    session = await uow.sessions.add(
        account_id=account.id,
        token_hash=token_hash(token),
        now=deps.clock.now(),
        user_agent=client.user_agent,
        ip=client.ip,
        second_factor=second_factor,
    )
    return NewSession(token=token, principal=principal_of(account, session))


async def verify_password_of(deps: Deps, account: Account | None, password: str) -> bool:
    """Check a password in a worker thread; unknown or password-less accounts cost the same time."""
    auth = auth_services(deps)
    if account is None or account.password_hash is None or not account.active:
        await asyncio.to_thread(auth.hasher.dummy_verify)
        return False
    return await asyncio.to_thread(auth.hasher.verify, account.password_hash, normalise_password(password))


async def authenticate(deps: Deps, token: str | None) -> Principal | None:
    """The principal behind a session token, or None if it is unknown, revoked, expired or disabled."""
    if not token:
        return None
    auth = auth_services(deps)
    now = deps.clock.now()
    async with deps.uow() as uow:
        found = await uow.sessions.by_token_hash(token_hash(token))
        if found is None:
            return None
        session, account = found
        status = session_status(
            role=Role(account.role),
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            now=now,
            policy=auth.session_policy,
        )
        if status is not SessionStatus.ACTIVE or not account.active:
            await uow.sessions.revoke(session.id, account_id=account.id, at=now)
            await uow.commit()
            return None
        if should_touch(session.last_seen_at, now, auth.session_policy):
            await uow.sessions.touch(session.id, at=now)
            await uow.commit()
    return principal_of(account, session)


async def sign_out(deps: Deps, principal: Principal) -> None:
    async with deps.uow() as uow:
        await uow.sessions.revoke(principal.session_id, account_id=principal.account_id, at=deps.clock.now())
        await uow.security_log.record("signed_out", at=deps.clock.now(), account_id=principal.account_id)
        await uow.commit()


async def list_sessions(deps: Deps, principal: Principal) -> list[AuthSession]:
    async with deps.uow() as uow:
        return list(await uow.sessions.list_live(principal.account_id))


async def revoke_session(deps: Deps, principal: Principal, session_id: UUID) -> None:
    """Revoke one of my sessions. Someone else's session id is simply not found."""
    async with deps.uow() as uow:
        if not await uow.sessions.revoke(session_id, account_id=principal.account_id, at=deps.clock.now()):
            raise NotFound()
        await uow.commit()


async def revoke_other_sessions(deps: Deps, principal: Principal) -> int:
    async with deps.uow() as uow:
        count = await uow.sessions.revoke_all(principal.account_id, at=deps.clock.now(), keep=principal.session_id)
        await uow.commit()
    return count
