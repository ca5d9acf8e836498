"""CSV exports for staff (members, payments, payouts), streamed: rows are read in keyset batches, each in its own
short transaction, and written out batch by batch, so memory stays flat whatever the table's size and no
transaction stays open while a slow client downloads. Cells are spreadsheet-safe (`spreadsheet.cell`)."""

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TypeVar
from uuid import UUID

from domain.payouts import Payout
from ports.outbound.directory import MemberQuery, MemberRow, PaymentRow
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps
from ports.usecases.payouts import require_finance
from ports.usecases.spreadsheet import cell

BATCH = 2_000
MEMBER_COLUMNS = (
    "account_id",
    "email",
    "first_name",
    "last_name",
    "member_number",
    "membership_status",
    "account_status",
    "created_at",
)
PAYMENT_COLUMNS = (
    "payment_id",
    "account_id",
    "email",
    "member_number",
    "purpose",
    "period",
    "amount_cents",
    "fee_cents",
    "refunded_cents",
    "currency",
    "paid_at",
    "dispute_status",
)
PAYOUT_COLUMNS = (
    "payout_id",
    "round",
    "account_id",
    "membership_id",
    "status",
    "gross_cents",
    "withholding_cents",
    "retention_deduction_cents",
    "currency",
    "selected_at",
    "completed_at",
    "attempt",
)

Row = TypeVar("Row")


def _lines(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()


async def _stream(
    deps: Deps,
    columns: Sequence[str],
    page: Callable[[Deps, UUID | None], Awaitable[Sequence[Row]]],
    key: Callable[[Row], UUID],
    values: Callable[[Row], Sequence[object]],
) -> AsyncIterator[str]:
    yield _lines([columns])
    after: UUID | None = None
    while True:
        rows = await page(deps, after)
        if rows:
            yield _lines(values(row) for row in rows)
            after = key(rows[-1])
        if len(rows) < BATCH:
            return


async def _members(deps: Deps, after: UUID | None) -> Sequence[MemberRow]:
    async with deps.uow() as uow:
        return await uow.directory.search(MemberQuery(), after=after, limit=BATCH)


async def _payments(deps: Deps, after: UUID | None) -> Sequence[PaymentRow]:
    async with deps.uow() as uow:
        return await uow.directory.payments(after=after, limit=BATCH)


async def _payouts(deps: Deps, after: UUID | None) -> Sequence[Payout]:
    async with deps.uow() as uow:
        return await uow.payouts.listing(status=None, after=after, limit=BATCH)


def members_csv(deps: Deps, staff: Principal) -> AsyncIterator[str]:
    """Every member account with its latest membership (staff)."""
    require_staff(staff)
    return _stream(
        deps,
        MEMBER_COLUMNS,
        _members,
        lambda r: r.account_id,
        lambda r: (
            r.account_id,
            r.email,
            r.first_name,
            r.last_name,
            r.member_number,
            (r.membership_status or "").lower(),
            r.account_status,
            r.created_at.isoformat(),
        ),
    )


def payments_csv(deps: Deps, staff: Principal) -> AsyncIterator[str]:
    """Every payment received, with refunds and disputes (finance)."""
    require_finance(staff)
    return _stream(
        deps,
        PAYMENT_COLUMNS,
        _payments,
        lambda r: r.payment_id,
        lambda r: (
            r.payment_id,
            r.account_id,
            r.email,
            r.member_number,
            r.purpose,
            r.period_index,
            r.amount_cents,
            r.fee_cents,
            r.refunded_cents,
            r.currency,
            r.paid_at.isoformat(),
            r.dispute_status,
        ),
    )


def payouts_csv(deps: Deps, staff: Principal) -> AsyncIterator[str]:
    """Every payout with its amounts as frozen at first processing (finance). No bank or tax numbers."""
    require_finance(staff)
    return _stream(
        deps,
        PAYOUT_COLUMNS,
        _payouts,
        lambda p: UUID(p.payout_id),
        lambda p: (
            p.payout_id,
            p.round_key.isoformat(),
            p.winner_person_id,
            p.membership_id,
            str(p.status),
            p.gross.cents,
            p.amounts.withholding.cents if p.amounts else "",
            p.amounts.retention_deduction.cents if p.amounts else "",
            p.gross.currency,
            p.selected_at.isoformat(),
            p.completed_at.isoformat() if p.completed_at else "",
            p.attempt,
        ),
    )
