"""`KycRepository` on SQL. Only what the domain needs is stored: no names, documents or ID numbers."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from adapters.sql.payouts import counts_as_win
from domain.kyc import KycRecord, KycStatus, ReviewReason
from domain.termination import END_REASON_PREFIX
from ports.outbound.kyc_records import StaffVote, StoredKyc

R = models.KycRecord
_LIVE_OR_WON = ("PENDING", "ACTIVE", "PAST_DUE", "WON", "PAID", "ENDED")
"""A person counts against a duplicate identity while live or once a winner (ENDED follows only a win)."""


def _stored(row: R) -> StoredKyc:
    return StoredKyc(
        account_id=row.account_id,
        record=KycRecord(
            status=KycStatus(row.status),
            attempt_id=row.attempt_id,
            attempt_started_at=row.attempt_started_at,
            status_at=row.status_at,
            verified_at=row.verified_at,
            staff_decided_at=row.staff_decided_at,
            review_reasons=tuple(ReviewReason(r) for r in row.review_reasons),
            date_of_birth=row.date_of_birth,
            country=row.country,
            fingerprint=row.fingerprint,
            name_digest=row.name_digest,
        ),
        failure_reasons=tuple(row.failure_reasons),
        verification_url=row.verification_url,
        flagged_at=row.flagged_at,
    )


ERASED = "(erased)"
"""What a staff vote's reason becomes when the member's personal data is erased."""


class SqlKycRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, account_id: UUID, *, for_update: bool = False) -> StoredKyc | None:
        stmt = select(R).where(R.account_id == account_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        if row is not None and for_update:
            await self._session.refresh(row)
        return _stored(row) if row is not None else None

    async def get_or_create(self, account_id: UUID, *, at: datetime) -> StoredKyc:
        await self._session.execute(
            dialect_insert(self._session)(R)
            .values(account_id=account_id, status="not_started", review_reasons=[], failure_reasons=[], updated_at=at)
            .on_conflict_do_nothing(index_elements=["account_id"])
        )
        stored = await self.get(account_id, for_update=True)
        assert stored is not None
        return stored

    async def by_attempt(self, attempt_id: str, *, for_update: bool = False) -> StoredKyc | None:
        owner = await self._session.scalar(
            select(models.KycAttempt.account_id).where(models.KycAttempt.provider_attempt_id == attempt_id)
        )
        if owner is None:
            owner = await self._session.scalar(select(R.account_id).where(R.attempt_id == attempt_id))
        return await self.get(owner, for_update=for_update) if owner is not None else None

    async def save(self, stored: StoredKyc, *, at: datetime) -> None:
        record = stored.record
        await self._session.execute(
            update(R)
            .where(R.account_id == stored.account_id)
            .values(
                status=record.status.value,
                attempt_id=record.attempt_id,
                attempt_started_at=record.attempt_started_at,
                status_at=record.status_at,
                verified_at=record.verified_at,
                staff_decided_at=record.staff_decided_at,
                review_reasons=[r.value for r in record.review_reasons],
                failure_reasons=list(stored.failure_reasons),
                date_of_birth=record.date_of_birth,
                country=record.country,
                fingerprint=record.fingerprint,
                name_digest=record.name_digest,
                verification_url=stored.verification_url,
                flagged_at=stored.flagged_at,
                updated_at=at,
            )
        )

    async def add_attempt(self, *, account_id: UUID, provider_attempt_id: str, started_at: datetime) -> bool:
        stmt = (
            dialect_insert(self._session)(models.KycAttempt)
            .values(id=uuid7(), account_id=account_id, provider_attempt_id=provider_attempt_id, started_at=started_at)
            .on_conflict_do_nothing(index_elements=["provider_attempt_id"])
            .returning(models.KycAttempt.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None

    async def attempt_starts(self, account_id: UUID, *, since: datetime) -> Sequence[datetime]:
        rows = await self._session.scalars(
            select(models.KycAttempt.started_at).where(
                models.KycAttempt.account_id == account_id, models.KycAttempt.started_at > since
            )
        )
        return list(rows)

    async def fingerprint_taken(self, fingerprint: str, *, other_than: UUID) -> bool:
        M = models.Membership
        stmt = select(
            exists().where(
                R.fingerprint == fingerprint,
                R.account_id != other_than,
                R.status.in_(("verified", "needs_review", "pending")),
                exists().where(M.account_id == R.account_id, M.status.in_(_LIVE_OR_WON)),
            )
        )
        return bool(await self._session.scalar(stmt))

    async def identity_terminated(self, fingerprint: str, *, other_than: UUID) -> bool:
        M = models.Membership
        terminated = select(
            exists().where(
                R.fingerprint == fingerprint,
                R.account_id != other_than,
                exists().where(M.account_id == R.account_id, M.end_reason.startswith(END_REASON_PREFIX)),
            )
        )
        return bool(await self._session.scalar(terminated))

    async def identity_elsewhere(self, fingerprint: str, *, other_than: UUID) -> tuple[bool, bool]:
        M = models.Membership
        live = select(
            exists().where(
                R.fingerprint == fingerprint,
                R.account_id != other_than,
                exists().where(
                    M.account_id == R.account_id, M.status.in_(("PENDING", "ACTIVE", "PAST_DUE", "WON", "PAID"))
                ),
            )
        )
        won = select(
            exists().where(
                R.fingerprint == fingerprint,
                R.account_id != other_than,
                or_(
                    exists().where(M.account_id == R.account_id, M.status.in_(("WON", "PAID", "ENDED"))),
                    exists().where(models.Payout.account_id == R.account_id, counts_as_win()),
                ),
            )
        )
        return bool(await self._session.scalar(live)), bool(await self._session.scalar(won))

    async def pending_since(self, cutoff: datetime, *, limit: int) -> Sequence[str]:
        rows = await self._session.scalars(
            select(R.attempt_id)
            .where(R.status == "pending", R.attempt_started_at < cutoff, R.attempt_id.is_not(None))
            .order_by(R.attempt_started_at)
            .limit(limit)
        )
        return [r for r in rows if r is not None]

    async def review_queue(self, *, after: UUID | None, limit: int) -> Sequence[StoredKyc]:
        stmt = select(R).where(R.status == "needs_review").order_by(R.account_id).limit(limit)
        if after is not None:
            stmt = stmt.where(R.account_id > after)
        return [_stored(row) for row in await self._session.scalars(stmt)]

    async def add_vote(
        self, *, account_id: UUID, attempt_id: str, staff_id: UUID, decision: str, reason: str, at: datetime
    ) -> bool:
        stmt = (
            dialect_insert(self._session)(models.KycStaffVote)
            .values(
                id=uuid7(),
                account_id=account_id,
                attempt_id=attempt_id,
                staff_id=staff_id,
                decision=decision,
                reason=reason,
                at=at,
            )
            .on_conflict_do_nothing(index_elements=["account_id", "attempt_id", "staff_id"])
            .returning(models.KycStaffVote.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None

    async def votes(self, account_id: UUID, attempt_id: str) -> Sequence[StaffVote]:
        V = models.KycStaffVote
        rows = await self._session.scalars(
            select(V).where(V.account_id == account_id, V.attempt_id == attempt_id).order_by(V.at)
        )
        return [StaffVote(staff_id=v.staff_id, decision=v.decision, reason=v.reason, at=v.at) for v in rows]

    async def forget_vote_reasons(self, account_id: UUID) -> int:
        V = models.KycStaffVote
        result = await self._session.execute(
            update(V).where(V.account_id == account_id, V.reason != ERASED).values(reason=ERASED)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def without_verification(self, *, activated_before: datetime, limit: int) -> Sequence[tuple[UUID, UUID]]:
        M = models.Membership
        stmt = (
            select(M.account_id, M.id)
            .where(
                M.status.in_(("ACTIVE", "PAST_DUE")),
                M.activated_at < activated_before,
                ~exists().where(R.account_id == M.account_id, R.status != "not_started"),
            )
            .order_by(M.activated_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in (await self._session.execute(stmt)).all()]
