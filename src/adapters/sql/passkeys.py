"""Passkeys, linked OpenID identities and ceremony challenges on SQL."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from domain.challenges import Challenge, ChallengeKind
from ports.outbound.errors import ConflictError
from ports.outbound.oidc import LinkedIdentity
from ports.outbound.passkeys import Passkey


def _passkey(row: models.PasskeyCredential) -> Passkey:
    return Passkey(
        id=row.id,
        account_id=row.account_id,
        credential_id=row.credential_id,
        public_key=row.public_key,
        sign_count=row.sign_count,
        name=row.name,
        aaguid=row.aaguid,
        backed_up=row.backed_up,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _identity(row: models.LinkedIdentity) -> LinkedIdentity:
    return LinkedIdentity(
        id=row.id,
        account_id=row.account_id,
        provider=row.provider,
        issuer=row.issuer,
        subject=row.subject,
        email=row.email,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


async def _insert(session: AsyncSession, row: object, conflict: str) -> None:
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise ConflictError(conflict) from exc


class SqlPasskeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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
        row = models.PasskeyCredential(
            account_id=account_id,
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            name=name,
            aaguid=aaguid,
            backed_up=backed_up,
            created_at=now,
        )
        await _insert(self._session, row, "this passkey is registered already")
        return _passkey(row)

    async def by_credential_id(self, credential_id: bytes) -> Passkey | None:
        row = await self._session.scalar(
            select(models.PasskeyCredential).where(models.PasskeyCredential.credential_id == credential_id)
        )
        return _passkey(row) if row else None

    async def list_for(self, account_id: UUID) -> Sequence[Passkey]:
        rows = await self._session.scalars(
            select(models.PasskeyCredential)
            .where(models.PasskeyCredential.account_id == account_id)
            .order_by(models.PasskeyCredential.created_at, models.PasskeyCredential.id)
        )
        return [_passkey(r) for r in rows]

    async def rename(self, account_id: UUID, passkey_id: UUID, name: str) -> bool:
        result = await self._session.execute(
            update(models.PasskeyCredential)
            .where(models.PasskeyCredential.id == passkey_id, models.PasskeyCredential.account_id == account_id)
            .values(name=name)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, account_id: UUID, passkey_id: UUID) -> bool:
        result = await self._session.execute(
            delete(models.PasskeyCredential).where(
                models.PasskeyCredential.id == passkey_id, models.PasskeyCredential.account_id == account_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def record_use(self, passkey_id: UUID, *, expected_count: int, new_count: int, at: datetime) -> bool:
        result = await self._session.execute(
            update(models.PasskeyCredential)
            .where(
                models.PasskeyCredential.id == passkey_id,
                models.PasskeyCredential.sign_count == expected_count,
            )
            .values(sign_count=new_count, last_used_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class SqlIdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, *, account_id: UUID, provider: str, issuer: str, subject: str, email: str | None, now: datetime
    ) -> LinkedIdentity:
        row = models.LinkedIdentity(
            account_id=account_id, provider=provider, issuer=issuer, subject=subject, email=email, created_at=now
        )
        await _insert(self._session, row, "this identity or provider is linked already")
        return _identity(row)

    async def by_subject(self, issuer: str, subject: str) -> LinkedIdentity | None:
        row = await self._session.scalar(
            select(models.LinkedIdentity).where(
                models.LinkedIdentity.issuer == issuer, models.LinkedIdentity.subject == subject
            )
        )
        return _identity(row) if row else None

    async def list_for(self, account_id: UUID) -> Sequence[LinkedIdentity]:
        rows = await self._session.scalars(
            select(models.LinkedIdentity)
            .where(models.LinkedIdentity.account_id == account_id)
            .order_by(models.LinkedIdentity.created_at, models.LinkedIdentity.id)
        )
        return [_identity(r) for r in rows]

    async def delete(self, account_id: UUID, identity_id: UUID) -> bool:
        result = await self._session.execute(
            delete(models.LinkedIdentity).where(
                models.LinkedIdentity.id == identity_id, models.LinkedIdentity.account_id == account_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def touch(self, identity_id: UUID, *, at: datetime) -> None:
        await self._session.execute(
            update(models.LinkedIdentity).where(models.LinkedIdentity.id == identity_id).values(last_used_at=at)
        )


class SqlChallengeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, challenge: Challenge, *, secret: bytes) -> None:
        self._session.add(
            models.AuthChallenge(
                id=challenge.id,
                kind=str(challenge.kind),
                secret=secret,
                account_id=challenge.account_id,
                session_id=challenge.session_id,
                binding_digest=challenge.binding_digest,
                issued_at=challenge.issued_at,
                expires_at=challenge.expires_at,
                consumed_at=challenge.consumed_at,
            )
        )
        await self._session.flush()

    async def get_for_update(self, challenge_id: UUID) -> tuple[Challenge, bytes] | None:
        row = await self._session.scalar(
            select(models.AuthChallenge).where(models.AuthChallenge.id == challenge_id).with_for_update()
        )
        if row is None:
            return None
        challenge = Challenge(
            id=row.id,
            kind=ChallengeKind(row.kind),
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            account_id=row.account_id,
            session_id=row.session_id,
            binding_digest=row.binding_digest,
            consumed_at=row.consumed_at,
        )
        return challenge, row.secret

    async def consume(self, challenge_id: UUID, *, at: datetime) -> bool:
        result = await self._session.execute(
            update(models.AuthChallenge)
            .where(models.AuthChallenge.id == challenge_id, models.AuthChallenge.consumed_at.is_(None))
            .values(consumed_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def purge(self, *, expired_before: datetime) -> int:
        result = await self._session.execute(
            delete(models.AuthChallenge).where(models.AuthChallenge.expires_at < expired_before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
