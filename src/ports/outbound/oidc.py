"""Sign-in with an OpenID Connect provider (Google): the provider, and the identities linked to accounts."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from ports.outbound.errors import PortError


class OidcRejected(PortError):
    """The provider refused the code exchange, or its ID token's signature or form is not acceptable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OpenIdProvider(Protocol):
    """One configured provider. Claims come back only from a token whose signature checked out against the
    provider's published keys; whether the claims are acceptable is `domain.oidc`'s call."""

    @property
    def name(self) -> str: ...

    @property
    def client_id(self) -> str: ...

    @property
    def issuers(self) -> frozenset[str]: ...

    @property
    def canonical_issuer(self) -> str: ...

    async def authorization_url(self, *, state: str, nonce: str, code_challenge: str, redirect_uri: str) -> str: ...

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> Mapping[str, object]:
        """Redeem the code (PKCE verifier attached) and return the verified ID token's claims. Raises
        `OidcRejected` for the provider's refusals and bad tokens, `ComponentUnavailable` when unreachable."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkedIdentity:
    id: UUID
    account_id: UUID
    provider: str
    issuer: str
    subject: str
    email: str | None
    created_at: datetime
    last_used_at: datetime | None


class IdentityRepository(Protocol):
    async def add(
        self, *, account_id: UUID, provider: str, issuer: str, subject: str, email: str | None, now: datetime
    ) -> LinkedIdentity:
        """Raise `ConflictError` if (issuer, subject) is linked already, or the account has this provider."""
        ...

    async def by_subject(self, issuer: str, subject: str) -> LinkedIdentity | None: ...

    async def list_for(self, account_id: UUID) -> Sequence[LinkedIdentity]: ...

    async def delete(self, account_id: UUID, identity_id: UUID) -> bool:
        """False when the identity is not this account's."""
        ...

    async def touch(self, identity_id: UUID, *, at: datetime) -> None: ...
