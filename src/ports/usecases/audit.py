"""Recording audited state changes in the same transaction as the change itself; verifying every chain and
computing the daily head digest operators publish outside the database (DOMAIN.md §9)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.audit import (
    AuditRecord,
    AuditValue,
    BreakKind,
    ChainHead,
    HeadDigest,
    append,
    head_digest,
    verify_chain,
)
from ports.outbound.audit import ChainKey
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.deps import Deps

VERIFY_BATCH = 500
"""Chains per read while verifying: a few thousand links per transaction for typical chain lengths."""
HEADS_BATCH = 5000
"""Chain heads per read for the digest (one small row each)."""


async def record_audit(
    uow: UnitOfWork,
    *,
    entity_type: str,
    entity_id: str,
    actor: str,
    action: str,
    at: datetime,
    before: Mapping[str, AuditValue] | None = None,
    after: Mapping[str, AuditValue] | None = None,
    reason: str | None = None,
) -> None:
    head = await uow.audit.head(entity_type, entity_id)
    record = AuditRecord(
        entity_type=entity_type,
        entity_id=entity_id,
        seq=head.record.seq + 1 if head else 1,
        actor=actor,
        at=at,
        action=action,
        before=dict(before or {}),
        after=dict(after or {}),
        reason=reason,
    )
    await uow.audit.add(append(head, record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainBreak:
    """Where one chain stops verifying: its entity, the seq of the first link that does not hold, and why."""

    entity_type: str
    entity_id: str
    seq: int
    kind: BreakKind


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditVerification:
    """Totals of a walk over every chain (so far, while it runs) and every break found."""

    chains: int
    links: int
    breaks: tuple[ChainBreak, ...]

    @property
    def ok(self) -> bool:
        return not self.breaks


async def verify_audit_chains(
    deps: Deps,
    *,
    batch_size: int = VERIFY_BATCH,
    on_batch: Callable[[AuditVerification], None] | None = None,
) -> AuditVerification:
    """Verify every chain from its genesis link (operator command; reads only).

    Batches of whole chains, each read in its own short unit of work, so the walk neither holds one
    transaction open for hours nor keeps more than a batch in memory. `on_batch` sees the running totals.
    """
    chains = links = 0
    breaks: list[ChainBreak] = []
    after: ChainKey | None = None
    while True:
        async with deps.uow() as uow:
            batch = await uow.audit.chains(after=after, limit=batch_size)
        for chain in batch:
            outcome = verify_chain(chain)
            if outcome.kind is not None and outcome.broken_at_seq is not None:
                first = chain[0].record
                breaks.append(
                    ChainBreak(
                        entity_type=first.entity_type,
                        entity_id=first.entity_id,
                        seq=outcome.broken_at_seq,
                        kind=outcome.kind,
                    )
                )
        chains += len(batch)
        links += sum(len(chain) for chain in batch)
        if batch:
            last = batch[-1][0].record
            after = (last.entity_type, last.entity_id)
            if on_batch is not None:
                on_batch(AuditVerification(chains=chains, links=links, breaks=tuple(breaks)))
        if len(batch) < batch_size:
            return AuditVerification(chains=chains, links=links, breaks=tuple(breaks))


async def audit_head_digest(deps: Deps, day: date, *, batch_size: int = HEADS_BATCH) -> HeadDigest:
    """The digest operators publish for `day`: every chain's head as of the end of that day (UTC).

    Only links recorded before that midnight count, so once the day is over its digest never changes: a later
    recomputation that differs from the published one means history up to that midnight was rewritten.
    The heads are taken as stored; `verify_audit_chains` is what proves each chain leading to them.
    """
    upto = datetime.combine(day + timedelta(days=1), time(), UTC)
    heads: list[ChainHead] = []
    after: ChainKey | None = None
    while True:
        async with deps.uow() as uow:
            page = await uow.audit.heads(upto=upto, after=after, limit=batch_size)
        heads.extend(page)
        if len(page) < batch_size:
            return head_digest(day, heads)
        after = (page[-1].entity_type, page[-1].entity_id)
