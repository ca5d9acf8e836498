"""Passkeys: register, list, rename, delete; sign in with one (no password), and step up with one.

A passkey that verified its user (PIN or biometric on the device) is two factors in one: something held and
something known or being. Passkey sign-in and step-up therefore open sessions that count as second-factor
sessions, which is how staff may use a passkey instead of TOTP. Registration needs a recent authentication,
like every change to how someone signs in, and, on an account that already has a second factor, a session that
proved it (a password alone must not mint a second factor).
"""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from domain.challenges import ChallengeKind
from domain.passkeys import MAX_PASSKEYS_PER_ACCOUNT, passkey_name
from domain.sign_in_methods import Method
from ports.outbound.errors import ConflictError
from ports.outbound.passkeys import Passkey, PasskeyRejected
from ports.usecases.auth import (
    CEREMONY_START_BY_ADDRESS,
    SIGN_IN,
    SIGN_IN_BY_ADDRESS,
    Client,
    NewSession,
    Principal,
    auth_services,
    count_failure,
    open_session,
    signed_in,
    throttle_check,
)
from ports.usecases.authenticators import (
    CHALLENGE_BYTES,
    Ceremony,
    PasskeyAnswer,
    ensure_removable,
    ensure_second_factor_proven,
    new_challenge,
    redeem_challenge,
    relying_party,
    verified_passkey,
)
from ports.usecases.credentials import account_of, require_recent_authentication
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidCredentials, InvalidInput, NotFound

DEFAULT_NAME = "Passkey"


async def start_registration(deps: Deps, principal: Principal) -> Ceremony:
    """Options for `navigator.credentials.create()`; the member's existing passkeys are excluded, so one device
    is not registered twice."""
    require_recent_authentication(deps, principal)
    rp = relying_party(deps)
    challenge = auth_services(deps).random.bytes(CHALLENGE_BYTES)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        await ensure_second_factor_proven(uow, account, session_proved_one=principal.second_factor)
        existing = await uow.passkeys.list_for(account.id)
        if len(existing) >= MAX_PASSKEYS_PER_ACCOUNT:
            raise InvalidInput(f"at most {MAX_PASSKEYS_PER_ACCOUNT} passkeys per account: delete one first")
        stored = await new_challenge(
            deps,
            uow,
            ChallengeKind.PASSKEY_REGISTRATION,
            secret=challenge,
            account_id=account.id,
            session_id=principal.session_id,
        )
        await uow.commit()
    options = rp.registration_options(
        challenge=challenge,
        user_handle=account.id.bytes,
        user_name=account.email,
        exclude=[p.credential_id for p in existing],
    )
    return Ceremony(challenge_id=stored.id, options=options)


async def finish_registration(
    deps: Deps, principal: Principal, *, challenge_id: UUID, credential: Mapping[str, Any], name: str | None
) -> Passkey:
    require_recent_authentication(deps, principal)
    rp = relying_party(deps)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        await ensure_second_factor_proven(uow, account, session_proved_one=principal.second_factor)
        _, challenge = await redeem_challenge(
            deps,
            uow,
            challenge_id,
            ChallengeKind.PASSKEY_REGISTRATION,
            account_id=account.id,
            session_id=principal.session_id,
        )
        now = deps.clock.now()
        try:
            created = rp.verify_registration(credential=credential, challenge=challenge)
        except PasskeyRejected as exc:
            await uow.security_log.record(
                "passkey_registration_refused", at=now, account_id=account.id, detail=exc.reason[:200]
            )
            await uow.commit()
            raise InvalidInput("the passkey could not be registered: start again") from exc
        if len(await uow.passkeys.list_for(account.id)) >= MAX_PASSKEYS_PER_ACCOUNT:
            raise InvalidInput(f"at most {MAX_PASSKEYS_PER_ACCOUNT} passkeys per account: delete one first")
        try:
            passkey = await uow.passkeys.add(
                account_id=account.id,
                credential_id=created.credential_id,
                public_key=created.public_key,
                sign_count=created.sign_count,
                name=passkey_name(name, default=DEFAULT_NAME),
                aaguid=created.aaguid,
                backed_up=created.backed_up,
                now=now,
            )
        except ConflictError as exc:
            raise InvalidInput("this passkey is registered already") from exc
        await uow.security_log.record("passkey_registered", at=now, account_id=account.id, detail=str(passkey.id))
        await uow.commit()
    return passkey


async def list_passkeys(deps: Deps, principal: Principal) -> Sequence[Passkey]:
    async with deps.uow() as uow:
        return await uow.passkeys.list_for(principal.account_id)


async def rename_passkey(deps: Deps, principal: Principal, passkey_id: UUID, name: str) -> None:
    async with deps.uow() as uow:
        if not await uow.passkeys.rename(principal.account_id, passkey_id, passkey_name(name, default=DEFAULT_NAME)):
            raise NotFound()
        await uow.commit()


async def delete_passkey(deps: Deps, principal: Principal, passkey_id: UUID) -> None:
    """Needs a recent authentication; refused when it would leave no way in, or a staff account without a
    second factor. Someone else's passkey id is simply not found."""
    require_recent_authentication(deps, principal)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)  # locked: two deletions cannot both pass the check
        if not any(p.id == passkey_id for p in await uow.passkeys.list_for(account.id)):
            raise NotFound()
        await ensure_removable(uow, account, Method.PASSKEY)
        await uow.passkeys.delete(account.id, passkey_id)
        await uow.security_log.record(
            "passkey_deleted", at=deps.clock.now(), account_id=account.id, detail=str(passkey_id)
        )
        await uow.commit()


async def start_assertion(deps: Deps, *, client: Client | None = None) -> Ceremony:
    """A challenge for signing in with a passkey, or for a passkey as the second factor after a password. It is
    bound to nobody (the answer names its credential), so it says nothing about which accounts exist; starts are
    counted per address, as each stores a row."""
    rp = relying_party(deps)
    ip = client.ip if client else None
    limiter = auth_services(deps).limiter
    await throttle_check(limiter, (CEREMONY_START_BY_ADDRESS, ip))
    await count_failure(limiter, (CEREMONY_START_BY_ADDRESS, ip))
    challenge = auth_services(deps).random.bytes(CHALLENGE_BYTES)
    async with deps.uow() as uow:
        stored = await new_challenge(deps, uow, ChallengeKind.PASSKEY_ASSERTION, secret=challenge)
        await uow.commit()
    return Ceremony(
        challenge_id=stored.id,
        options=rp.assertion_options(challenge=challenge, allow=[], user_verification="preferred"),
    )


async def sign_in(
    deps: Deps, answer: PasskeyAnswer, *, client: Client | None = None, replaces_token: str | None = None
) -> NewSession:
    """Passwordless sign-in. The authenticator must have verified its user; the session counts as a
    second-factor session. Failures count against the client address like failed password sign-ins."""
    auth = auth_services(deps)
    client = client or Client()
    await throttle_check(auth.limiter, (SIGN_IN_BY_ADDRESS, client.ip))
    async with deps.uow() as uow:
        try:
            passkey = await verified_passkey(
                deps, uow, answer, ChallengeKind.PASSKEY_ASSERTION, require_user_verification=True
            )
            account = await uow.accounts.get(passkey.account_id, for_update=True)
            if account is None or not account.active or account.email_verified_at is None:
                raise InvalidCredentials()
        except InvalidCredentials:
            await uow.commit()  # the challenge stays used, the refusal logged
            await count_failure(auth.limiter, (SIGN_IN_BY_ADDRESS, client.ip))
            raise
        new = await signed_in(
            deps, uow, account, client, replaces_token=replaces_token, second_factor=True, how="passkey"
        )
        await uow.commit()
    return new


async def start_step_up(deps: Deps, principal: Principal) -> Ceremony:
    """A challenge bound to this session, offering only this account's passkeys."""
    rp = relying_party(deps)
    challenge = auth_services(deps).random.bytes(CHALLENGE_BYTES)
    async with deps.uow() as uow:
        passkeys = await uow.passkeys.list_for(principal.account_id)
        if not passkeys:
            raise InvalidInput("register a passkey first")
        stored = await new_challenge(
            deps,
            uow,
            ChallengeKind.PASSKEY_STEP_UP,
            secret=challenge,
            account_id=principal.account_id,
            session_id=principal.session_id,
        )
        await uow.commit()
    return Ceremony(
        challenge_id=stored.id,
        options=rp.assertion_options(
            challenge=challenge, allow=[p.credential_id for p in passkeys], user_verification="required"
        ),
    )


async def step_up(
    deps: Deps, principal: Principal, answer: PasskeyAnswer, *, client: Client | None = None
) -> NewSession:
    """Re-authenticate with a passkey: the session is replaced by a fresh second-factor session; others stay."""
    auth = auth_services(deps)
    await throttle_check(auth.limiter, (SIGN_IN, principal.email))
    now = deps.clock.now()
    async with deps.uow() as uow:
        try:
            await verified_passkey(
                deps,
                uow,
                answer,
                ChallengeKind.PASSKEY_STEP_UP,
                require_user_verification=True,
                account_id=principal.account_id,
                session_id=principal.session_id,
            )
        except InvalidCredentials:
            await uow.commit()
            await count_failure(auth.limiter, (SIGN_IN, principal.email))
            raise
        account = await account_of(uow, principal)
        await uow.sessions.revoke(principal.session_id, account_id=account.id, at=now)
        session = await open_session(deps, uow, account, client or Client(), second_factor=True)
        await uow.security_log.record("step_up_succeeded", at=now, account_id=account.id, detail="passkey")
        await uow.commit()
    return session
