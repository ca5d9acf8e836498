"""Rounds, payouts and what hangs off them, as stored (DOMAIN.md §7, §8).

A round is written once, in the transaction that selects it; its date is a unique key, so a second selection on
the same day cannot commit. Payouts are `domain.payouts.Payout` values: the repository stores what the domain
decided and never decides anything itself. Two-person actions are kept as open requests that a second staff
member confirms.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.checkout import PostalAddress
from domain.money import Money
from domain.payouts import Payout, PayoutStatus
from domain.rounds import SnapshotEntry
from ports.outbound.payout_rail import PayoutMethod


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundRecord:
    id: UUID
    round_key: date
    evaluated_at: datetime
    triggered_by: str
    rules_version: int
    fund_before: Money
    reward: Money
    winners: int
    queue_size: int
    evaluated_through: int
    """Eligibility was checked for positions 1..evaluated_through; entries behind were not reached."""
    digest: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    """A snapshot entry with what only the server (and the member it belongs to) may see."""

    entry: SnapshotEntry
    membership_id: UUID
    salt: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationRecord:
    id: UUID
    evaluated_at: datetime
    triggered_by: str
    outcome: str
    """``round_opened``, ``round_exists`` or the first blocker (``no_eligible_member``, ``payouts_frozen``, …)."""
    blockers: tuple[str, ...]
    fund: Money
    queue_size: int
    round_id: UUID | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoutDetailsRecord:
    payout_id: UUID
    method: PayoutMethod
    updated_at: datetime
    holder_name: str | None = None
    routing_number: str | None = None
    account_type: str | None = None
    account_last4: str | None = None
    account_sealed: bytes | None = None
    address: PostalAddress | None = None
    address_verified: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxFormRecord:
    payout_id: UUID
    legal_name: str
    tin_type: str
    tin_last4: str
    tin_sealed: bytes
    address: PostalAddress
    certified: bool
    signed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffRequestRecord:
    id: UUID
    kind: str
    target_id: str
    reason: str
    requested_by: UUID
    requested_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRecord:
    """One processing attempt: claimed with PROCESSING, sent once the rail returned its reference."""

    payout_id: UUID
    attempt: int
    rail: str
    destination: str
    """No secrets: ``ach:<routing>:<last 4>:<type>`` or ``cheque:<ZIP>``."""
    amount: Money
    claimed_at: datetime
    submitted_by: UUID
    reference: str | None = None
    trace_number: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemittanceRecord:
    id: UUID
    tax_year: int
    amount: Money
    reference: str
    remitted_at: datetime
    recorded_by: UUID


class PayoutRepository(Protocol):
    # the program row ------------------------------------------------------------------------------------------
    async def lock_program(self) -> bool:
        """Take the program row's lock (held to commit) and return whether payouts are frozen. Every evaluation
        and every change of the switch takes it first, so they run one at a time."""
        ...

    async def set_frozen(self, frozen: bool, *, at: datetime) -> None: ...

    async def frozen(self) -> bool: ...

    # rounds ---------------------------------------------------------------------------------------------------
    async def round_by_key(self, round_key: date) -> RoundRecord | None: ...

    async def snapshot_queue(
        self, round_id: UUID, *, verdicts: Sequence[tuple[UUID, tuple[str, ...]]], unchecked_reason: str
    ) -> int:
        """Store the whole queue as the round's snapshot in one `INSERT … SELECT` (PERFORMANCE.md P3): positions
        numbered in queue order, a fresh random salt per entry, the eligibility ``verdicts`` (membership, reasons;
        none = eligible) checked for the front of the queue, and ``unchecked_reason`` for everyone else. Returns N.
        The round row itself follows with `add_round` in the same transaction."""
        ...

    async def add_chunks(self, round_id: UUID, roots: Sequence[bytes]) -> None:
        """The Merkle roots of the snapshot's aligned runs of entries, in order (see `chunked_proof`)."""
        ...

    async def chunks(self, round_id: UUID) -> Sequence[bytes]: ...

    async def add_round(self, record: RoundRecord) -> None:
        """Insert the round (its snapshot is already stored); `ConflictError` if a round already holds the date."""
        ...

    async def rounds(self, *, before: date | None, limit: int) -> Sequence[RoundRecord]:
        """Newest first."""
        ...

    async def round_entry(self, round_id: UUID, membership_id: UUID) -> StoredEntry | None: ...

    async def round_entries(self, round_id: UUID, *, after_position: int, limit: int) -> Sequence[StoredEntry]:
        """Entries in position order behind ``after_position`` (verification pages through a whole snapshot)."""
        ...

    async def add_evaluation(self, record: EvaluationRecord) -> None: ...

    async def evaluations(self, *, limit: int) -> Sequence[EvaluationRecord]:
        """Newest first."""
        ...

    # payouts --------------------------------------------------------------------------------------------------
    async def add(self, payout: Payout) -> None:
        """Insert a new payout of the round ``payout.round_key``; `ConflictError` if its membership already has
        a payout that is not cancelled (one payout per winner, a database fact)."""
        ...

    async def get(self, payout_id: UUID, *, for_update: bool = False) -> Payout | None: ...

    async def save(self, payout: Payout) -> None:
        """Store the payout's new state; approvals are appended, and an emptied approval list starts a new
        generation (the old approvals stay on record but no longer count)."""
        ...

    async def counted_win(self, account_id: UUID) -> bool:
        """Whether the person has a payout that counts as a win (§6.4): any payout not cancelled, or one cancelled
        for a disqualifying reason (a disqualified winner's membership is CANCELLED, but they still won)."""
        ...

    async def of_account(self, account_id: UUID) -> Sequence[Payout]:
        """Newest first."""
        ...

    async def of_round(self, round_key: date) -> Sequence[Payout]: ...

    async def listing(self, *, status: PayoutStatus | None, after: UUID | None, limit: int) -> Sequence[Payout]:
        """Keyset page, oldest first, optionally one status."""
        ...

    async def open_payouts(self, *, after: UUID | None, limit: int) -> Sequence[Payout]:
        """Payouts waiting for the winner (PENDING_APPROVAL, APPROVED, SCHEDULED), for reminders."""
        ...

    async def completed_in(self, tax_year: int) -> Sequence[Payout]:
        """COMPLETED payouts whose completion falls in the UTC year ``tax_year``."""
        ...

    async def completed_before(self, at: datetime, *, limit: int) -> Sequence[Payout]:
        """COMPLETED payouts completed before ``at`` whose membership is still PAID (winners due to end)."""
        ...

    # winner details -------------------------------------------------------------------------------------------
    async def details(self, payout_id: UUID) -> PayoutDetailsRecord | None: ...

    async def put_details(self, record: PayoutDetailsRecord) -> None: ...

    async def tax_form(self, payout_id: UUID) -> TaxFormRecord | None: ...

    async def put_tax_form(self, record: TaxFormRecord) -> None: ...

    async def erase_details(self, payout_id: UUID) -> None:
        """Delete a payout's bank details and W-9 (a cancelled payout: no money left, nothing to keep for tax)."""
        ...

    # two-person requests --------------------------------------------------------------------------------------
    async def open_request(self, kind: str, target_id: str) -> StaffRequestRecord | None: ...

    async def add_request(self, record: StaffRequestRecord) -> None:
        """`ConflictError` when the target already has an open request of this kind."""
        ...

    async def resolve_request(self, request_id: UUID, *, by: UUID, at: datetime, outcome: str) -> bool:
        """Close an open request; False if it was already closed (someone else got there first)."""
        ...

    # transfers and remittances --------------------------------------------------------------------------------
    async def claim_transfer(self, record: TransferRecord) -> None:
        """Claim an attempt (in the PROCESSING transaction); `ConflictError` if it is already claimed, so a rail is
        never called twice for one attempt."""
        ...

    async def mark_sent(
        self, payout_id: UUID, attempt: int, *, reference: str, trace_number: str | None, at: datetime
    ) -> bool:
        """Record what the rail did; False if the attempt was already marked sent (or never claimed)."""
        ...

    async def transfer(self, payout_id: UUID, attempt: int) -> TransferRecord | None: ...

    async def transfers(self, payout_id: UUID) -> Sequence[TransferRecord]: ...

    async def add_remittance(self, record: RemittanceRecord) -> None:
        """`ConflictError` for a reference already recorded."""
        ...

    async def remittances(self, tax_year: int) -> Sequence[RemittanceRecord]: ...
