"""Accounts, server-side sessions and one-time codes as the use cases see them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.one_time_codes import IssuedCode


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    id: UUID
    email: str
    email_verified_at: datetime | None
    password_hash: str | None
    role: str
    status: str
    totp_secret_sealed: bytes | None
    totp_enabled_at: datetime | None
    totp_last_step: int | None
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"


class AccountRepository(Protocol):
    async def add(self, *, email: str, password_hash: str | None, role: str, now: datetime) -> Account:
        """Raise `ConflictError` if the email is taken."""
        ...

    async def get(self, account_id: UUID, *, for_update: bool = False) -> Account | None: ...

    async def by_email(self, email: str) -> Account | None: ...

    async def save(self, account: Account) -> None:
        """Persist the mutable fields of `account` (everything but id, email and created_at)."""
        ...

    async def has_live_membership(self, account_id: UUID) -> bool: ...

    async def erase(self, account_id: UUID, *, placeholder_email: str) -> None:
        """Replace the email with `placeholder_email`, drop every credential, and mark the account `erased`."""
        ...

    async def staff_ids(self, *, limit: int) -> Sequence[UUID]:
        """Active staff accounts (admin, finance): who a staff alert goes to."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSession:
    id: UUID
    account_id: UUID
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    authenticated_at: datetime
    second_factor_at: datetime | None
    """Set only when this session was established (or re-authenticated) with a second factor."""
    revoked_at: datetime | None
    user_agent: str | None
    ip: str | None


class SessionRepository(Protocol):
    async def add(
        self,
        *,
        account_id: UUID,
        token_hash: str,
        now: datetime,
        user_agent: str | None,
        ip: str | None,
        second_factor: bool = False,
    ) -> AuthSession: ...

    async def by_token_hash(self, token_hash: str) -> tuple[AuthSession, Account] | None:
        """The live (not revoked) session with this token hash and its account, in one round trip."""
        ...

    async def list_live(self, account_id: UUID) -> Sequence[AuthSession]: ...

    async def touch(self, session_id: UUID, *, at: datetime) -> None: ...

    async def revoke(self, session_id: UUID, *, account_id: UUID, at: datetime) -> bool:
        """Revoke one of `account_id`'s sessions; False if it is not theirs or already revoked."""
        ...

    async def revoke_all(self, account_id: UUID, *, at: datetime, keep: UUID | None = None) -> int: ...


class CodeRepository(Protocol):
    """One current code per (account, purpose); `IssuedCode.subject` is the account id as text."""

    async def get(self, account_id: UUID, purpose: str, *, for_update: bool = False) -> IssuedCode | None:
        """`for_update` locks the row, so concurrent checks of one code are counted one after another."""
        ...

    async def put(self, account_id: UUID, code: IssuedCode) -> None:
        """Insert or replace the account's code for that purpose (a resend invalidates the old code)."""
        ...


class BackupCodeRepository(Protocol):
    """Second-factor backup codes, stored as keyed digests, each usable once."""

    async def unused(self, account_id: UUID) -> list[str]: ...

    async def mark_used(self, account_id: UUID, digest: str, *, at: datetime) -> bool:
        """Atomically use one code; False if another request used it first."""
        ...

    async def replace_all(self, account_id: UUID, digests: list[str], *, at: datetime) -> None: ...


class SecurityLog(Protocol):
    """Sign-in successes and failures and other security events: a separate, unchained log."""

    async def record(
        self,
        kind: str,
        *,
        at: datetime,
        account_id: UUID | None = None,
        email: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        detail: str | None = None,
    ) -> None: ...

    async def forget_client_data(self, account_id: UUID) -> None:
        """Drop the addresses, user agents and email hashes recorded for the account (its owner is erased); the
        events themselves stay, as what happened and when."""
        ...
