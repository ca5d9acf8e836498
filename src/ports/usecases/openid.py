"""Sign-in with an OpenID Connect provider (Google): authorization code flow with PKCE (S256), `state` bound to
the browser that started it, the `nonce` checked, and accounts keyed by (issuer, subject) (RELIABILITY.md 21).

Linking is never silent: an unknown identity whose email belongs to an existing account is refused, and the
person is told to sign in to that account and link the provider from there. Linking needs a session (and a
recent sign-in, like every change to how one signs in). A provider sign-in into an account with TOTP still needs
the TOTP code before it becomes a session.

The flow's secrets (PKCE verifier, nonce, the state's random half) are sealed in the stored challenge; the browser
holds a binding token in a cookie whose digest the challenge carries, so a callback replayed in another browser,
or an attacker's callback pushed into a victim's browser (login CSRF), finds no matching challenge.
"""

import base64
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from domain.challenges import ChallengeKind
from domain.oidc import VerifiedIdentity, check_id_token_claims, pkce_challenge
from domain.sessions import Role
from domain.sign_in_methods import Method
from ports.outbound.accounts import Account
from ports.outbound.errors import ComponentUnavailable, ConflictError
from ports.outbound.oidc import LinkedIdentity, OidcRejected, OpenIdProvider
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import (
    CEREMONY_START_BY_ADDRESS,
    CODE_CHECK,
    SIGN_IN_BY_ADDRESS,
    Client,
    NewSession,
    Principal,
    auth_services,
    count_failure,
    second_factor_ok,
    signed_in,
    throttle_check,
    token_hash,
)
from ports.usecases.authenticators import (
    PasskeyAnswer,
    ensure_removable,
    ensure_second_factor_proven,
    new_challenge,
    redeem_challenge,
    verified_passkey,
)
from ports.usecases.credentials import account_of, require_recent_authentication
from ports.usecases.deps import Deps
from ports.usecases.errors import CeremonyExpired, InvalidCode, InvalidCredentials, NotFound, NotOffered, Refused

STATE_SECRET_BYTES = 24
VERIFIER_BYTES = 48  # 64 URL-safe characters: inside RFC 7636's 43–128
NONCE_BYTES = 24
BINDING_BYTES = 32


class Outcome(StrEnum):
    SIGNED_IN = "signed_in"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    LINKED = "linked"


class Refusal(StrEnum):
    """Why a provider sign-in did not complete, for the SPA to explain (never which account exists)."""

    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PROVIDER_REFUSED = "provider_refused"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 (a reason, not a secret)
    EMAIL_UNVERIFIED = "email_unverified"
    ACCOUNT_EXISTS = "account_exists"
    LINKED_ELSEWHERE = "linked_elsewhere"
    ACCOUNT_DISABLED = "account_disabled"


class SignInRefused(Refused):
    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    authorization_url: str
    binding_token: str
    """For the browser's cookie; the callback must bring it back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    outcome: Outcome
    session: NewSession | None = None
    pending_id: UUID | None = None
    """With SECOND_FACTOR_REQUIRED: the challenge the TOTP code completes (same browser, 5 minutes)."""


def provider_named(deps: Deps, name: str) -> OpenIdProvider:
    provider = auth_services(deps).openid_providers.get(name)
    if provider is None:
        raise NotOffered(f"sign-in with {name} is not enabled on this server")
    return provider


def binding_digest(binding_token: str | None) -> str | None:
    return token_hash(binding_token) if binding_token else None


def _state(challenge_id: UUID, secret: str) -> str:
    return f"{base64.urlsafe_b64encode(challenge_id.bytes).rstrip(b'=').decode()}.{secret}"


def _parse_state(state: str) -> tuple[UUID, str] | None:
    head, _, secret = state.partition(".")
    try:
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        return UUID(bytes=raw), secret
    except (ValueError, TypeError):
        return None


async def start(
    deps: Deps, provider_name: str, *, redirect_uri: str, principal: Principal | None, client: Client | None = None
) -> Started:
    """Begin a provider sign-in (signed out) or link (signed in, recently). Starts count per address."""
    provider = provider_named(deps, provider_name)
    auth = auth_services(deps)
    if principal is not None:
        require_recent_authentication(deps, principal)
        async with deps.uow() as uow:
            await ensure_second_factor_proven(
                uow, await account_of(uow, principal), session_proved_one=principal.second_factor
            )
    ip = client.ip if client else None
    await throttle_check(auth.limiter, (CEREMONY_START_BY_ADDRESS, ip))
    await count_failure(auth.limiter, (CEREMONY_START_BY_ADDRESS, ip))
    binding = auth.random.token(BINDING_BYTES)
    state_secret = auth.random.token(STATE_SECRET_BYTES)
    verifier = auth.random.token(VERIFIER_BYTES)
    nonce = auth.random.token(NONCE_BYTES)
    challenge_id = deps.new_id()
    payload = {"provider": provider.name, "state": state_secret, "verifier": verifier, "nonce": nonce}
    async with deps.uow() as uow:
        await new_challenge(
            deps,
            uow,
            ChallengeKind.OIDC_AUTHORIZATION,
            secret=auth.box.seal(json.dumps(payload).encode(), context=f"oidc:{challenge_id}"),
            challenge_id=challenge_id,
            account_id=principal.account_id if principal else None,
            session_id=principal.session_id if principal else None,
            binding_digest=binding_digest(binding),
        )
        await uow.commit()
    url = await provider.authorization_url(
        state=_state(challenge_id, state_secret),
        nonce=nonce,
        code_challenge=pkce_challenge(verifier),
        redirect_uri=redirect_uri,
    )
    return Started(authorization_url=url, binding_token=binding)


async def _redeem_authorization(
    deps: Deps, provider: OpenIdProvider, state: str, binding_token: str | None, principal: Principal | None
) -> tuple[dict[str, str], UUID | None]:
    """Use up the flow's challenge (committed before any call to the provider) and return its sealed payload and
    the account it links to (None for a sign-in). Anything that does not match is `EXPIRED`, never more precise."""
    parsed = _parse_state(state)
    if parsed is None:
        raise SignInRefused(Refusal.EXPIRED, "the sign-in link is not valid: start again")
    challenge_id, state_secret = parsed
    auth = auth_services(deps)
    async with deps.uow() as uow:
        found = await uow.challenges.get_for_update(challenge_id)
        linking = found is not None and found[0].account_id is not None
        try:
            _, sealed = await redeem_challenge(
                deps,
                uow,
                challenge_id,
                ChallengeKind.OIDC_AUTHORIZATION,
                account_id=principal.account_id if linking and principal else None,
                session_id=principal.session_id if linking and principal else None,
                binding_digest=binding_digest(binding_token),
            )
        except CeremonyExpired as exc:
            await uow.commit()
            raise SignInRefused(Refusal.EXPIRED, "the sign-in expired or was started elsewhere: start again") from exc
        await uow.commit()
    payload = json.loads(auth.box.open(sealed, context=f"oidc:{challenge_id}"))
    if payload.get("provider") != provider.name or not hmac.compare_digest(
        str(payload.get("state", "")).encode(), state_secret.encode()
    ):
        raise SignInRefused(Refusal.EXPIRED, "the sign-in link is not valid: start again")
    return payload, principal.account_id if linking and principal else None


async def finish(
    deps: Deps,
    provider_name: str,
    *,
    state: str,
    code: str | None,
    error: str | None,
    redirect_uri: str,
    binding_token: str | None,
    principal: Principal | None,
    client: Client | None = None,
    replaces_token: str | None = None,
) -> Finished:
    """The provider's redirect back: check the flow, exchange the code, check the ID token, then sign in, ask for
    the TOTP code, or link. Refusals are `SignInRefused` with a reason the SPA can explain."""
    provider = provider_named(deps, provider_name)
    payload, link_to = await _redeem_authorization(deps, provider, state, binding_token, principal)
    if error or not code:
        raise SignInRefused(Refusal.CANCELLED, "the sign-in was cancelled at the provider")
    try:
        claims = await provider.exchange_code(code=code, code_verifier=payload["verifier"], redirect_uri=redirect_uri)
    except OidcRejected as exc:
        await _log(deps, "oidc_refused", detail=f"{provider.name}: {exc.reason}"[:200])
        raise SignInRefused(Refusal.PROVIDER_REFUSED, "the provider did not confirm the sign-in") from exc
    except ComponentUnavailable as exc:  # the browser is on our callback: tell it, do not leave it on a 503
        raise SignInRefused(Refusal.PROVIDER_UNAVAILABLE, f"{provider.name} is unavailable: try again") from exc
    check = check_id_token_claims(
        claims,
        issuers=provider.issuers,
        canonical_issuer=provider.canonical_issuer,
        client_id=provider.client_id,
        nonce=payload["nonce"],
        now=deps.clock.now(),
    )
    if check.identity is None:
        await _log(deps, "oidc_refused", detail=f"{provider.name}: " + ",".join(check.problems))
        raise SignInRefused(Refusal.TOKEN_INVALID, "the provider's answer could not be verified")
    if link_to is not None:
        return await _link(deps, provider, check.identity, link_to)
    return await _sign_in(
        deps,
        provider,
        identity=check.identity,
        binding_token=binding_token,
        client=client or Client(),
        replaces_token=replaces_token,
    )


async def _log(deps: Deps, kind: str, *, detail: str, account_id: UUID | None = None) -> None:
    async with deps.uow() as uow:
        await uow.security_log.record(kind, at=deps.clock.now(), account_id=account_id, detail=detail)
        await uow.commit()


async def _link(deps: Deps, provider: OpenIdProvider, identity: VerifiedIdentity, account_id: UUID) -> Finished:
    async with deps.uow() as uow:
        account = await uow.accounts.get(account_id, for_update=True)
        if account is None or not account.active:
            raise SignInRefused(Refusal.ACCOUNT_DISABLED, "this account cannot be used")
        existing = await uow.identities.by_subject(identity.issuer, identity.subject)
        if existing is not None and existing.account_id != account.id:
            raise SignInRefused(Refusal.LINKED_ELSEWHERE, f"this {provider.name} account is linked to another account")
        if existing is None:
            try:
                await uow.identities.add(
                    account_id=account.id,
                    provider=provider.name,
                    issuer=identity.issuer,
                    subject=identity.subject,
                    email=identity.email,
                    now=deps.clock.now(),
                )
            except ConflictError as exc:
                raise SignInRefused(
                    Refusal.LINKED_ELSEWHERE, f"another {provider.name} account is linked already: unlink it first"
                ) from exc
            await uow.security_log.record(
                "identity_linked", at=deps.clock.now(), account_id=account.id, detail=provider.name
            )
        await uow.commit()
    return Finished(outcome=Outcome.LINKED)


async def _account_for(deps: Deps, uow: UnitOfWork, provider: OpenIdProvider, identity: VerifiedIdentity) -> Account:
    """The linked account, or a new member account for a new person. Never an existing account found by email:
    that person signs in to it first and links the provider there."""
    now = deps.clock.now()
    linked = await uow.identities.by_subject(identity.issuer, identity.subject)
    if linked is not None:
        account = await uow.accounts.get(linked.account_id, for_update=True)
        if account is None or not account.active:
            raise SignInRefused(Refusal.ACCOUNT_DISABLED, "this account cannot be used")
        await uow.identities.touch(linked.id, at=now)
        return account
    if identity.email is None or not identity.email_verified:
        raise SignInRefused(Refusal.EMAIL_UNVERIFIED, f"your {provider.name} account's email address is not verified")
    exists = SignInRefused(
        Refusal.ACCOUNT_EXISTS,
        f"an account with this email exists: sign in to it, then link {provider.name} in your security settings",
    )
    if await uow.accounts.by_email(identity.email) is not None:
        raise exists
    try:
        created = await uow.accounts.add(email=identity.email, password_hash=None, role=str(Role.MEMBER), now=now)
        await uow.identities.add(
            account_id=created.id,
            provider=provider.name,
            issuer=identity.issuer,
            subject=identity.subject,
            email=identity.email,
            now=now,
        )
    except ConflictError as exc:  # a concurrent sign-up or the same callback twice
        raise exists from exc
    account = replace(created, email_verified_at=now)  # the provider verified the address
    await uow.accounts.save(account)
    await uow.security_log.record("sign_up", at=now, account_id=account.id, detail=provider.name)
    return account


async def _sign_in(
    deps: Deps,
    provider: OpenIdProvider,
    *,
    identity: VerifiedIdentity,
    binding_token: str | None,
    client: Client,
    replaces_token: str | None,
) -> Finished:
    async with deps.uow() as uow:
        account = await _account_for(deps, uow, provider, identity)
        if account.totp_enabled_at is not None:
            pending = await new_challenge(
                deps,
                uow,
                ChallengeKind.OIDC_SECOND_FACTOR,
                secret=b"-",
                account_id=account.id,
                binding_digest=binding_digest(binding_token),
            )
            await uow.commit()
            return Finished(outcome=Outcome.SECOND_FACTOR_REQUIRED, pending_id=pending.id)
        session = await signed_in(
            deps, uow, account, client, replaces_token=replaces_token, second_factor=False, how=provider.name
        )
        await uow.commit()
    return Finished(outcome=Outcome.SIGNED_IN, session=session)


async def finish_second_factor(
    deps: Deps,
    *,
    pending_id: UUID,
    binding_token: str | None,
    code: str | None = None,
    passkey: PasskeyAnswer | None = None,
    client: Client | None = None,
    replaces_token: str | None = None,
) -> NewSession:
    """Complete a provider sign-in into a TOTP account with a TOTP or backup code, or a passkey. A wrong code
    leaves the pending sign-in usable until it expires, and counts like every code failure."""
    auth = auth_services(deps)
    client = client or Client()
    async with deps.uow() as uow:
        found = await uow.challenges.get_for_update(pending_id)
        account_id = found[0].account_id if found else None
        await redeem_challenge(
            deps,
            uow,
            pending_id,
            ChallengeKind.OIDC_SECOND_FACTOR,
            account_id=account_id,
            binding_digest=binding_digest(binding_token),
            consume=False,
        )
        account = await uow.accounts.get(account_id, for_update=True) if account_id else None
        if account is None or not account.active:
            raise CeremonyExpired()
        await throttle_check(auth.limiter, (CODE_CHECK, account.email), (SIGN_IN_BY_ADDRESS, client.ip))
        proven = False
        if passkey is not None:
            try:
                await verified_passkey(
                    deps,
                    uow,
                    passkey,
                    ChallengeKind.PASSKEY_ASSERTION,
                    require_user_verification=False,
                    account_id=account.id,
                )
                proven = True
            except (InvalidCredentials, CeremonyExpired):
                proven = False
        elif code:
            proven = await second_factor_ok(deps, uow, account, code)
        if not proven:
            await uow.security_log.record("code_rejected", at=deps.clock.now(), account_id=account.id, detail="oidc")
            await uow.commit()
            await count_failure(auth.limiter, (CODE_CHECK, account.email), (SIGN_IN_BY_ADDRESS, client.ip))
            raise InvalidCode()
        await uow.challenges.consume(pending_id, at=deps.clock.now())
        account = await uow.accounts.get(account.id, for_update=True) or account
        session = await signed_in(
            deps, uow, account, client, replaces_token=replaces_token, second_factor=True, how="oidc+totp"
        )
        await uow.commit()
    return session


async def list_identities(deps: Deps, principal: Principal) -> Sequence[LinkedIdentity]:
    async with deps.uow() as uow:
        return await uow.identities.list_for(principal.account_id)


async def unlink(deps: Deps, principal: Principal, identity_id: UUID) -> None:
    """Needs a recent sign-in; refused when no other way to sign in would remain. Someone else's identity id is
    simply not found."""
    require_recent_authentication(deps, principal)
    async with deps.uow() as uow:
        account = await account_of(uow, principal)
        if not any(i.id == identity_id for i in await uow.identities.list_for(account.id)):
            raise NotFound()
        await ensure_removable(uow, account, Method.IDENTITY)
        await uow.identities.delete(account.id, identity_id)
        await uow.security_log.record(
            "identity_unlinked", at=deps.clock.now(), account_id=account.id, detail=str(identity_id)
        )
        await uow.commit()
