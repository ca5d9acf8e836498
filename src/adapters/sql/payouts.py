"""`PayoutRepository` on SQL: rounds with their snapshots, payouts with approvals, details, requests, transfers."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, false, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from adapters.sql import models
from domain.checkout import PostalAddress
from domain.merkle import SALT_BYTES
from domain.money import Money
from domain.payouts import Approval, Cancellation, Payout, PayoutAmounts, PayoutStatus, StaffRole
from domain.rounds import SnapshotEntry
from ports.outbound.errors import ConflictError
from ports.outbound.payout_rail import PayoutMethod
from ports.outbound.payouts import (
    EvaluationRecord,
    PayoutDetailsRecord,
    RemittanceRecord,
    RoundRecord,
    StaffRequestRecord,
    StoredEntry,
    TaxFormRecord,
    TransferRecord,
)

P = models.Payout
T = models.PayoutTransfer
_OPEN = (PayoutStatus.PENDING_APPROVAL.value, PayoutStatus.APPROVED.value, PayoutStatus.SCHEDULED.value)


def counts_as_win() -> Any:
    """SQL for `domain.payouts.counts_as_win`: not cancelled, or cancelled for a disqualifying reason."""
    return or_(P.status != PayoutStatus.CANCELLED.value, P.cancel_disqualifying.is_(True))


def _round(row: models.PayoutRound) -> RoundRecord:
    return RoundRecord(
        id=row.id,
        round_key=row.round_key,
        evaluated_at=row.evaluated_at,
        triggered_by=row.triggered_by,
        rules_version=row.rules_version,
        fund_before=Money(cents=row.fund_before_cents, currency=row.currency),
        reward=Money(cents=row.reward_cents, currency=row.currency),
        winners=row.winners,
        queue_size=row.queue_size,
        evaluated_through=row.evaluated_through,
        digest=bytes.fromhex(row.digest),
    )


_ENTRY_COLUMNS = (
    models.RoundEntry.position,
    models.RoundEntry.member_number,
    models.RoundEntry.tenure_start,
    models.RoundEntry.eligible,
    models.RoundEntry.reasons,
    models.RoundEntry.membership_id,
    models.RoundEntry.salt,
)
"""Plain columns, not ORM objects: a round's digest streams a million of these."""


def _entry(row: Any) -> StoredEntry:
    reasons = tuple(r for r in row.reasons.split(",") if r)
    return StoredEntry(
        entry=SnapshotEntry(
            position=row.position,
            member_number=row.member_number,
            tenure_start=row.tenure_start,
            eligible=row.eligible,
            reasons=reasons,
        ),
        membership_id=row.membership_id,
        salt=bytes(row.salt),
    )


def _address(raw: dict[str, Any] | None) -> PostalAddress | None:
    return PostalAddress(**raw) if raw else None


def _address_json(address: PostalAddress | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
    }


def _transfer(row: models.PayoutTransfer) -> TransferRecord:
    return TransferRecord(
        payout_id=row.payout_id,
        attempt=row.attempt,
        rail=row.rail,
        destination=row.destination,
        amount=Money(cents=row.amount_cents, currency=row.currency),
        claimed_at=row.claimed_at,
        submitted_by=row.submitted_by,
        reference=row.reference,
        trace_number=row.trace_number,
        sent_at=row.sent_at,
    )


def _roles(finance: bool) -> frozenset[StaffRole]:
    return frozenset({StaffRole.FINANCE}) if finance else frozenset({StaffRole.ADMIN})


class SqlPayoutRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # the program row ------------------------------------------------------------------------------------------

    async def lock_program(self) -> bool:
        frozen = await self._session.scalar(
            select(models.ProgramState.payouts_frozen).where(models.ProgramState.id == 1).with_for_update()
        )
        return bool(frozen)

    async def set_frozen(self, frozen: bool, *, at: datetime) -> None:
        await self._session.execute(
            update(models.ProgramState).where(models.ProgramState.id == 1).values(payouts_frozen=frozen, changed_at=at)
        )

    async def frozen(self) -> bool:
        return bool(
            await self._session.scalar(select(models.ProgramState.payouts_frozen).where(models.ProgramState.id == 1))
        )

    # rounds ---------------------------------------------------------------------------------------------------

    async def round_by_key(self, round_key: date) -> RoundRecord | None:
        row = await self._session.scalar(select(models.PayoutRound).where(models.PayoutRound.round_key == round_key))
        return _round(row) if row is not None else None

    async def snapshot_queue(
        self, round_id: UUID, *, verdicts: Sequence[tuple[UUID, tuple[str, ...]]], unchecked_reason: str
    ) -> int:
        if verdicts:
            await self._session.execute(
                insert(models.RoundVerdict),
                [
                    {"round_id": round_id, "membership_id": m, "eligible": not reasons, "reasons": ",".join(reasons)}
                    for m, reasons in verdicts
                ],
            )
        M, V, E = models.Membership, models.RoundVerdict, models.RoundEntry
        if self._session.get_bind().dialect.name == "sqlite":
            salt: Any = func.randomblob(SALT_BYTES)
        else:  # gen_random_uuid() draws from the server's strong random source (PostgreSQL 13+, no extension)
            salt = func.uuid_send(func.gen_random_uuid()).op("||")(func.uuid_send(func.gen_random_uuid()))
        rows = (
            select(
                literal(round_id, E.round_id.type),
                func.row_number().over(order_by=(M.tenure_start, M.member_number)),
                M.member_number,
                M.id,
                M.tenure_start,
                func.coalesce(V.eligible, false()),
                func.coalesce(V.reasons, unchecked_reason),
                salt,
            )
            .select_from(M)
            .outerjoin(V, and_(V.round_id == round_id, V.membership_id == M.id))
            .where(M.status.in_(models.QUEUE_STATUSES))
        )
        columns = ["round_id", "position", "member_number", "membership_id", "tenure_start", "eligible", "reasons"]
        done = await self._session.execute(insert(E).from_select([*columns, "salt"], rows))
        return int(done.rowcount)  # type: ignore[attr-defined]

    async def add_chunks(self, round_id: UUID, roots: Sequence[bytes]) -> None:
        if roots:
            await self._session.execute(
                insert(models.RoundChunk),
                [{"round_id": round_id, "chunk_index": i, "root": root} for i, root in enumerate(roots)],
            )

    async def chunks(self, round_id: UUID) -> Sequence[bytes]:
        rows = await self._session.scalars(
            select(models.RoundChunk.root)
            .where(models.RoundChunk.round_id == round_id)
            .order_by(models.RoundChunk.chunk_index)
        )
        return [bytes(root) for root in rows]

    async def add_round(self, record: RoundRecord) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(models.PayoutRound).values(
                        id=record.id,
                        round_key=record.round_key,
                        evaluated_at=record.evaluated_at,
                        triggered_by=record.triggered_by,
                        rules_version=record.rules_version,
                        currency=record.fund_before.currency,
                        fund_before_cents=record.fund_before.cents,
                        reward_cents=record.reward.cents,
                        winners=record.winners,
                        queue_size=record.queue_size,
                        evaluated_through=record.evaluated_through,
                        digest=record.digest.hex(),
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"a round already exists for {record.round_key}") from exc

    async def rounds(self, *, before: date | None, limit: int) -> Sequence[RoundRecord]:
        stmt = select(models.PayoutRound).order_by(models.PayoutRound.round_key.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(models.PayoutRound.round_key < before)
        return [_round(row) for row in await self._session.scalars(stmt)]

    async def round_entry(self, round_id: UUID, membership_id: UUID) -> StoredEntry | None:
        # Found by the membership's queue key, which never changes once it is set and which the snapshot's key
        # index holds in insertion order (an index on membership ids would take random inserts, a million a round).
        E, M = models.RoundEntry, models.Membership
        row = (
            await self._session.execute(
                select(*_ENTRY_COLUMNS)
                .join(M, and_(M.tenure_start == E.tenure_start, M.member_number == E.member_number))
                .where(E.round_id == round_id, M.id == membership_id, E.membership_id == membership_id)
            )
        ).first()
        return _entry(row) if row is not None else None

    async def round_entries(self, round_id: UUID, *, after_position: int, limit: int) -> Sequence[StoredEntry]:
        rows = await self._session.execute(
            select(*_ENTRY_COLUMNS)
            .where(models.RoundEntry.round_id == round_id, models.RoundEntry.position > after_position)
            .order_by(models.RoundEntry.position)
            .limit(limit)
        )
        return [_entry(row) for row in rows]

    async def add_evaluation(self, record: EvaluationRecord) -> None:
        await self._session.execute(
            insert(models.RoundEvaluation).values(
                id=record.id,
                evaluated_at=record.evaluated_at,
                day=record.evaluated_at.astimezone(UTC).date(),
                triggered_by=record.triggered_by,
                outcome=record.outcome,
                blockers=",".join(record.blockers),
                fund_cents=record.fund.cents,
                currency=record.fund.currency,
                queue_size=record.queue_size,
                round_id=record.round_id,
            )
        )

    async def evaluations(self, *, limit: int) -> Sequence[EvaluationRecord]:
        rows = await self._session.scalars(
            select(models.RoundEvaluation).order_by(models.RoundEvaluation.evaluated_at.desc()).limit(limit)
        )
        return [
            EvaluationRecord(
                id=row.id,
                evaluated_at=row.evaluated_at,
                triggered_by=row.triggered_by,
                outcome=row.outcome,
                blockers=tuple(b for b in row.blockers.split(",") if b),
                fund=Money(cents=row.fund_cents, currency=row.currency),
                queue_size=row.queue_size,
                round_id=row.round_id,
            )
            for row in rows
        ]

    # payouts --------------------------------------------------------------------------------------------------

    async def _payout(self, row: models.Payout) -> Payout:
        round_key = await self._session.scalar(
            select(models.PayoutRound.round_key).where(models.PayoutRound.id == row.round_id)
        )
        approvals = await self._session.scalars(
            select(models.PayoutApproval)
            .where(
                models.PayoutApproval.payout_id == row.id,
                models.PayoutApproval.generation == row.approval_generation,
            )
            .order_by(models.PayoutApproval.at, models.PayoutApproval.id)
        )
        gross = Money(cents=row.gross_cents, currency=row.currency)
        amounts = None
        if row.withholding_cents is not None and row.retention_cents is not None:
            amounts = PayoutAmounts(
                gross=gross,
                withholding=Money(cents=row.withholding_cents, currency=row.currency),
                retention_deduction=Money(cents=row.retention_cents, currency=row.currency),
            )
        cancellation = None
        if row.cancelled_at is not None:
            cancellation = Cancellation(
                reason=row.cancel_reason or "",
                disqualifying=bool(row.cancel_disqualifying),
                requested_by=row.cancel_requested_by or "",
                confirmed_by=row.cancel_confirmed_by or "",
                at=row.cancelled_at,
            )
        assert round_key is not None
        return Payout(
            payout_id=str(row.id),
            membership_id=str(row.membership_id),
            winner_person_id=str(row.account_id),
            round_key=round_key,
            selected_at=row.selected_at,
            gross=gross,
            rules_version=row.rules_version,
            status=PayoutStatus(row.status),
            approvals=tuple(
                Approval(staff_id=str(a.staff_account_id), roles=_roles(a.finance), at=a.at) for a in approvals
            ),
            first_approved_at=row.first_approved_at,
            hold_until=row.hold_until,
            amounts=amounts,
            attempt=row.attempt,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
            cancellation=cancellation,
            withholding_corrections=row.withholding_corrections,
        )

    async def add(self, payout: Payout) -> None:
        round_id = await self._session.scalar(
            select(models.PayoutRound.id).where(models.PayoutRound.round_key == payout.round_key)
        )
        if round_id is None:
            raise ConflictError(f"no round {payout.round_key} for payout {payout.payout_id}")
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(P).values(
                        id=UUID(payout.payout_id),
                        round_id=round_id,
                        membership_id=UUID(payout.membership_id),
                        account_id=UUID(payout.winner_person_id),
                        status=payout.status.value,
                        currency=payout.gross.currency,
                        gross_cents=payout.gross.cents,
                        rules_version=payout.rules_version,
                        selected_at=payout.selected_at,
                        approval_generation=0,
                        attempt=payout.attempt,
                        withholding_corrections=0,
                        created_at=payout.selected_at,
                        updated_at=payout.selected_at,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"membership {payout.membership_id} already has an open payout") from exc

    async def get(self, payout_id: UUID, *, for_update: bool = False) -> Payout | None:
        stmt = select(P).where(P.id == payout_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return await self._payout(row) if row is not None else None

    async def save(self, payout: Payout) -> None:
        payout_id = UUID(payout.payout_id)
        row = await self._session.scalar(
            select(P).where(P.id == payout_id).execution_options(populate_existing=True).with_for_update()
        )
        if row is None:
            raise ConflictError(f"payout {payout_id} does not exist")
        stored = await self._payout(row)
        generation = row.approval_generation
        if stored.approvals and not payout.approvals:
            generation += 1
        known = {a.staff_id for a in stored.approvals} if generation == row.approval_generation else set()
        now = payout.approvals[-1].at if payout.approvals else payout.selected_at
        for approval in payout.approvals:
            if approval.staff_id in known:
                continue
            try:
                async with self._session.begin_nested():
                    await self._session.execute(
                        insert(models.PayoutApproval).values(
                            id=uuid7(),
                            payout_id=payout_id,
                            generation=generation,
                            staff_account_id=UUID(approval.staff_id),
                            finance=StaffRole.FINANCE in approval.roles,
                            at=approval.at,
                        )
                    )
            except IntegrityError as exc:
                raise ConflictError("this staff member already approved the payout") from exc
        cancellation = payout.cancellation
        await self._session.execute(
            update(P)
            .where(P.id == payout_id)
            .values(
                status=payout.status.value,
                first_approved_at=payout.first_approved_at,
                hold_until=payout.hold_until,
                approval_generation=generation,
                withholding_cents=payout.amounts.withholding.cents if payout.amounts else None,
                retention_cents=payout.amounts.retention_deduction.cents if payout.amounts else None,
                attempt=payout.attempt,
                withholding_corrections=payout.withholding_corrections,
                completed_at=payout.completed_at,
                completed_by=payout.completed_by,
                cancel_reason=cancellation.reason if cancellation else None,
                cancel_disqualifying=cancellation.disqualifying if cancellation else None,
                cancel_requested_by=cancellation.requested_by if cancellation else None,
                cancel_confirmed_by=cancellation.confirmed_by if cancellation else None,
                cancelled_at=cancellation.at if cancellation else None,
                updated_at=max(now, cancellation.at if cancellation else now, payout.completed_at or now),
            )
        )

    async def _many(self, stmt: Any) -> list[Payout]:
        return [await self._payout(row) for row in await self._session.scalars(stmt)]

    async def counted_win(self, account_id: UUID) -> bool:
        found = await self._session.scalar(select(P.id).where(P.account_id == account_id, counts_as_win()).limit(1))
        return found is not None

    async def of_account(self, account_id: UUID) -> Sequence[Payout]:
        return await self._many(select(P).where(P.account_id == account_id).order_by(P.selected_at.desc(), P.id))

    async def of_round(self, round_key: date) -> Sequence[Payout]:
        return await self._many(
            select(P)
            .join(models.PayoutRound, models.PayoutRound.id == P.round_id)
            .where(models.PayoutRound.round_key == round_key)
            .order_by(P.id)
        )

    async def listing(self, *, status: PayoutStatus | None, after: UUID | None, limit: int) -> Sequence[Payout]:
        stmt = select(P).order_by(P.id).limit(limit)
        if status is not None:
            stmt = stmt.where(P.status == status.value)
        if after is not None:
            stmt = stmt.where(P.id > after)
        return await self._many(stmt)

    async def open_payouts(self, *, after: UUID | None, limit: int) -> Sequence[Payout]:
        stmt = select(P).where(P.status.in_(_OPEN)).order_by(P.id).limit(limit)
        if after is not None:
            stmt = stmt.where(P.id > after)
        return await self._many(stmt)

    async def completed_in(self, tax_year: int) -> Sequence[Payout]:
        start = datetime(tax_year, 1, 1, tzinfo=UTC)
        end = datetime(tax_year + 1, 1, 1, tzinfo=UTC)
        return await self._many(
            select(P)
            .where(P.status == PayoutStatus.COMPLETED.value, P.completed_at >= start, P.completed_at < end)
            .order_by(P.completed_at, P.id)
        )

    async def completed_before(self, at: datetime, *, limit: int) -> Sequence[Payout]:
        return await self._many(
            select(P)
            .join(models.Membership, models.Membership.id == P.membership_id)
            .where(P.status == PayoutStatus.COMPLETED.value, P.completed_at < at, models.Membership.status == "PAID")
            .order_by(P.completed_at, P.id)
            .limit(limit)
        )

    # winner details -------------------------------------------------------------------------------------------

    async def details(self, payout_id: UUID) -> PayoutDetailsRecord | None:
        row = await self._session.scalar(
            select(models.PayoutDetails)
            .where(models.PayoutDetails.payout_id == payout_id)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        return PayoutDetailsRecord(
            payout_id=row.payout_id,
            method=PayoutMethod(row.method),
            updated_at=row.updated_at,
            holder_name=row.holder_name,
            routing_number=row.routing_number,
            account_type=row.account_type,
            account_last4=row.account_last4,
            account_sealed=bytes(row.account_sealed) if row.account_sealed is not None else None,
            address=_address(row.address),
            address_verified=row.address_verified,
        )

    async def put_details(self, record: PayoutDetailsRecord) -> None:
        values = {
            "method": record.method.value,
            "holder_name": record.holder_name,
            "routing_number": record.routing_number,
            "account_type": record.account_type,
            "account_last4": record.account_last4,
            "account_sealed": record.account_sealed,
            "address": _address_json(record.address),
            "address_verified": record.address_verified,
            "updated_at": record.updated_at,
        }
        await self._upsert(models.PayoutDetails, record.payout_id, values)

    async def erase_details(self, payout_id: UUID) -> None:
        for table in (models.PayoutDetails, models.PayoutTaxForm):
            await self._session.execute(delete(table).where(table.payout_id == payout_id))

    async def tax_form(self, payout_id: UUID) -> TaxFormRecord | None:
        row = await self._session.scalar(
            select(models.PayoutTaxForm)
            .where(models.PayoutTaxForm.payout_id == payout_id)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        return TaxFormRecord(
            payout_id=row.payout_id,
            legal_name=row.legal_name,
            tin_type=row.tin_type,
            tin_last4=row.tin_last4,
            tin_sealed=bytes(row.tin_sealed),
            address=_address(row.address) or PostalAddress(),
            certified=row.certified,
            signed_at=row.signed_at,
        )

    async def put_tax_form(self, record: TaxFormRecord) -> None:
        values = {
            "legal_name": record.legal_name,
            "tin_type": record.tin_type,
            "tin_last4": record.tin_last4,
            "tin_sealed": record.tin_sealed,
            "address": _address_json(record.address),
            "certified": record.certified,
            "signed_at": record.signed_at,
        }
        await self._upsert(models.PayoutTaxForm, record.payout_id, values)

    async def _upsert(self, model: Any, payout_id: UUID, values: dict[str, Any]) -> None:
        """Replace the payout's row (the caller holds the payout's lock, so no concurrent writer exists)."""
        done = await self._session.execute(update(model).where(model.payout_id == payout_id).values(**values))
        if not done.rowcount:  # type: ignore[attr-defined]
            await self._session.execute(insert(model).values(payout_id=payout_id, **values))

    # two-person requests --------------------------------------------------------------------------------------

    async def open_request(self, kind: str, target_id: str) -> StaffRequestRecord | None:
        row = await self._session.scalar(
            select(models.StaffRequest)
            .where(
                models.StaffRequest.kind == kind,
                models.StaffRequest.target_id == target_id,
                models.StaffRequest.resolved_at.is_(None),
            )
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        return StaffRequestRecord(
            id=row.id,
            kind=row.kind,
            target_id=row.target_id,
            reason=row.reason,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
        )

    async def add_request(self, record: StaffRequestRecord) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(models.StaffRequest).values(
                        id=record.id,
                        kind=record.kind,
                        target_id=record.target_id,
                        reason=record.reason,
                        requested_by=record.requested_by,
                        requested_at=record.requested_at,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError("a request for this is already open") from exc

    async def resolve_request(self, request_id: UUID, *, by: UUID, at: datetime, outcome: str) -> bool:
        done = await self._session.execute(
            update(models.StaffRequest)
            .where(models.StaffRequest.id == request_id, models.StaffRequest.resolved_at.is_(None))
            .values(resolved_at=at, resolved_by=by, outcome=outcome)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    # transfers and remittances --------------------------------------------------------------------------------

    async def claim_transfer(self, record: TransferRecord) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(T).values(
                        id=uuid7(),
                        payout_id=record.payout_id,
                        attempt=record.attempt,
                        rail=record.rail,
                        destination=record.destination,
                        amount_cents=record.amount.cents,
                        currency=record.amount.currency,
                        claimed_at=record.claimed_at,
                        submitted_by=record.submitted_by,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"attempt {record.attempt} of payout {record.payout_id} is already claimed") from exc

    async def mark_sent(
        self, payout_id: UUID, attempt: int, *, reference: str, trace_number: str | None, at: datetime
    ) -> bool:
        done = await self._session.execute(
            update(T)
            .where(T.payout_id == payout_id, T.attempt == attempt, T.reference.is_(None))
            .values(reference=reference, trace_number=trace_number, sent_at=at)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def transfer(self, payout_id: UUID, attempt: int) -> TransferRecord | None:
        row = await self._session.scalar(
            select(T).where(T.payout_id == payout_id, T.attempt == attempt).execution_options(populate_existing=True)
        )
        return _transfer(row) if row is not None else None

    async def transfers(self, payout_id: UUID) -> Sequence[TransferRecord]:
        rows = await self._session.scalars(select(T).where(T.payout_id == payout_id).order_by(T.attempt))
        return [_transfer(row) for row in rows]

    async def add_remittance(self, record: RemittanceRecord) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(models.WithholdingRemittance).values(
                        id=record.id,
                        tax_year=record.tax_year,
                        amount_cents=record.amount.cents,
                        currency=record.amount.currency,
                        reference=record.reference,
                        remitted_at=record.remitted_at,
                        recorded_by=record.recorded_by,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"remittance {record.reference!r} is already recorded") from exc

    async def remittances(self, tax_year: int) -> Sequence[RemittanceRecord]:
        rows = await self._session.scalars(
            select(models.WithholdingRemittance)
            .where(models.WithholdingRemittance.tax_year == tax_year)
            .order_by(models.WithholdingRemittance.remitted_at)
        )
        return [
            RemittanceRecord(
                id=row.id,
                tax_year=row.tax_year,
                amount=Money(cents=row.amount_cents, currency=row.currency),
                reference=row.reference,
                remitted_at=row.remitted_at,
                recorded_by=row.recorded_by,
            )
            for row in rows
        ]
