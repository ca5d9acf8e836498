"""The member directory on SQL: one statement, keyset-paged on the account id (UUIDv7: creation order).

Each account is shown with its latest membership (a correlated "newest first, limit 1" on the membership index).
Email matches are prefix matches on the lower-cased, unique email index; names match case-insensitively; a number
matches a member number exactly.
"""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from adapters.sql import models
from ports.outbound.directory import MemberQuery, MemberRow, PaymentRow

MEMBER_NUMBER_DIGITS = 18
"""Longer digit strings cannot be a member number (BIGINT): they are searched as text only."""


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


class SqlMemberDirectory:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def search(self, query: MemberQuery, *, after: UUID | None, limit: int) -> Sequence[MemberRow]:
        account, profile = models.Account, models.Profile
        latest = aliased(models.Membership, name="latest")
        newest_id = (
            select(models.Membership.id)
            .where(models.Membership.account_id == account.id)
            .order_by(models.Membership.created_at.desc(), models.Membership.id.desc())
            .limit(1)
            .correlate(account)
            .scalar_subquery()
        )
        stmt = (
            select(
                account.id,
                account.email,
                profile.legal_first_name,
                profile.legal_last_name,
                latest.member_number,
                latest.status,
                account.status,
                account.created_at,
            )
            .outerjoin(profile, profile.account_id == account.id)
            .outerjoin(latest, latest.id == newest_id)  # a correlated "newest first, limit 1": SQLite has no LATERAL
            .where(account.role == "member")
            .order_by(account.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(account.id > after)
        text = (query.text or "").strip()
        if text:
            conditions: list[ColumnElement[bool]] = [account.email.like(_like_prefix(text.lower()), escape="\\")]
            if text.isascii() and text.isdigit() and len(text) <= MEMBER_NUMBER_DIGITS:
                conditions.append(latest.member_number == int(text))
            words = text.lower().split()
            first, last = func.lower(profile.legal_first_name), func.lower(profile.legal_last_name)
            if len(words) == 1:
                conditions.extend([first == words[0], last == words[0]])
            elif len(words) == 2:
                conditions.append(and_(first == words[0], last == words[1]))
            stmt = stmt.where(or_(*conditions))
        if query.status == "none":
            stmt = stmt.where(latest.status.is_(None))
        elif query.status:
            stmt = stmt.where(latest.status == query.status)
        rows = (await self._session.execute(stmt)).all()
        return [
            MemberRow(
                account_id=row[0],
                email=row[1],
                first_name=row[2],
                last_name=row[3],
                member_number=row[4],
                membership_status=row[5],
                account_status=row[6],
                created_at=row[7],
            )
            for row in rows
        ]

    async def payments(self, *, after: UUID | None, limit: int) -> Sequence[PaymentRow]:
        payment, invoice, membership, account = models.Payment, models.Invoice, models.Membership, models.Account
        stmt = (
            select(
                payment.id,
                account.id,
                account.email,
                membership.member_number,
                invoice.purpose,
                invoice.period_index,
                payment.amount_cents,
                payment.fee_cents,
                payment.refunded_cents,
                payment.currency,
                payment.paid_at,
                payment.dispute_status,
            )
            .join(invoice, invoice.id == payment.invoice_id)
            .join(membership, membership.id == invoice.membership_id)
            .join(account, account.id == membership.account_id)
            .order_by(payment.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(payment.id > after)
        return [
            PaymentRow(
                payment_id=r[0],
                account_id=r[1],
                email=r[2],
                member_number=r[3],
                purpose=r[4],
                period_index=r[5],
                amount_cents=r[6],
                fee_cents=r[7],
                refunded_cents=r[8],
                currency=r[9],
                paid_at=r[10],
                dispute_status=r[11],
            )
            for r in (await self._session.execute(stmt)).all()
        ]
