"""Profiles and the security-event read side on SQL."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from domain.checkout import PostalAddress
from ports.outbound.profiles import Profile, SecurityEventView


def _profile(row: models.Profile) -> Profile:
    address = None
    if row.address_line1 is not None:
        address = PostalAddress(
            line1=row.address_line1,
            line2=row.address_line2,
            city=row.address_city,
            region=row.address_state,
            postal_code=row.address_zip,
            country=row.address_country,
        )
    return Profile(
        account_id=row.account_id,
        legal_first_name=row.legal_first_name,
        legal_last_name=row.legal_last_name,
        date_of_birth=row.date_of_birth,
        address=address,
        phone=row.phone,
        phone_verified_at=row.phone_verified_at,
        time_zone=row.time_zone,
        email_bounced=row.email_bounced,
        deletion_requested_at=row.deletion_requested_at,
        updated_at=row.updated_at,
    )


class SqlProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def deletion_requests(self, *, after: UUID | None, limit: int) -> Sequence[UUID]:
        stmt = (
            select(models.Profile.account_id)
            .join(models.Account, models.Account.id == models.Profile.account_id)
            .where(models.Profile.deletion_requested_at.is_not(None), models.Account.status != "erased")
            .order_by(models.Profile.account_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(models.Profile.account_id > after)
        return list(await self._session.scalars(stmt))

    async def get(self, account_id: UUID, *, for_update: bool = False) -> Profile | None:
        stmt = select(models.Profile).where(models.Profile.account_id == account_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self._session.scalars(stmt)).one_or_none()
        return _profile(row) if row else None

    async def save(self, profile: Profile, *, at: datetime) -> None:
        address = profile.address or PostalAddress()
        values = {
            "legal_first_name": profile.legal_first_name,
            "legal_last_name": profile.legal_last_name,
            "date_of_birth": profile.date_of_birth,
            "address_line1": address.line1,
            "address_line2": address.line2,
            "address_city": address.city,
            "address_state": address.region,
            "address_zip": address.postal_code,
            "address_country": address.country,
            "phone": profile.phone,
            "phone_verified_at": profile.phone_verified_at,
            "time_zone": profile.time_zone,
            "email_bounced": profile.email_bounced,
            "deletion_requested_at": profile.deletion_requested_at,
            "updated_at": at,
        }
        insert = dialect_insert(self._session)
        stmt = (
            insert(models.Profile)
            .values(account_id=profile.account_id, created_at=at, **values)
            .on_conflict_do_update(index_elements=["account_id"], set_=values)
        )
        await self._session.execute(stmt)
        self._session.expire_all()  # a later `get` in this unit of work must see the new values


class SqlSecurityEventReader:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_account(self, account_id: UUID, *, limit: int) -> Sequence[SecurityEventView]:
        rows = await self._session.scalars(
            select(models.SecurityEvent)
            .where(models.SecurityEvent.account_id == account_id)
            .order_by(models.SecurityEvent.at.desc(), models.SecurityEvent.id.desc())
            .limit(limit)
        )
        return [
            SecurityEventView(kind=r.kind, at=r.at, ip=r.ip, user_agent=r.user_agent, detail=r.detail) for r in rows
        ]

    async def last(self, account_id: UUID, kind: str) -> datetime | None:
        found: datetime | None = await self._session.scalar(
            select(models.SecurityEvent.at)
            .where(models.SecurityEvent.account_id == account_id, models.SecurityEvent.kind == kind)
            .order_by(models.SecurityEvent.at.desc())
            .limit(1)
        )
        return found
