"""Accounts, sessions, one-time codes and the security log on SQL."""

import hashlib
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from domain.one_time_codes import CodePurpose, IssuedCode
from ports.outbound.accounts import Account, AuthSession
from ports.outbound.errors import ConflictError


def _account(row: models.Account) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        email_verified_at=row.email_verified_at,
        password_hash=row.password_hash,
        role=row.role,
        status=row.status,
        totp_secret_sealed=row.totp_secret_sealed,
        totp_enabled_at=row.totp_enabled_at,
        totp_last_step=row.totp_last_step,
        created_at=row.created_at,
    )


def _session(row: models.AuthSession) -> AuthSession:
    return AuthSession(
        id=row.id,
        account_id=row.account_id,
        token_hash=row.token_hash,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        authenticated_at=row.authenticated_at,
        second_factor_at=row.second_factor_at,
        revoked_at=row.revoked_at,
        user_agent=row.user_agent,
        ip=row.ip,
    )


class SqlAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, *, email: str, password_hash: str | None, role: str, now: datetime) -> Account:
        row = models.Account(
            email=email, password_hash=password_hash, role=role, status="active", created_at=now, updated_at=now
        )
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError as exc:
            raise ConflictError("email already registered") from exc
        return _account(row)

    async def get(self, account_id: UUID, *, for_update: bool = False) -> Account | None:
        stmt = select(models.Account).where(models.Account.id == account_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._session.scalars(stmt)).one_or_none()
        return _account(row) if row else None

    async def by_email(self, email: str) -> Account | None:
        row = await self._session.scalar(select(models.Account).where(models.Account.email == email))
        return _account(row) if row else None

    async def save(self, account: Account) -> None:
        await self._session.execute(
            update(models.Account)
            .where(models.Account.id == account.id)
            .values(
                email_verified_at=account.email_verified_at,
                password_hash=account.password_hash,
                role=account.role,
                status=account.status,
                totp_secret_sealed=account.totp_secret_sealed,
                totp_enabled_at=account.totp_enabled_at,
                totp_last_step=account.totp_last_step,
            )
        )

    async def erase(self, account_id: UUID, *, placeholder_email: str) -> None:
        await self._session.execute(
            update(models.Account)
            .where(models.Account.id == account_id)
            .values(
                email=placeholder_email,
                password_hash=None,
                totp_secret_sealed=None,
                totp_enabled_at=None,
                totp_last_step=None,
                status="erased",
            )
        )

    async def staff_ids(self, *, limit: int) -> Sequence[UUID]:
        rows = await self._session.scalars(
            select(models.Account.id)
            .where(models.Account.role.in_(("admin", "finance")), models.Account.status == "active")
            .order_by(models.Account.id)
            .limit(limit)
        )
        return list(rows)

    async def has_live_membership(self, account_id: UUID) -> bool:
        found = await self._session.scalar(
            select(models.Membership.id)
            .where(
                models.Membership.account_id == account_id,
                models.Membership.status.in_(models.LIVE_MEMBERSHIP_STATUSES),
            )
            .limit(1)
        )
        return found is not None


class SqlSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        account_id: UUID,
        token_hash: str,
        now: datetime,
        user_agent: str | None,
        ip: str | None,
        second_factor: bool = False,
    ) -> AuthSession:
        row = models.AuthSession(
            account_id=account_id,
            token_hash=token_hash,
            created_at=now,
            last_seen_at=now,
            authenticated_at=now,
            second_factor_at=now if second_factor else None,
            user_agent=(user_agent or "")[:255] or None,
            ip=ip,
        )
        self._session.add(row)
        await self._session.flush()
        return _session(row)

    async def by_token_hash(self, token_hash: str) -> tuple[AuthSession, Account] | None:
        row = (
            await self._session.execute(
                select(models.AuthSession, models.Account)
                .join(models.Account, models.Account.id == models.AuthSession.account_id)
                .where(models.AuthSession.token_hash == token_hash, models.AuthSession.revoked_at.is_(None))
            )
        ).one_or_none()
        return (_session(row[0]), _account(row[1])) if row else None

    async def list_live(self, account_id: UUID) -> Sequence[AuthSession]:
        rows = await self._session.scalars(
            select(models.AuthSession)
            .where(models.AuthSession.account_id == account_id, models.AuthSession.revoked_at.is_(None))
            .order_by(models.AuthSession.last_seen_at.desc())
        )
        return [_session(r) for r in rows]

    async def touch(self, session_id: UUID, *, at: datetime) -> None:
        await self._session.execute(
            update(models.AuthSession).where(models.AuthSession.id == session_id).values(last_seen_at=at)
        )

    async def revoke(self, session_id: UUID, *, account_id: UUID, at: datetime) -> bool:
        result = await self._session.execute(
            update(models.AuthSession)
            .where(
                models.AuthSession.id == session_id,
                models.AuthSession.account_id == account_id,
                models.AuthSession.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_all(self, account_id: UUID, *, at: datetime, keep: UUID | None = None) -> int:
        stmt = update(models.AuthSession).where(
            models.AuthSession.account_id == account_id, models.AuthSession.revoked_at.is_(None)
        )
        if keep is not None:
            stmt = stmt.where(models.AuthSession.id != keep)
        result = await self._session.execute(stmt.values(revoked_at=at))
        return int(result.rowcount)  # type: ignore[attr-defined]


class SqlCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, account_id: UUID, purpose: str, *, for_update: bool = False) -> IssuedCode | None:
        stmt = select(models.OneTimeCode).where(
            models.OneTimeCode.account_id == account_id, models.OneTimeCode.purpose == purpose
        )
        row = await self._session.scalar(stmt.with_for_update() if for_update else stmt)
        if row is None:
            return None
        return IssuedCode(
            purpose=CodePurpose(row.purpose),
            subject=str(row.account_id),
            digest=row.digest,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            attempts=row.attempts,
            consumed_at=row.consumed_at,
        )

    async def put(self, account_id: UUID, code: IssuedCode) -> None:
        row = await self._session.scalar(
            select(models.OneTimeCode)
            .where(models.OneTimeCode.account_id == account_id, models.OneTimeCode.purpose == str(code.purpose))
            .with_for_update()
        )
        if row is None:
            row = models.OneTimeCode(account_id=account_id, purpose=str(code.purpose))
            self._session.add(row)
        row.digest = code.digest
        row.issued_at = code.issued_at
        row.expires_at = code.expires_at
        row.attempts = code.attempts
        row.consumed_at = code.consumed_at
        await self._session.flush()


class SqlBackupCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def unused(self, account_id: UUID) -> list[str]:
        rows = await self._session.scalars(
            select(models.BackupCode.digest).where(
                models.BackupCode.account_id == account_id, models.BackupCode.used_at.is_(None)
            )
        )
        return list(rows)

    async def mark_used(self, account_id: UUID, digest: str, *, at: datetime) -> bool:
        result = await self._session.execute(
            update(models.BackupCode)
            .where(
                models.BackupCode.account_id == account_id,
                models.BackupCode.digest == digest,
                models.BackupCode.used_at.is_(None),
            )
            .values(used_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def replace_all(self, account_id: UUID, digests: list[str], *, at: datetime) -> None:
        await self._session.execute(delete(models.BackupCode).where(models.BackupCode.account_id == account_id))
        self._session.add_all(models.BackupCode(account_id=account_id, digest=d, created_at=at) for d in digests)
        await self._session.flush()


class SqlSecurityLog:
    """Emails are stored only as a keyed hash, so the log can be kept longer than personal data."""

    def __init__(self, session: AsyncSession, *, email_hash_key: bytes) -> None:
        self._session = session
        self._key = email_hash_key

    def _hash(self, email: str) -> str:
        return hashlib.blake2b(email.encode(), key=self._key[:64], digest_size=32).hexdigest()

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
    ) -> None:
        self._session.add(
            models.SecurityEvent(
                kind=kind,
                at=at,
                account_id=account_id,
                email_hash=self._hash(email) if email else None,
                ip=ip,
                user_agent=(user_agent or "")[:255] or None,
                detail=detail,
            )
        )
        await self._session.flush()

    async def forget_client_data(self, account_id: UUID) -> None:
        await self._session.execute(
            update(models.SecurityEvent)
            .where(models.SecurityEvent.account_id == account_id)
            .values(ip=None, user_agent=None, email_hash=None)
        )
        await self._session.execute(
            update(models.AuthSession)
            .where(models.AuthSession.account_id == account_id)
            .values(ip=None, user_agent=None)
        )
