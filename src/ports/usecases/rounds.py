"""Payout rounds (DOMAIN.md §7): the daily evaluation, its staff trigger, published roots and inclusion proofs.

One evaluation runs at a time: it locks the program row first, and a round's date is a unique key, so however
many workers or staff trigger it, a day gets at most one round. Selection, the salted snapshot, WON, the billing
pause, the payouts and the committed rewards go in one transaction: all of it happens or none does.

The snapshot holds the whole queue. Eligibility is checked, in queue order, until the fund's worth of eligible
members is found; entries behind that point are recorded `not_reached` (D115): a round never needed their
eligibility, and checking a million members would hold the lock for minutes.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from domain.eligibility import eligibility, winners_count
from domain.events import PayoutSelected, RoundNotOpened, RoundOpened
from domain.ledger import Account, reward_committed
from domain.membership import MembershipEvent, MembershipState
from domain.merkle import InclusionProof, Leaf, StreamingRoot, chunked_proof, leaf_hash, merkle_root
from domain.money import Money
from domain.payouts import new_payout
from domain.rounds import NoRound, NoRoundReason, Snapshot, SnapshotEntry, round_key, select_round, verify_entry
from domain.rules import ProgramRules
from ports.outbound.billing import MembershipRecord
from ports.outbound.errors import ConflictError
from ports.outbound.payouts import EvaluationRecord, RoundRecord, StoredEntry
from ports.outbound.tasks import Payload
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases import billing_sync
from ports.usecases.audit import record_audit
from ports.usecases.auth import Principal, require_staff
from ports.usecases.deps import Deps, PayoutServices
from ports.usecases.eligibility import facts_of, program_decision
from ports.usecases.errors import NotFound

logger = logging.getLogger(__name__)

EVALUATE_TASK = "payout.evaluate"
CRON_ACTOR = "cron"
NOT_REACHED = "not_reached"
"""Reason recorded for entries behind the last one a round needed to check (D115)."""
PAGE = 1_000
DIGEST_BATCH = 10_240
CHUNK = 1_024
"""Entries per stored chunk root (a power of two): a proof reads one chunk and N / CHUNK roots."""
TRIGGER_TRIES = 3
"""A staff trigger re-runs a refused evaluation this often before answering 409 (the job retries on its own)."""


def payout_services(deps: Deps) -> PayoutServices:
    if deps.payouts is None:
        raise RuntimeError("payout services are not configured")
    return deps.payouts


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationResult:
    day: date
    outcome: str
    """``round_opened``, ``round_exists``, ``no_eligible_member`` or the first program blocker."""
    blockers: tuple[str, ...]
    fund: Money
    winners: tuple[UUID, ...] = ()
    """The new payouts, in queue order."""


async def evaluate(deps: Deps, *, triggered_by: str) -> EvaluationResult:
    """Run §7's evaluation for today (UTC). Safe to run any number of times, concurrently: one round a day."""
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    day = round_key(now)
    async with deps.uow() as uow:
        frozen = await uow.payouts.lock_program()
        fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
        size = await uow.queue.size()

        async def finish(outcome: str, blockers: tuple[str, ...], round_id: UUID | None = None) -> EvaluationResult:
            if triggered_by != CRON_ACTOR:  # a person asked: their request is audited, whatever it found
                await record_audit(
                    uow,
                    entity_type="program",
                    entity_id="evaluations",
                    actor=triggered_by,
                    action="evaluation_triggered",
                    at=now,
                    after={"day": day.isoformat(), "outcome": outcome},
                )
            await uow.payouts.add_evaluation(
                EvaluationRecord(
                    id=deps.new_id(),
                    evaluated_at=now,
                    triggered_by=triggered_by,
                    outcome=outcome,
                    blockers=blockers,
                    fund=fund,
                    queue_size=size,
                    round_id=round_id,
                )
            )
            return EvaluationResult(day=day, outcome=outcome, blockers=blockers, fund=fund)

        if await uow.payouts.round_by_key(day) is not None:
            result = await finish("round_exists", ())
            await uow.commit()
            return result
        decision = await program_decision(uow, now=now, rules=rules, frozen=frozen)
        if not decision.ok:
            blockers = tuple(b.value for b in decision.reasons)
            result = await finish(blockers[0], blockers)
            await uow.commit()
            return result

        verdicts = await _walk(uow, now=now, rules=rules, wanted=fund // rules.reward)
        eligible = [membership_id for membership_id, reasons in verdicts if not reasons]
        count = winners_count(fund=fund, rules=rules, eligible_count=len(eligible))
        if count == 0:
            reason = NoRoundReason.NO_ELIGIBLE_MEMBER.value
            result = await finish(reason, (reason,))
            uow.record(
                event_name=RoundNotOpened.name,
                aggregate_type="round",
                aggregate_id=day.isoformat(),
                payload={"day": day.isoformat(), "reason": reason},
            )
            logger.warning("payouts were possible on %s but nobody was eligible: no round", day)
            await uow.commit()
            return result

        winners = eligible[:count]
        # Every winner's membership is locked now, in one order, before any ledger row: billing locks a membership
        # first and the ledger second, so the same order here cannot deadlock with it (D131). Eligibility is
        # then checked again under the lock: it is decided at selection (§6), not when the walk read it.
        locked_winners = {m: await _still_eligible(uow, m, now=now, rules=rules) for m in sorted(winners)}
        round_id = deps.new_id()
        size = await uow.payouts.snapshot_queue(round_id, verdicts=verdicts, unchecked_reason=NOT_REACHED)
        front = await uow.payouts.round_entries(round_id, after_position=0, limit=len(verdicts))
        walked_to_the_end = len(eligible) < fund // rules.reward
        if [stored.membership_id for stored in front] != [membership_id for membership_id, _ in verdicts] or (
            walked_to_the_end and size != len(verdicts)
        ):
            # Someone joined or left the front (or, when the walk reached the end, anywhere) between the walk and
            # the snapshot: never select from a queue that no longer exists (D124). The job retries; a staff
            # trigger retries at once.
            raise ConflictError("the queue changed during the evaluation; evaluate again")
        digest = await _digest(uow, round_id)
        last = next(i for i, (membership_id, _) in enumerate(verdicts) if membership_id == winners[-1])
        skipped = sum(1 for _, reasons in verdicts[:last] if reasons)
        await uow.payouts.add_round(
            RoundRecord(
                id=round_id,
                round_key=day,
                evaluated_at=now,
                triggered_by=triggered_by,
                rules_version=rules.version,
                fund_before=fund,
                reward=rules.reward,
                winners=count,
                queue_size=size,
                evaluated_through=len(verdicts),
                digest=digest,
            )
        )
        payout_ids = [await _make_winner(uow, deps, locked_winners[m], day=day, now=now, rules=rules) for m in winners]
        await record_audit(
            uow,
            entity_type="round",
            entity_id=day.isoformat(),
            actor=triggered_by,
            action="round_opened",
            at=now,
            after={
                "round_id": str(round_id),
                "digest": digest.hex(),
                "winners": len(payout_ids),
                "skipped": skipped,
                "fund_before_cents": fund.cents,
                "committed_cents": (rules.reward * count).cents,
                "queue_size": size,
            },
        )
        uow.record(
            event_name=RoundOpened.name,
            aggregate_type="round",
            aggregate_id=day.isoformat(),
            payload={"roundKey": day.isoformat(), "winnerCount": len(payout_ids)},
        )
        await finish("round_opened", (), round_id)
        await uow.commit()
    return EvaluationResult(day=day, outcome="round_opened", blockers=(), fund=fund, winners=tuple(payout_ids))


async def _walk(
    uow: UnitOfWork, *, now: datetime, rules: ProgramRules, wanted: int
) -> list[tuple[UUID, tuple[str, ...]]]:
    """Eligibility from the front of the queue until ``wanted`` eligible members are found (or the queue ends):
    each membership with its reasons (none = eligible), in queue order."""
    verdicts: list[tuple[UUID, tuple[str, ...]]] = []
    found = 0
    after = None
    while found < wanted:
        rows = await uow.queue.page(limit=PAGE, after=after)
        if not rows:
            break
        for row in rows:
            result = eligibility(await facts_of(uow, row.account_id, now), rules, now)
            verdicts.append((row.membership_id, tuple(reason.value for reason in result.reasons)))
            found += result.ok
            if found >= wanted:
                break
        after = rows[-1].key
    return verdicts


async def _digest(uow: UnitOfWork, round_id: UUID) -> bytes:
    """The snapshot's Merkle root, hashed while streaming its entries in position order (O(log N) memory); the
    root of every aligned run of `CHUNK` entries is stored on the way, for members' proofs."""
    root, chunk = StreamingRoot(), StreamingRoot()
    chunk_roots: list[bytes] = []
    position = 0
    while batch := await uow.payouts.round_entries(round_id, after_position=position, limit=DIGEST_BATCH):
        for stored in batch:
            leaf = leaf_hash(Leaf(salt=stored.salt, entry=stored.entry.canonical_bytes()))
            root.add(leaf)
            chunk.add(leaf)
            if chunk.size == CHUNK:
                chunk_roots.append(chunk.root())
                chunk = StreamingRoot()
        position = batch[-1].entry.position
    if chunk.size:
        chunk_roots.append(chunk.root())
    await uow.payouts.add_chunks(round_id, chunk_roots)
    return root.root()


async def _still_eligible(
    uow: UnitOfWork, membership_id: UUID, *, now: datetime, rules: ProgramRules
) -> MembershipRecord:
    """Lock a selected membership and check its eligibility again; if anything changed since the walk read it (a
    failed payment, a dispute, a revoked verification), the whole evaluation is refused (`ConflictError`, retried)
    rather than selecting from a stale queue."""
    membership = await uow.billing.get_membership(membership_id, for_update=True)
    if membership is None or membership.status is not MembershipState.ACTIVE:
        raise ConflictError("a selected membership changed during the evaluation; evaluate again")
    if not eligibility(await facts_of(uow, membership.account_id, now), rules, now).ok:
        raise ConflictError("a selected member's eligibility changed during the evaluation; evaluate again")
    return membership


async def _make_winner(
    uow: UnitOfWork, deps: Deps, membership: MembershipRecord, *, day: date, now: datetime, rules: ProgramRules
) -> UUID:
    """WON, billing paused, a payout awaiting approval and its reward committed, for one selected membership
    (locked and checked by `_still_eligible`)."""
    payout_id = deps.new_id()
    payout = new_payout(
        payout_id=str(payout_id),
        membership_id=str(membership.id),
        winner_person_id=str(membership.account_id),
        round_key=day,
        selected_at=now,
        rules=rules,
    )
    await uow.payouts.add(payout)
    await uow.ledger.post(reward_committed(payout_id=str(payout_id), gross=payout.gross, at=now))
    won = await billing_sync.change_state(
        uow, membership, MembershipEvent.WIN, at=now, actor="round", reason=day.isoformat(), billing_paused_at=now
    )
    if won.provider_subscription_id:
        billing_sync.command(
            uow, billing_sync.COLLECTION_PAUSE_REQUESTED, won, subscriptionId=won.provider_subscription_id, pause=True
        )
    await record_audit(
        uow,
        entity_type="payout",
        entity_id=str(payout_id),
        actor="round",
        action="selected",
        at=now,
        after={
            "status": payout.status.value,
            "membership_id": str(membership.id),
            "round": day.isoformat(),
            "gross_cents": payout.gross.cents,
            "rules_version": payout.rules_version,
        },
    )
    billing_sync.notify(
        uow,
        PayoutSelected.name,
        won,
        payoutId=str(payout_id),
        roundKey=day.isoformat(),
        grossCents=payout.gross.cents,
    )
    return payout_id


async def run_evaluation(deps: Deps, payload: Payload) -> str:
    """Cron job (00:30 UTC)."""
    del payload
    return (await evaluate(deps, triggered_by=CRON_ACTOR)).outcome


async def trigger_evaluation(deps: Deps, staff: Principal) -> EvaluationResult:
    """Staff run today's evaluation now (the same one as the cron job; audited by its evaluation record)."""
    require_staff(staff)
    for _ in range(TRIGGER_TRIES - 1):
        try:
            return await evaluate(deps, triggered_by=f"staff:{staff.account_id}")
        except ConflictError:  # a selected membership changed meanwhile (D124): evaluate again, from a fresh read
            continue
    return await evaluate(deps, triggered_by=f"staff:{staff.account_id}")


# -- transparency ------------------------------------------------------------------------------------------------


async def published_rounds(deps: Deps, *, before: date | None, limit: int) -> list[RoundRecord]:
    """Rounds with their published roots, newest first (public: a root reveals nothing about anyone)."""
    async with deps.uow() as uow:
        return list(await uow.payouts.rounds(before=before, limit=limit))


async def published_round(deps: Deps, key: date) -> RoundRecord:
    async with deps.uow() as uow:
        found = await uow.payouts.round_by_key(key)
    if found is None:
        raise NotFound("no round on that date")
    return found


async def _all_entries(uow: UnitOfWork, round_id: UUID) -> list[StoredEntry]:
    entries: list[StoredEntry] = []
    while batch := await uow.payouts.round_entries(
        round_id, after_position=entries[-1].entry.position if entries else 0, limit=10 * PAGE
    ):
        entries.extend(batch)
    return entries


@dataclass(frozen=True, slots=True, kw_only=True)
class MyEntry:
    """A member's own entry of a round, with the salt and the proof that it is under the published root."""

    round: RoundRecord
    entry: SnapshotEntry
    salt: bytes
    proof: InclusionProof


async def my_round_entry(deps: Deps, principal: Principal, key: date) -> MyEntry:
    """My entry in a round's snapshot and its inclusion proof; 404 when I was not in that round's queue."""
    async with deps.uow() as uow:
        found = await uow.payouts.round_by_key(key)
        mine = None
        if found is not None:
            for membership in await uow.billing.memberships_of(principal.account_id):
                mine = await uow.payouts.round_entry(found.id, membership.id)
                if mine is not None:
                    break
        if found is None or mine is None:
            raise NotFound("you have no entry in that round")
        chunk_index, index_in_chunk = divmod(mine.entry.position - 1, CHUNK)
        chunk = await uow.payouts.round_entries(found.id, after_position=chunk_index * CHUNK, limit=CHUNK)
        roots = await uow.payouts.chunks(found.id)
    proof = chunked_proof(
        chunk=[Leaf(salt=stored.salt, entry=stored.entry.canonical_bytes()) for stored in chunk],
        index_in_chunk=index_in_chunk,
        chunk_roots=roots,
        chunk_index=chunk_index,
        chunk_size=CHUNK,
        tree_size=found.queue_size,
    )
    return MyEntry(round=found, entry=mine.entry, salt=mine.salt, proof=proof)


async def check_entry(deps: Deps, key: date, *, entry: SnapshotEntry, salt: bytes, proof: InclusionProof) -> bool:
    """Does this (entry, salt, proof) belong under the round's published root? Anyone may ask."""
    published = await published_round(deps, key)
    return verify_entry(digest=published.digest, entry=entry, salt=salt, proof=proof)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundCheck:
    round_key: date
    entries: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_round(deps: Deps, key: date) -> RoundCheck:
    """Operator check of a stored round: the snapshot is well-formed and hashes to its published root, and the
    round's payouts are exactly its first eligible entries (nobody picked by hand, nobody passed over)."""
    async with deps.uow() as uow:
        found = await uow.payouts.round_by_key(key)
        if found is None:
            raise NotFound("no round on that date")
        entries = await _all_entries(uow, found.id)
        payouts = await uow.payouts.of_round(key)
        stored_chunks = list(await uow.payouts.chunks(found.id))
    problems: list[str] = []
    leaves = [Leaf(salt=stored.salt, entry=stored.entry.canonical_bytes()) for stored in entries]
    if stored_chunks != [merkle_root(leaves[i : i + CHUNK]) for i in range(0, len(leaves), CHUNK)]:
        problems.append("the stored chunk roots (members' proofs) do not match the snapshot")
    snapshot = Snapshot(round_key=key, entries=tuple(stored.entry for stored in entries))
    salts = {stored.entry.member_number: stored.salt for stored in entries}
    # The selection re-run by the domain over the stored snapshot, the fund at selection and the round's rules.
    selected = select_round(
        snapshot=snapshot, fund=found.fund_before, rules=deps.rules.version(found.rules_version), salts=salts
    )
    if selected.digest != found.digest:
        problems.append("the snapshot does not hash to the published root")
    by_number = {stored.entry.member_number: stored.membership_id for stored in entries}
    chosen = [] if isinstance(selected, NoRound) else [by_number[w.member_number] for w in selected.winners]
    if len(chosen) != found.winners or sorted(chosen) != sorted(UUID(p.membership_id) for p in payouts):
        problems.append("the round's payouts are not the winners its snapshot and fund select")
    if any(e.entry.position > found.evaluated_through and e.entry.reasons != (NOT_REACHED,) for e in entries):
        problems.append("an entry behind the evaluated part has a verdict")
    if any(e.entry.position <= found.evaluated_through and e.entry.reasons == (NOT_REACHED,) for e in entries):
        problems.append("an entry of the evaluated part has no verdict")
    return RoundCheck(round_key=key, entries=len(entries), problems=tuple(problems))


async def evaluations(deps: Deps, staff: Principal, *, limit: int) -> list[EvaluationRecord]:
    """The latest evaluations, whatever their outcome (staff: why was there no round today?)."""
    require_staff(staff)
    async with deps.uow() as uow:
        return list(await uow.payouts.evaluations(limit=limit))
