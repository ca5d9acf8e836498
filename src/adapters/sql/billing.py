"""`BillingRepository` on SQL: memberships, invoices, payments, refunds, disputes, consent, notices, runs.

Membership status is stored upper-case (the schema's CHECK list); the domain's enum values are lower-case.
Row locks (`FOR UPDATE`) are ignored by SQLite, which serialises writers on its own.
"""

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from adapters.sql.member_numbers import next_member_number
from adapters.sql.queue import SqlQueueRepository
from domain.membership import MembershipState, PaymentKind
from domain.money import Money
from domain.queue import queue_key
from ports.outbound.billing import (
    DisputeRecord,
    InvoiceRecord,
    MembershipRecord,
    PaymentHistoryItem,
    PaymentRecord,
    TermsRecord,
)
from ports.outbound.errors import ConflictError

M = models.Membership
I = models.Invoice  # noqa: E741
P = models.Payment

_MEMBERSHIP_FIELDS = tuple(f.name for f in fields(MembershipRecord) if f.name not in {"id", "created_at", "status"})
_QUEUE = ("ACTIVE", "PAST_DUE")


def _membership(row: M) -> MembershipRecord:
    values: dict[str, Any] = {name: getattr(row, name) for name in _MEMBERSHIP_FIELDS}
    return MembershipRecord(id=row.id, created_at=row.created_at, status=MembershipState(row.status.lower()), **values)


def _invoice(row: I) -> InvoiceRecord:
    return InvoiceRecord(
        id=row.id,
        membership_id=row.membership_id,
        provider_invoice_id=row.provider_invoice_id or "",
        purpose=PaymentKind(row.purpose),
        period_index=row.period_index,
        amount=Money(cents=row.amount_cents, currency=row.currency),
        status=row.status,
        due_at=row.due_at,
        rules_version=row.rules_version,
        paid_at=row.paid_at,
        first_failed_at=row.first_failed_at,
        grace_start=row.grace_start,
        grace_ends_at=row.grace_ends_at,
        reversed_at=row.reversed_at,
        hosted_invoice_url=row.hosted_invoice_url,
    )


def _payment(row: P) -> PaymentRecord:
    return PaymentRecord(
        id=row.id,
        invoice_id=row.invoice_id,
        provider_payment_id=row.provider_payment_id,
        provider_charge_id=row.provider_charge_id,
        amount=Money(cents=row.amount_cents, currency=row.currency),
        refunded=Money(cents=row.refunded_cents, currency=row.currency),
        paid_at=row.paid_at,
        dispute_status=row.dispute_status,
    )


def _dispute(row: models.Dispute) -> DisputeRecord:
    return DisputeRecord(
        id=row.id,
        payment_id=row.payment_id,
        provider_dispute_id=row.provider_dispute_id,
        amount=Money(cents=row.amount_cents, currency=row.currency),
        status=row.status,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
    )


class SqlBillingRepository:
    def __init__(self, session: AsyncSession, queue: SqlQueueRepository) -> None:
        self._session = session
        self._queue = queue

    # memberships ---------------------------------------------------------------------------------------------

    async def _one(self, condition: Any, for_update: bool) -> MembershipRecord | None:
        stmt = select(M).where(condition)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        if row is not None and for_update:
            await self._session.refresh(row)  # a lock waited for another commit: read what it wrote
        return _membership(row) if row is not None else None

    async def add_membership(self, *, account_id: UUID, rules_version: int, at: datetime) -> MembershipRecord:
        row = M(id=uuid7(), account_id=account_id, status="PENDING", rules_version=rules_version)
        row.created_at = row.updated_at = at
        self._session.add(row)
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError as exc:
            raise ConflictError("the account already holds a live membership") from exc
        return _membership(row)

    async def get_membership(self, membership_id: UUID, *, for_update: bool = False) -> MembershipRecord | None:
        return await self._one(M.id == membership_id, for_update)

    async def memberships_of(self, account_id: UUID) -> Sequence[MembershipRecord]:
        rows = await self._session.scalars(
            select(M).where(M.account_id == account_id).order_by(M.created_at.desc(), M.id.desc())
        )
        return [_membership(row) for row in rows]

    async def membership_by_subscription(
        self, subscription_id: str, *, for_update: bool = False
    ) -> MembershipRecord | None:
        return await self._one(M.provider_subscription_id == subscription_id, for_update)

    async def membership_by_checkout(self, session_id: str, *, for_update: bool = False) -> MembershipRecord | None:
        return await self._one(M.checkout_session_id == session_id, for_update)

    async def save_membership(self, record: MembershipRecord, *, at: datetime) -> None:
        """Write the record; a change of queue membership is reported to the queue index (applied at commit)."""
        values = {name: getattr(record, name) for name in _MEMBERSHIP_FIELDS}
        old = (
            await self._session.execute(
                select(M.status, M.tenure_start, M.member_number).where(M.id == record.id).with_for_update()
            )
        ).first()
        if old is not None:
            self._queue.note(
                record.id,
                before=MembershipState(old.status.lower()),
                before_key=queue_key(old.tenure_start, old.member_number),
                after=record.status,
                after_key=queue_key(record.tenure_start, record.member_number),
            )
        await self._session.execute(
            update(M)
            .where(M.id == record.id)
            .values(status=record.status.value.upper(), updated_at=at, **values)
            .execution_options(synchronize_session=False)
        )

    async def next_member_number(self) -> int:
        return await next_member_number(self._session)

    async def lock_account_memberships(self, account_id: UUID) -> None:
        await self._session.execute(select(models.Account.id).where(models.Account.id == account_id).with_for_update())

    async def sweep_candidates(
        self, *, now: datetime, upcoming_until: datetime, after: UUID | None, limit: int
    ) -> Sequence[UUID]:
        unpaid = (
            select(I.membership_id)
            .where(I.status.in_(("open", "uncollectible", "refunded")), I.purpose == "dues")
            .scalar_subquery()
        )
        stmt = (
            select(M.id)
            .where(
                or_(
                    and_(M.status == "PENDING", M.checkout_expires_at <= now),
                    and_(M.status.in_(_QUEUE), M.id.in_(unpaid)),
                    M.status == "PAST_DUE",
                    and_(M.status.in_(_QUEUE), M.cancel_effective_at <= now),
                    and_(M.status == "ACTIVE", M.next_due_at <= upcoming_until),
                )
            )
            .order_by(M.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(M.id > after)
        return list(await self._session.scalars(stmt))

    # invoices and payments -----------------------------------------------------------------------------------

    async def invoices_of(self, membership_id: UUID) -> Sequence[InvoiceRecord]:
        rows = await self._session.scalars(
            select(I).where(I.membership_id == membership_id).order_by(I.due_at, I.period_index)
        )
        return [_invoice(row) for row in rows]

    async def invoice_by_provider_id(self, provider_invoice_id: str) -> InvoiceRecord | None:
        row = await self._session.scalar(select(I).where(I.provider_invoice_id == provider_invoice_id))
        return _invoice(row) if row is not None else None

    async def invoice(self, invoice_id: UUID) -> InvoiceRecord | None:
        row = await self._session.get(I, invoice_id)
        return _invoice(row) if row is not None else None

    @staticmethod
    def _invoice_values(record: InvoiceRecord) -> dict[str, Any]:
        return {
            "membership_id": record.membership_id,
            "provider_invoice_id": record.provider_invoice_id,
            "purpose": record.purpose.value,
            "period_index": record.period_index,
            "amount_cents": record.amount.cents,
            "currency": record.amount.currency,
            "status": record.status,
            "due_at": record.due_at,
            "paid_at": record.paid_at,
            "first_failed_at": record.first_failed_at,
            "grace_start": record.grace_start,
            "grace_ends_at": record.grace_ends_at,
            "rules_version": record.rules_version,
            "reversed_at": record.reversed_at,
            "hosted_invoice_url": record.hosted_invoice_url,
        }

    async def add_invoice(self, record: InvoiceRecord, *, at: datetime) -> None:
        await self._session.execute(
            insert(I).values(id=record.id, created_at=at, updated_at=at, **self._invoice_values(record))
        )

    async def save_invoice(self, record: InvoiceRecord, *, at: datetime) -> None:
        await self._session.execute(
            update(I).where(I.id == record.id).values(updated_at=at, **self._invoice_values(record))
        )

    async def payment_of_invoice(self, invoice_id: UUID) -> PaymentRecord | None:
        row = await self._session.scalar(select(P).where(P.invoice_id == invoice_id).order_by(P.paid_at).limit(1))
        return _payment(row) if row is not None else None

    async def get_payment(self, payment_id: UUID) -> PaymentRecord | None:
        row = await self._session.get(P, payment_id)
        return _payment(row) if row is not None else None

    async def payment_by_intent(self, provider_payment_id: str) -> PaymentRecord | None:
        row = await self._session.scalar(select(P).where(P.provider_payment_id == provider_payment_id))
        return _payment(row) if row is not None else None

    async def payment_by_charge(self, charge_id: str) -> PaymentRecord | None:
        row = await self._session.scalar(select(P).where(P.provider_charge_id == charge_id))
        return _payment(row) if row is not None else None

    async def add_payment(self, record: PaymentRecord, *, at: datetime) -> None:
        await self._session.execute(
            insert(P).values(
                id=record.id,
                invoice_id=record.invoice_id,
                provider_payment_id=record.provider_payment_id,
                provider_charge_id=record.provider_charge_id,
                amount_cents=record.amount.cents,
                fee_cents=0,
                refunded_cents=record.refunded.cents if record.refunded else 0,
                currency=record.amount.currency,
                paid_at=record.paid_at,
                dispute_status=record.dispute_status,
                created_at=at,
                updated_at=at,
            )
        )

    async def save_payment(self, record: PaymentRecord, *, at: datetime) -> None:
        await self._session.execute(
            update(P)
            .where(P.id == record.id)
            .values(
                provider_charge_id=record.provider_charge_id,
                refunded_cents=record.refunded.cents if record.refunded else 0,
                dispute_status=record.dispute_status,
                updated_at=at,
            )
        )

    async def add_refund(self, *, payment_id: UUID, provider_refund_id: str, amount: Money, at: datetime) -> bool:
        stmt = (
            dialect_insert(self._session)(models.Refund)
            .values(
                id=uuid7(),
                payment_id=payment_id,
                provider_refund_id=provider_refund_id,
                amount_cents=amount.cents,
                currency=amount.currency,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["provider_refund_id"])
            .returning(models.Refund.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None

    async def dispute_by_provider_id(self, provider_dispute_id: str) -> DisputeRecord | None:
        row = await self._session.scalar(
            select(models.Dispute).where(models.Dispute.provider_dispute_id == provider_dispute_id)
        )
        return _dispute(row) if row is not None else None

    async def save_dispute(self, record: DisputeRecord, *, new: bool) -> None:
        values = {
            "payment_id": record.payment_id,
            "provider_dispute_id": record.provider_dispute_id,
            "amount_cents": record.amount.cents,
            "currency": record.amount.currency,
            "status": record.status,
            "opened_at": record.opened_at,
            "closed_at": record.closed_at,
        }
        if new:
            await self._session.execute(insert(models.Dispute).values(id=record.id, **values))
        else:
            await self._session.execute(update(models.Dispute).where(models.Dispute.id == record.id).values(**values))

    async def open_disputes(self, membership_id: UUID) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(models.Dispute)
            .join(P, P.id == models.Dispute.payment_id)
            .join(I, I.id == P.invoice_id)
            .where(I.membership_id == membership_id, models.Dispute.status == "open")
        )
        return int(count or 0)

    async def payment_history(
        self, account_id: UUID, *, before: tuple[datetime, UUID] | None, limit: int
    ) -> Sequence[PaymentHistoryItem]:
        stmt = (
            select(P, I)
            .join(I, I.id == P.invoice_id)
            .join(M, M.id == I.membership_id)
            .where(M.account_id == account_id)
            .order_by(P.paid_at.desc(), P.id.desc())
            .limit(limit)
        )
        if before is not None:
            stmt = stmt.where(tuple_(P.paid_at, P.id) < tuple_(literal(before[0]), literal(before[1])))
        rows = (await self._session.execute(stmt)).all()
        return [
            PaymentHistoryItem(
                payment_id=payment.id,
                membership_id=invoice.membership_id,
                purpose=PaymentKind(invoice.purpose),
                amount=Money(cents=payment.amount_cents, currency=payment.currency),
                refunded=Money(cents=payment.refunded_cents, currency=payment.currency),
                paid_at=payment.paid_at,
                period_index=invoice.period_index,
                provider_invoice_id=invoice.provider_invoice_id or "",
                receipt_url=invoice.hosted_invoice_url,
            )
            for payment, invoice in rows
        ]

    # consent and notices -------------------------------------------------------------------------------------

    async def record_terms(
        self, *, account_id: UUID, terms_version: str, payment_authorization: bool, at: datetime, ip: str | None
    ) -> None:
        await self._session.execute(
            insert(models.TermsAcceptance).values(
                id=uuid7(),
                account_id=account_id,
                terms_version=terms_version,
                payment_authorization=payment_authorization,
                accepted_at=at,
                ip=ip,
            )
        )

    async def latest_terms(self, account_id: UUID) -> TermsRecord | None:
        row = await self._session.scalar(
            select(models.TermsAcceptance)
            .where(models.TermsAcceptance.account_id == account_id)
            .order_by(models.TermsAcceptance.accepted_at.desc(), models.TermsAcceptance.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        return TermsRecord(
            terms_version=row.terms_version,
            payment_authorization=row.payment_authorization,
            accepted_at=row.accepted_at,
        )

    async def raise_notice_once(self, *, membership_id: UUID, notice_key: str, at: datetime) -> bool:
        stmt = (
            dialect_insert(self._session)(models.ScheduledNotice)
            .values(id=uuid7(), membership_id=membership_id, notice_key=notice_key, raised_at=at)
            .on_conflict_do_nothing(index_elements=["membership_id", "notice_key"])
            .returning(models.ScheduledNotice.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None

    # reconciliation ------------------------------------------------------------------------------------------

    async def record_reconciliation(
        self,
        *,
        kind: str,
        started_at: datetime,
        finished_at: datetime,
        ok: bool,
        drift_cents: int,
        detail: dict[str, object],
    ) -> None:
        await self._session.execute(
            insert(models.ReconciliationRun).values(
                id=uuid7(),
                kind=kind,
                started_at=started_at,
                finished_at=finished_at,
                ok=ok,
                drift_cents=drift_cents,
                detail=detail,
            )
        )

    async def last_reconciliation(self, kind: str, *, ok_only: bool = True) -> datetime | None:
        stmt = select(func.max(models.ReconciliationRun.finished_at)).where(models.ReconciliationRun.kind == kind)
        if ok_only:
            stmt = stmt.where(models.ReconciliationRun.ok.is_(True))
        latest: datetime | None = await self._session.scalar(stmt)
        return latest

    async def subscriptions_since(self, since: datetime, *, limit: int) -> Sequence[str]:
        rows = await self._session.scalars(
            select(M.provider_subscription_id)
            .where(
                M.provider_subscription_id.is_not(None),
                or_(M.status.in_(("ACTIVE", "PAST_DUE", "WON", "PAID")), M.updated_at >= since),
            )
            .order_by(M.provider_subscription_id)
            .limit(limit)
        )
        return [row for row in rows if row is not None]
