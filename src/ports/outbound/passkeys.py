"""Passkeys (WebAuthn credentials): where they are kept, and the relying party that checks ceremonies.

The relying party is a port because the WebAuthn library is a third-party dependency; the use cases hand it the
challenge they stored and the browser's JSON, and get back plain values or a `PasskeyRejected`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from ports.outbound.errors import PortError


@dataclass(frozen=True, slots=True, kw_only=True)
class Passkey:
    id: UUID
    account_id: UUID
    credential_id: bytes
    public_key: bytes
    """The COSE key as the authenticator sent it at registration."""
    sign_count: int
    name: str
    aaguid: str
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None


class PasskeyRepository(Protocol):
    async def add(
        self,
        *,
        account_id: UUID,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        name: str,
        aaguid: str,
        backed_up: bool,
        now: datetime,
    ) -> Passkey:
        """Raise `ConflictError` if the credential id is registered already (to anyone)."""
        ...

    async def by_credential_id(self, credential_id: bytes) -> Passkey | None: ...

    async def list_for(self, account_id: UUID) -> Sequence[Passkey]: ...

    async def rename(self, account_id: UUID, passkey_id: UUID, name: str) -> bool:
        """False when the passkey is not this account's."""
        ...

    async def delete(self, account_id: UUID, passkey_id: UUID) -> bool:
        """False when the passkey is not this account's."""
        ...

    async def record_use(self, passkey_id: UUID, *, expected_count: int, new_count: int, at: datetime) -> bool:
        """Compare-and-set the counter: False when another assertion moved it first (a replay or a clone)."""
        ...


class PasskeyRejected(PortError):
    """The browser's answer failed a WebAuthn check (origin, RP id, challenge, signature, flags, counter)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedAssertion:
    sign_count: int
    user_verified: bool


class WebAuthnRelyingParty(Protocol):
    """Options out, verified ceremonies in, for one RP id and its allowed origins (from settings)."""

    def registration_options(
        self, *, challenge: bytes, user_handle: bytes, user_name: str, exclude: Sequence[bytes]
    ) -> dict[str, Any]:
        """PublicKeyCredentialCreationOptionsJSON for `navigator.credentials.create()`."""
        ...

    def verify_registration(self, *, credential: Mapping[str, Any], challenge: bytes) -> NewCredential: ...

    def assertion_options(self, *, challenge: bytes, allow: Sequence[bytes], user_verification: str) -> dict[str, Any]:
        """PublicKeyCredentialRequestOptionsJSON; an empty `allow` asks for a discoverable credential."""
        ...

    def assertion_credential_id(self, credential: Mapping[str, Any]) -> bytes:
        """Which credential answered (to look it up); `PasskeyRejected` if the JSON is malformed."""
        ...

    def verify_assertion(
        self,
        *,
        credential: Mapping[str, Any],
        challenge: bytes,
        public_key: bytes,
        sign_count: int,
        require_user_verification: bool,
    ) -> VerifiedAssertion: ...
