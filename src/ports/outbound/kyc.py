"""The identity-verification provider as the use cases see it (DOMAIN.md §10): start a hosted verification for
a person, read an attempt's current facts, and read what a stored provider webhook is about.

Personal data crosses this port only in memory: the use case turns name, date of birth and ID number into the
keyed identity fingerprint and keeps only what the domain needs (status, attempt id, times, date of birth, country,
failure reasons, fingerprint). The fields that must never be stored or logged are excluded from `repr`.

Errors: unreachable provider, timeouts, 429 and 5xx raise `ComponentUnavailable("kyc", ...)` (retryable); a
request the provider refuses raises `KycProviderError`.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from ports.outbound.errors import PortError


class KycProviderError(PortError):
    """The provider refused the request (4xx); retrying the same request will not help."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(f"kyc: {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationSession:
    attempt_id: str
    """The provider's id of this verification attempt (Plaid: `idv_…`)."""
    url: str | None
    """The hosted page to send the member to (Plaid: `shareable_url`)."""
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationFacts:
    """One attempt as the provider reports it now."""

    attempt_id: str
    client_user_id: str
    status: str
    """active | success | failed | expired | canceled | pending_review"""
    status_at: datetime
    """The provider's time of this status (completion, else creation)."""
    country: str | None = None
    failure_reasons: tuple[str, ...] = ()
    """Which checks failed (step names), never the data that failed them."""
    date_of_birth: date | None = field(default=None, repr=False)
    given_name: str | None = field(default=None, repr=False)
    """In memory only, for the fingerprint."""
    family_name: str | None = field(default=None, repr=False)
    id_number: str | None = field(default=None, repr=False)
    """In memory only, for the fingerprint: never stored or logged."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KycEventRef:
    """What a stored provider webhook is about; the job re-reads the attempt itself."""

    attempt_id: str
    type: str


class IdentityVerifier(Protocol):
    async def start(self, *, client_user_id: str, email: str | None, retry: bool) -> VerificationSession:
        """Create (or, with `retry`, restart for the same user) a hosted verification. Plaid's create is itself
        idempotent per user and template, so a repeated call returns the session in progress."""
        ...

    async def get(self, attempt_id: str) -> VerificationFacts: ...


class KycEventDecoder(Protocol):
    def decode(self, body: str) -> KycEventRef:
        """Raise ValueError for a body that is not an identity-verification webhook."""
        ...
