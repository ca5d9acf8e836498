"""The queue on SQL: the bucket index of `domain.queue_index`, the serialised move log, and keyset reads.

Writes. The billing repository reports every membership state change here (`note`). At commit the unit of work
calls `flush`, which — last in the transaction, after every membership row lock the transaction takes —
locks the one `queue_head` row, then applies one count change per level per move (bucket rows in one global
order) and appends the moves with gap-free sequence numbers and their exact positions. Serialising moves costs
little (joins and leaves are rare next to payments) and makes every recorded position exact under concurrency.

Reads. A position is one statement, built once with bind parameters (no per-call SQL construction): the bucket
ranges ahead (≤ 1 + years/2 + 4 × 15 rows of a primary key) plus the rows inside the key's own ~17-minute bucket.
Statuses are literals, so the planner can match the partial indexes. Statements see one snapshot, so a lookup
never mixes a half-applied move (moves commit with the membership change that caused them).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import models
from adapters.sql.engine import dialect_insert
from domain.membership import QUEUE_STATES, MembershipState
from domain.queue import MoveReason, QueueKey, QueueMove, move_reason, queue_key
from domain.queue_index import LEVEL_SHIFTS, BucketDelta, deltas, lookup
from ports.outbound.queue import Candidate, IndexDrift, QueuePlace, QueueRow

logger = logging.getLogger(__name__)

M = models.Membership
C = models.QueueCount
H = models.QueueHead
Q = models.QueueMoveRow
_HEAD_ID = 1


@dataclass(slots=True)
class _Noted:
    """A membership's state when the transaction first touched it, and its latest state and key."""

    before: MembershipState | None
    before_key: QueueKey | None
    after: MembershipState
    after_key: QueueKey | None


def _in_queue() -> Any:
    """Literal statuses (not bind parameters): a cached generic plan can still use the partial queue indexes."""
    return text("memberships.status IN ('ACTIVE', 'PAST_DUE')")


def _ts(value: datetime | None = None, name: str | None = None) -> Any:
    """A tenure-start value bound with the column's own type (UTC conversion and SQLite's stored text form)."""
    if name is not None:
        return bindparam(name, type_=M.tenure_start.type)
    return literal(value, type_=M.tenure_start.type)


def _behind(key: QueueKey) -> ColumnElement[bool]:
    return tuple_(M.tenure_start, M.member_number) > tuple_(_ts(key.tenure_start), literal(key.member_number))


def _ahead_statement() -> Any:
    """SELECT (queue memberships ahead of :ts/:num), with one bound range per level and the own-bucket scan.

    The own-bucket scan is bounded above by ``tenure_start <= :ts`` as well as by the row comparison: PostgreSQL
    estimates a row comparison from its first column only, and without the explicit bound it expects half the
    table at mid ranks and plans a parallel scan for what is a handful of index entries.
    """
    ranges = [and_(C.level == literal_column("0"), C.bucket_start < bindparam("high0", type_=BigInteger))]
    ranges.extend(
        and_(
            C.level == literal_column(str(level)),
            C.bucket_start >= bindparam(f"low{level}", type_=BigInteger),
            C.bucket_start < bindparam(f"high{level}", type_=BigInteger),
        )
        for level in range(1, len(LEVEL_SHIFTS))
    )
    in_buckets = select(func.coalesce(func.sum(C.members), 0)).where(or_(*ranges)).scalar_subquery()
    in_own_bucket = (
        select(func.count())
        .select_from(M)
        .where(
            _in_queue(),
            M.tenure_start >= _ts(name="scan_from"),
            M.tenure_start <= _ts(name="ts"),
            tuple_(M.tenure_start, M.member_number) < tuple_(_ts(name="ts"), bindparam("num", type_=BigInteger)),
        )
        .scalar_subquery()
    )
    return cast(in_buckets, BigInteger) + in_own_bucket


_AHEAD = _ahead_statement()
_SIZE = select(H.size).where(H.id == literal_column(str(_HEAD_ID))).scalar_subquery()
_PLACE_COLUMNS = (M.id, M.account_id, M.status, M.tenure_start, M.member_number, M.cancel_effective_at)


def _around_statement() -> Any:
    """Up to :radius rows ahead of (:ts, :num), its own row, and up to :radius behind, with a side marker."""
    columns = (M.tenure_start, M.member_number, M.id, M.account_id)
    key = tuple_(_ts(name="ts"), bindparam("num", type_=BigInteger))
    radius = bindparam("radius", type_=BigInteger)
    ahead = (
        select(*columns, literal_column("-1").label("side"))
        .where(_in_queue(), tuple_(M.tenure_start, M.member_number) < key)
        .order_by(M.tenure_start.desc(), M.member_number.desc())
        .limit(radius)
        .subquery()
    )
    own: Any = select(*columns, literal_column("0").label("side")).where(
        _in_queue(), M.tenure_start == _ts(name="ts"), M.member_number == bindparam("num", type_=BigInteger)
    )
    behind = (
        select(*columns, literal_column("1").label("side"))
        .where(_in_queue(), tuple_(M.tenure_start, M.member_number) > key)
        .order_by(M.tenure_start, M.member_number)
        .limit(radius)
        .subquery()
    )
    return select(ahead).union_all(own, select(behind))


def _moves_statement() -> Any:
    """The membership's own moves and the shifting moves ranked ahead of (:ts, :num) since its first join (all
    moves when it has none: queued before the log), strictly before :before, newest first, at most :limit."""
    me = bindparam("me", type_=Q.membership_id.type)
    before = bindparam("before", type_=BigInteger)
    limit = bindparam("limit", type_=BigInteger)
    joined = Q.reason.in_([r.value for r in MoveReason if r.is_join])
    first = func.coalesce(select(func.min(Q.seq)).where(Q.membership_id == me, joined).scalar_subquery(), 0)
    columns = (Q.seq, Q.at, Q.membership_id, Q.tenure_start, Q.member_number, Q.reason, Q.position, Q.size_after)
    own = select(*columns).where(Q.membership_id == me, Q.seq < before).order_by(Q.seq.desc()).limit(limit).subquery()
    ahead = (
        select(*columns)
        .where(
            text("queue_moves.shifts_others"),
            Q.seq >= first,
            Q.seq < before,
            Q.tenure_start <= _ts(name="ts"),  # a simple range the planner estimates (see `_ahead_statement`)
            tuple_(Q.tenure_start, Q.member_number) < tuple_(_ts(name="ts"), bindparam("num", type_=BigInteger)),
        )
        .order_by(Q.seq.desc())
        .limit(limit)
        .subquery()
    )
    merged = select(own).union_all(select(ahead)).subquery()
    return select(merged).order_by(merged.c.seq.desc()).limit(limit)


_AROUND = _around_statement()
_MOVES = _moves_statement()
_NO_BOUND = 2**62
"""`before` when reading from the newest move."""


def _ahead_params(key: QueueKey) -> dict[str, Any]:
    plan = lookup(key.tenure_start)
    params: dict[str, Any] = {"scan_from": plan.scan_from, "ts": key.tenure_start, "num": key.member_number}
    for r in plan.ranges:
        params[f"high{r.level}"] = r.high
        if r.low is not None:
            params[f"low{r.level}"] = r.low
    return params


class SqlQueueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._noted: dict[UUID, _Noted] = {}

    # -- writes -----------------------------------------------------------------------------------------------

    def note(
        self,
        membership_id: UUID,
        *,
        before: MembershipState | None,
        before_key: QueueKey | None,
        after: MembershipState,
        after_key: QueueKey | None,
    ) -> None:
        """Remember a state change; the net move per membership is applied at `flush`."""
        seen = self._noted.get(membership_id)
        if seen is None:
            self._noted[membership_id] = _Noted(before=before, before_key=before_key, after=after, after_key=after_key)
        else:
            seen.after, seen.after_key = after, after_key

    def forget(self) -> None:
        self._noted.clear()

    async def flush(self, *, at: datetime) -> int:
        """Apply the noted moves (leaves first, then joins, each in key order); returns how many were applied."""
        noted, self._noted = self._noted, {}
        leaves: list[tuple[UUID, QueueKey, MoveReason]] = []
        joins: list[tuple[UUID, QueueKey, MoveReason]] = []
        for membership_id, change in noted.items():
            was_key = change.before_key if change.before in QUEUE_STATES else None
            now_in = change.after in QUEUE_STATES
            if was_key is not None and (not now_in or change.after_key != was_key):
                leaves.append((membership_id, was_key, move_reason(change.before, change.after) or MoveReason.LEFT))
            if now_in and change.after_key is not None and change.after_key != was_key:
                reason = move_reason(change.before, change.after) or MoveReason.REINSTATED
                joins.append((membership_id, change.after_key, reason))
        if not leaves and not joins:
            return 0
        head = (
            await self._session.execute(
                update(H).where(H.id == _HEAD_ID).values(updated_at=at).returning(H.size, H.last_seq)
            )
        ).one()
        size, seq = int(head.size), int(head.last_seq)
        rows: list[dict[str, Any]] = []
        # One move at a time, in sequence order, so each recorded position is exact after the moves before it.
        ordered_leaves = sorted(leaves, key=lambda item: item[1])
        for index, (membership_id, key, reason) in enumerate(ordered_leaves):
            # Joins of this transaction are already written to `memberships` but not yet counted in buckets; those
            # in the leaver's own smallest bucket and ahead of it would be counted by the row scan: leave them out.
            scan_from = lookup(key.tenure_start).scan_from
            pending = sum(1 for _, joined, _ in joins if joined < key and joined.tenure_start >= scan_from)
            position = await self.position(key) - pending
            # The rows already lack every leaver of this flush; those still to leave stand behind this one now.
            shifts = index < len(ordered_leaves) - 1 or await self._anyone_behind(key)
            await self._apply(deltas(key.tenure_start, -1))
            size -= 1
            seq += 1
            rows.append(_move_row(seq, at, membership_id, key, reason, position, size, shifts))
        for membership_id, key, reason in sorted(joins, key=lambda item: item[1]):
            await self._apply(deltas(key.tenure_start, +1))
            position = await self.position(key)
            shifts = await self._anyone_behind(key)
            size += 1
            seq += 1
            rows.append(_move_row(seq, at, membership_id, key, reason, position, size, shifts))
        await self._session.execute(update(H).where(H.id == _HEAD_ID).values(size=size, last_seq=seq))
        await self._session.execute(insert(Q), rows)
        return len(rows)

    async def _anyone_behind(self, key: QueueKey) -> bool:
        """Whether any queue membership ranks behind `key` — read from the rows, not the counts, so a drifted index
        cannot mislabel a move. Joins later in the same flush may answer yes early: harmless (a move flagged as
        shifting others is only read, never skipped)."""
        found = await self._session.scalar(
            select(M.id).where(_in_queue(), _behind(key)).order_by(M.tenure_start, M.member_number).limit(1)
        )
        return found is not None

    async def _apply(self, changes: Sequence[BucketDelta]) -> None:
        upsert = dialect_insert(self._session)
        for change in changes:
            if change.delta < 0:  # the bucket exists (it counts the leaver); an upsert's INSERT would fail the CHECK
                done = await self._session.execute(
                    update(C)
                    .where(C.level == change.level, C.bucket_start == change.start, C.members >= -change.delta)
                    .values(members=C.members + change.delta)
                )
                if getattr(done, "rowcount", 1) != 1:
                    # The index has drifted from the memberships. Never fail the membership change (a payment, a
                    # default) over a derived count: alert, and let `tenure queue verify` / `rebuild` repair it.
                    logger.error(
                        "queue index drift: bucket %s/%s cannot lose %s; run `tenure queue rebuild`",
                        change.level,
                        change.start,
                        -change.delta,
                        extra={"alert": "queue_index_drift"},
                    )
                continue
            stmt = upsert(C).values(level=change.level, bucket_start=change.start, members=change.delta)
            await self._session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["level", "bucket_start"], set_={"members": C.members + stmt.excluded.members}
                )
            )

    # -- positions ---------------------------------------------------------------------------------------------

    async def position(self, key: QueueKey) -> int:
        """1 + queue memberships ahead of `key` (whether or not `key` itself is in the queue)."""
        return 1 + int(await self._session.scalar(select(_AHEAD), _ahead_params(key)) or 0)

    async def size(self) -> int:
        return int(await self._session.scalar(select(H.size).where(H.id == _HEAD_ID)) or 0)

    async def place_of_account(self, account_id: UUID) -> QueuePlace | None:
        row = (
            await self._session.execute(select(*_PLACE_COLUMNS).where(M.account_id == account_id, _in_queue()))
        ).first()
        return await self._place(row)

    async def place_of_membership(self, membership_id: UUID) -> QueuePlace | None:
        row = (await self._session.execute(select(*_PLACE_COLUMNS).where(M.id == membership_id, _in_queue()))).first()
        return await self._place(row)

    async def _place(self, row: Any) -> QueuePlace | None:
        if row is None:
            return None
        membership_id, account_id, status, tenure_start, member_number, cancel_effective_at = row
        key = queue_key(tenure_start, member_number)
        if key is None:
            return None
        ahead, size = (await self._session.execute(select(_AHEAD, _SIZE), _ahead_params(key))).one()
        return QueuePlace(
            membership_id=membership_id,
            account_id=account_id,
            status=MembershipState(status.lower()),
            key=key,
            cancel_effective_at=cancel_effective_at,
            position=1 + int(ahead or 0),
            size=int(size or 0),
        )

    async def rows_around(self, key: QueueKey, position: int, *, radius: int) -> Sequence[QueueRow]:
        """One round trip: up to `radius` rows ahead (nearest first), the key's own row, up to `radius` behind."""
        params = {"ts": key.tenure_start, "num": key.member_number, "radius": radius}
        found = (await self._session.execute(_AROUND, params)).all()
        ordered = sorted(found, key=lambda r: (r[0], r[1]))
        me = next((i for i, r in enumerate(ordered) if r[4] == 0), None)
        first = position - (me if me is not None else sum(1 for r in ordered if r[4] < 0))
        return [_row(first + i, r[:4]) for i, r in enumerate(ordered)]

    async def page(
        self, *, limit: int, after: QueueKey | None = None, start: QueueKey | None = None
    ) -> Sequence[QueueRow]:
        stmt = select(M.tenure_start, M.member_number, M.id, M.account_id).where(_in_queue())
        if after is not None:
            stmt = stmt.where(_behind(after))
        if start is not None:
            stmt = stmt.where(
                tuple_(M.tenure_start, M.member_number) >= tuple_(_ts(start.tenure_start), literal(start.member_number))
            )
        found = (await self._session.execute(stmt.order_by(M.tenure_start, M.member_number).limit(limit))).all()
        if not found:
            return []
        first = await self.position(QueueKey(tenure_start=found[0][0], member_number=found[0][1]))
        return [_row(first + i, row) for i, row in enumerate(found)]

    async def wins_recorded(self) -> int:
        return int(
            await self._session.scalar(select(func.count()).select_from(Q).where(text("queue_moves.reason = 'won'")))
            or 0
        )

    async def winners_so_far(self) -> int:
        return int(
            await self._session.scalar(
                select(func.count()).select_from(M).where(text("memberships.status IN ('WON', 'PAID', 'ENDED')"))
            )
            or 0
        )

    async def key_at(self, position: int) -> QueueKey | None:
        if position < 1:
            return None
        remaining = position
        low: int | None = None
        for level in range(len(LEVEL_SHIFTS)):
            stmt = select(C.bucket_start, C.members).where(C.level == level, C.members > 0)
            if low is not None:
                stmt = stmt.where(C.bucket_start >= low, C.bucket_start < low + (1 << LEVEL_SHIFTS[level - 1]))
            chosen = None
            for start, members in await self._session.execute(stmt.order_by(C.bucket_start)):
                if remaining <= members:
                    chosen = start
                    break
                remaining -= members
            if chosen is None:
                return None
            low = chosen
        assert low is not None
        found = (
            await self._session.execute(
                select(M.tenure_start, M.member_number)
                .where(_in_queue(), M.tenure_start >= _ts(datetime.fromtimestamp(low, UTC)))
                .order_by(M.tenure_start, M.member_number)
                .offset(remaining - 1)
                .limit(1)
            )
        ).first()
        return QueueKey(tenure_start=found[0], member_number=found[1]) if found else None

    async def candidates(self, *, after: QueueKey | None, limit: int) -> Sequence[Candidate]:
        K = models.KycRecord
        stmt = (
            select(M.id, M.account_id, M.tenure_start, M.member_number)
            .join(K, K.account_id == M.account_id)
            .where(
                text("memberships.status = 'ACTIVE' AND memberships.cancel_effective_at IS NULL"),
                text("kyc_records.status = 'verified'"),
            )
            .order_by(M.tenure_start, M.member_number)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(_behind(after))
        found = []
        for membership_id, account_id, tenure_start, member_number in await self._session.execute(stmt):
            key = QueueKey(tenure_start=tenure_start, member_number=member_number)
            found.append(
                Candidate(
                    membership_id=membership_id, account_id=account_id, position=await self.position(key), key=key
                )
            )
        return found

    # -- moves -------------------------------------------------------------------------------------------------

    async def moves(
        self, *, membership_id: UUID, key: QueueKey, before_seq: int | None, limit: int
    ) -> Sequence[QueueMove]:
        params = {
            "me": membership_id,
            "ts": key.tenure_start,
            "num": key.member_number,
            "before": before_seq if before_seq is not None else _NO_BOUND,
            "limit": limit,
        }
        rows = await self._session.execute(_MOVES, params)
        return [
            QueueMove(
                seq=row.seq,
                at=row.at,
                membership_id=str(row.membership_id),
                key=QueueKey(tenure_start=row.tenure_start, member_number=row.member_number),
                reason=MoveReason(row.reason),
                position=row.position,
                size_after=row.size_after,
            )
            for row in rows
        ]

    # -- operator checks ---------------------------------------------------------------------------------------

    def _epoch(self) -> Any:
        assert self._session.bind is not None
        if self._session.bind.dialect.name == "sqlite":
            return cast(func.strftime("%s", M.tenure_start), BigInteger)
        return cast(func.floor(func.extract("epoch", M.tenure_start)), BigInteger)

    def _recount(self) -> Any:
        """Per-bucket counts at every level, recomputed from the memberships in one scan (a CTE of the smallest
        buckets rolled up level by level)."""
        smallest = LEVEL_SHIFTS[-1]
        epoch = self._epoch()
        base = (
            select(_truncate(epoch, smallest).label("b"), func.count().label("n"))
            .where(_in_queue())
            .group_by(literal_column("b"))
            .cte("smallest")
        )
        parts = []
        for level, shift in enumerate(LEVEL_SHIFTS):
            start = _truncate(base.c.b, shift).label("bucket_start")
            parts.append(
                select(literal_column(str(level)).label("level"), start, func.sum(base.c.n).label("members")).group_by(
                    literal_column("bucket_start")
                )
            )
        return parts[0].union_all(*parts[1:])

    async def verify(self) -> IndexDrift:
        counted = {(int(level), int(b)): int(n) for level, b, n in await self._session.execute(self._recount())}
        stored = {
            (int(level), int(b)): int(n)
            for level, b, n in await self._session.execute(
                select(C.level, C.bucket_start, C.members).where(C.members != 0)
            )
        }
        wrong = sum(1 for bucket in counted.keys() | stored.keys() if counted.get(bucket, 0) != stored.get(bucket, 0))
        size_counted = int(await self._session.scalar(select(func.count()).select_from(M).where(_in_queue())) or 0)
        return IndexDrift(size_stored=await self.size(), size_counted=size_counted, buckets_wrong=wrong)

    async def rebuild(self, *, at: datetime) -> int:
        await self._session.execute(update(H).where(H.id == _HEAD_ID).values(updated_at=at))  # lock out moves
        assert self._session.bind is not None
        # DELETE, not TRUNCATE: readers keep seeing the old counts until this commits (TRUNCATE's exclusive lock
        # would stall every position read for the seconds a rebuild takes).
        await self._session.execute(delete(C))
        if self._session.bind.dialect.name == "postgresql":
            await self._session.execute(text("SET LOCAL work_mem = '64MB'"))  # the recount's aggregate in memory
        recount = self._recount().subquery()
        await self._session.execute(
            insert(C).from_select(
                ["level", "bucket_start", "members"],
                select(recount.c.level, recount.c.bucket_start, recount.c.members).order_by(
                    recount.c.level, recount.c.bucket_start
                ),
            )
        )
        size = int(await self._session.scalar(select(func.count()).select_from(M).where(_in_queue())) or 0)
        await self._session.execute(update(H).where(H.id == _HEAD_ID).values(size=size))
        return size


def _row(position: int, found: Any) -> QueueRow:
    tenure_start, member_number, membership_id, account_id = found
    return QueueRow(
        position=position,
        key=QueueKey(tenure_start=tenure_start, member_number=member_number),
        membership_id=membership_id,
        account_id=account_id,
    )


def _truncate(seconds: Any, shift: int) -> Any:
    """``(seconds >> shift) << shift`` in SQL (the shift inlined: PostgreSQL has no ``bigint >> bigint``)."""
    amount: Any = literal_column(str(int(shift)))
    return seconds.op(">>")(amount).op("<<")(amount)


def _move_row(  # noqa: PLR0917 -- one row's columns, private
    seq: int,
    at: datetime,
    membership_id: UUID,
    key: QueueKey,
    reason: MoveReason,
    position: int,
    size_after: int,
    shifts_others: bool,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "membership_id": membership_id,
        "tenure_start": key.tenure_start,
        "member_number": key.member_number,
        "reason": reason.value,
        "position": position,
        "size_after": size_after,
        # A join at the end, or the last member leaving, moves nobody (histories skip such moves).
        "shifts_others": shifts_others,
    }
