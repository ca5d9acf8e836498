"""What proves who someone is beyond a password: a passkey's answer to a stored challenge, and the ways of
signing in an account keeps. Shared by password sign-in (a passkey as the second factor), passkey sign-in and
step-up, and the removal of passkeys, TOTP and linked identities.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.challenges import Challenge, ChallengeKind, challenge_expiry, redeem
from domain.passkeys import sign_count_acceptable
from domain.sessions import Role
from domain.sign_in_methods import Method, RemovalRefusal, SignInMethods, removal_refusal
from ports.outbound.accounts import Account
from ports.outbound.passkeys import Passkey, PasskeyRejected, WebAuthnRelyingParty
from ports.outbound.tasks import Payload
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.deps import Deps
from ports.usecases.errors import CeremonyExpired, Forbidden, InvalidCredentials, NotOffered, StepUpRequired

CHALLENGE_BYTES = 32
PURGE_TASK = "auth.purge_challenges"
PURGE_GRACE = timedelta(days=1)
"""Expired challenges are kept a day: long enough to explain a refused sign-in from the security log's times."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PasskeyAnswer:
    """The browser's `navigator.credentials.get()` result, and which stored challenge it answers."""

    challenge_id: UUID
    credential: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ceremony:
    """A stored challenge's id and the options the browser needs to answer it."""

    challenge_id: UUID
    options: dict[str, Any]


def relying_party(deps: Deps) -> WebAuthnRelyingParty:
    if deps.auth is None or deps.auth.relying_party is None:
        raise NotOffered("passkeys are not enabled on this server")
    return deps.auth.relying_party


async def new_challenge(
    deps: Deps,
    uow: UnitOfWork,
    kind: ChallengeKind,
    *,
    secret: bytes,
    account_id: UUID | None = None,
    session_id: UUID | None = None,
    binding_digest: str | None = None,
    challenge_id: UUID | None = None,
) -> Challenge:
    """Store a challenge of `kind`, living as long as the domain allows that kind."""
    now = deps.clock.now()
    challenge = Challenge(
        id=challenge_id or deps.new_id(),
        kind=kind,
        issued_at=now,
        expires_at=challenge_expiry(kind, now),
        account_id=account_id,
        session_id=session_id,
        binding_digest=binding_digest,
    )
    await uow.challenges.add(challenge, secret=secret)
    return challenge


async def redeem_challenge(
    deps: Deps,
    uow: UnitOfWork,
    challenge_id: UUID,
    kind: ChallengeKind,
    *,
    account_id: UUID | None = None,
    session_id: UUID | None = None,
    binding_digest: str | None = None,
    consume: bool = True,
) -> tuple[Challenge, bytes]:
    """Lock, check and (by default) use up a challenge; `CeremonyExpired` when it cannot be redeemed. The
    caller commits: a consumed challenge stays consumed even when the answer then fails its checks."""
    found = await uow.challenges.get_for_update(challenge_id)
    now = deps.clock.now()
    verdict = redeem(
        found[0] if found else None,
        kind=kind,
        now=now,
        account_id=account_id,
        session_id=session_id,
        binding_digest=binding_digest,
    )
    if not verdict.ok or found is None:
        await uow.security_log.record("challenge_refused", at=now, account_id=account_id, detail=str(verdict.reason))
        raise CeremonyExpired()
    if consume and not await uow.challenges.consume(challenge_id, at=now):
        raise CeremonyExpired()  # a concurrent redemption won (where the store cannot lock the row first)
    return found


async def verified_passkey(
    deps: Deps,
    uow: UnitOfWork,
    answer: PasskeyAnswer,
    kind: ChallengeKind,
    *,
    require_user_verification: bool,
    account_id: UUID | None = None,
    session_id: UUID | None = None,
) -> Passkey:
    """The passkey that answered, once the answer checks out: its challenge redeemed (used up whatever follows),
    RP id and origin pinned, signature valid, counter moved forward (compare-and-set, so a replay racing the
    original loses). Assertions started signed out are bound to nobody: `account_id`, when given, must own the
    passkey. Any failure is `InvalidCredentials`; the reason goes to the security log only."""
    rp = relying_party(deps)
    bound_account = account_id if kind is not ChallengeKind.PASSKEY_ASSERTION else None
    _, challenge = await redeem_challenge(
        deps, uow, answer.challenge_id, kind, account_id=bound_account, session_id=session_id
    )
    now = deps.clock.now()
    reason: str | None = None
    passkey: Passkey | None = None
    try:
        passkey = await uow.passkeys.by_credential_id(rp.assertion_credential_id(answer.credential))
        if passkey is None or (account_id is not None and passkey.account_id != account_id):
            reason = "unknown passkey"
        else:
            verified = rp.verify_assertion(
                credential=answer.credential,
                challenge=challenge,
                public_key=passkey.public_key,
                sign_count=passkey.sign_count,
                require_user_verification=require_user_verification,
            )
            if not sign_count_acceptable(passkey.sign_count, verified.sign_count) or not (
                await uow.passkeys.record_use(
                    passkey.id, expected_count=passkey.sign_count, new_count=verified.sign_count, at=now
                )
            ):
                reason = "signature counter did not advance"
    except PasskeyRejected as exc:
        reason = exc.reason
    if reason is not None or passkey is None:
        await uow.security_log.record(
            "passkey_refused",
            at=now,
            account_id=passkey.account_id if passkey else account_id,
            detail=(reason or "unknown passkey")[:200],
        )
        raise InvalidCredentials()
    return passkey


async def methods_of(uow: UnitOfWork, account: Account) -> SignInMethods:
    return SignInMethods(
        password=account.password_hash is not None,
        passkeys=len(await uow.passkeys.list_for(account.id)),
        identities=len(await uow.identities.list_for(account.id)),
        totp=account.totp_enabled_at is not None,
    )


async def ensure_second_factor_proven(uow: UnitOfWork, account: Account, *, session_proved_one: bool) -> None:
    """Adding a way in (a passkey, TOTP, a linked provider) to an account that already has a second factor needs a
    session that proved one: otherwise a password alone (or a provider account alone) could mint itself a second
    factor and reach what the existing one guards, staff routes included."""
    if (await methods_of(uow, account)).second_factors > 0 and not session_proved_one:
        raise StepUpRequired("confirm with your second factor (a TOTP code or a passkey) first")


async def ensure_removable(uow: UnitOfWork, account: Account, removing: Method) -> None:
    """Refuse a removal that would lock the account out or leave a staff account without a second factor."""
    refusal = removal_refusal(await methods_of(uow, account), removing, role=Role(account.role))
    if refusal is not None:
        raise Forbidden(
            "keep another way to sign in first"
            if refusal is RemovalRefusal.LAST_SIGN_IN_METHOD
            else "staff accounts must keep a second factor (TOTP or a passkey)"
        )


async def purge_challenges(deps: Deps, payload: Payload) -> int:
    """Delete challenges that expired over a day ago, used or not (hourly): sign-in starts cannot grow a table."""
    del payload
    async with deps.uow() as uow:
        purged = await uow.challenges.purge(expired_before=deps.clock.now() - PURGE_GRACE)
        await uow.commit()
    return purged
