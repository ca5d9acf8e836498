"""The queue as members and the public see it (DOMAIN.md §4): my place, my history, anonymised pages, statistics.

Members see their own position, N, tenure, at-risk flag, the positions and tenure months of their window, and
every change of their position with its cause. The public sees pages of position + tenure month and program
statistics — never a member number, a status or a reason. Public cursors are sealed (they hold a queue key,
which includes a member number) so a page link reveals nothing either.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from domain.calendar import Tenure, tenure_between
from domain.estimates import DEFAULT_ESTIMATE_POLICY, Estimate, next_payout_estimate
from domain.ledger import Account
from domain.money import Money
from domain.queue import (
    AtRisk,
    PositionChange,
    QueueKey,
    at_risk,
    member_history,
    member_window,
    queue_key,
    tenure_month,
)
from ports.outbound.queue import QueueRow
from ports.outbound.security import SecretBox
from ports.outbound.unit_of_work import UnitOfWork
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput

MAX_PAGE = 100
DEFAULT_PAGE = 50
HISTORY_PREVIEW = 10
_CURSOR_CONTEXT = "queue-page-cursor"


@dataclass(frozen=True, slots=True, kw_only=True)
class Neighbour:
    position: int
    tenure_month: str
    me: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    changes: tuple[PositionChange, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MyQueue:
    in_queue: bool
    status: str | None
    position: int | None
    size: int
    tenure_start: datetime | None
    tenure: Tenure | None
    at_risk: AtRisk
    window: tuple[Neighbour, ...]
    history: History


async def my_queue(deps: Deps, principal: Principal, *, history_limit: int = HISTORY_PREVIEW) -> MyQueue:
    """My place now, the window around it, and the newest changes of my position (more via `my_history`)."""
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    async with deps.uow() as uow:
        place = await uow.queue.place_of_account(principal.account_id)
        if place is None:
            size = await uow.queue.size()
            latest = next(iter(await uow.billing.memberships_of(principal.account_id)), None)
            key = queue_key(latest.tenure_start, latest.member_number) if latest else None
            history = (
                await history_page(
                    uow, membership_id=latest.id, key=key, position_now=None, cursor=None, limit=history_limit
                )
                if latest and key
                else History(changes=(), next_cursor=None)
            )
            return MyQueue(
                in_queue=False,
                status=latest.status.value if latest else None,
                position=None,
                size=size,
                tenure_start=None,
                tenure=None,
                at_risk=AtRisk(at_risk=False, reasons=()),
                window=(),
                history=history,
            )
        rows = await uow.queue.rows_around(place.key, place.position, radius=rules.queue_window_radius)
        history = await history_page(
            uow,
            membership_id=place.membership_id,
            key=place.key,
            position_now=place.position,
            cursor=None,
            limit=history_limit,
        )
    shown = member_window(place.position, place.size, radius=rules.queue_window_radius)
    return MyQueue(
        in_queue=True,
        status=place.status.value,
        position=place.position,
        size=place.size,
        tenure_start=place.key.tenure_start,
        tenure=tenure_between(place.key.tenure_start, max(now, place.key.tenure_start)),
        at_risk=at_risk(state=place.status, cancellation_scheduled=place.cancel_effective_at is not None),
        window=tuple(
            Neighbour(position=row.position, tenure_month=tenure_month(row.key.tenure_start), me=row.key == place.key)
            for row in rows
            if row.position in shown
        ),
        history=history,
    )


async def my_history(deps: Deps, principal: Principal, *, cursor: str | None, limit: int) -> History:
    """Older changes of my position, continuing from a cursor `my_queue` or an earlier page returned."""
    _check_limit(limit)
    async with deps.uow() as uow:
        latest = next(iter(await uow.billing.memberships_of(principal.account_id)), None)
        key = queue_key(latest.tenure_start, latest.member_number) if latest else None
        if latest is None or key is None:
            return History(changes=(), next_cursor=None)
        place = None if cursor else await uow.queue.place_of_membership(latest.id)
        return await history_page(
            uow,
            membership_id=latest.id,
            key=key,
            position_now=place.position if place else None,
            cursor=cursor,
            limit=limit,
        )


async def history_page(
    uow: UnitOfWork,
    *,
    membership_id: UUID,
    key: QueueKey,
    position_now: int | None,
    cursor: str | None,
    limit: int,
) -> History:
    """A page of the membership's position history, newest first: from now, or from where `cursor` left off."""
    before_seq, position = _parse_history_cursor(cursor) if cursor else (None, position_now)
    changes: list[PositionChange] = []
    batch = limit * 4
    while True:
        moves = await uow.queue.moves(membership_id=membership_id, key=key, before_seq=before_seq, limit=batch)
        page = member_history(
            moves, membership_id=str(membership_id), key=key, position_after=position, limit=limit - len(changes)
        )
        changes.extend(page.changes)
        position = page.position_before
        if len(changes) >= limit:  # the walk stopped right after the move of the last change
            return History(changes=tuple(changes), next_cursor=_history_cursor(changes[-1].seq, position))
        if len(moves) < batch:
            return History(changes=tuple(changes), next_cursor=None)
        before_seq = moves[-1].seq


def _history_cursor(before_seq: int, position: int | None) -> str:
    return f"{before_seq}.{position if position is not None else ''}"


def _parse_history_cursor(cursor: str) -> tuple[int, int | None]:
    seq, _, position = cursor.partition(".")
    if not seq.isdigit() or (position and not position.isdigit()):
        raise InvalidInput("the cursor is not one this endpoint returned", ("cursor",))
    return int(seq), int(position) if position else None


# -- public ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicRow:
    position: int
    tenure_month: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicPage:
    items: tuple[PublicRow, ...]
    next_cursor: str | None
    size: int


async def public_page(
    deps: Deps, *, cursor: str | None, limit: int = DEFAULT_PAGE, from_position: int | None = None
) -> PublicPage:
    """An anonymised page in queue order: after a cursor, or starting at a position (jump), or from the front."""
    _check_limit(limit)
    if cursor is not None and from_position is not None:
        raise InvalidInput("give either a cursor or a starting position, not both", ("cursor", "fromPosition"))
    async with deps.uow() as uow:
        size = await uow.queue.size()
        after: QueueKey | None = None
        rows: list[QueueRow]
        if cursor is not None:
            after = _open_cursor(deps, cursor)
            rows = list(await uow.queue.page(after=after, limit=limit))
        elif from_position is not None:
            if from_position < 1:
                raise InvalidInput("fromPosition starts at 1", ("fromPosition",))
            start = await uow.queue.key_at(from_position)
            rows = [] if start is None else list(await uow.queue.page(start=start, limit=limit))
        else:
            rows = list(await uow.queue.page(after=None, limit=limit))
    next_cursor = _seal_cursor(deps, rows[-1].key) if len(rows) == limit else None
    return PublicPage(
        items=tuple(PublicRow(position=r.position, tenure_month=tenure_month(r.key.tenure_start)) for r in rows),
        next_cursor=next_cursor,
        size=size,
    )


def _seal_cursor(deps: Deps, key: QueueKey) -> str:
    box = _box(deps)
    plain = f"{key.tenure_start.isoformat()}|{key.member_number}".encode()
    return box.seal(plain, context=_CURSOR_CONTEXT).hex()


def _open_cursor(deps: Deps, cursor: str) -> QueueKey:
    try:
        plain = _box(deps).open(bytes.fromhex(cursor), context=_CURSOR_CONTEXT).decode()
        stamp, number = plain.split("|")
        return QueueKey(tenure_start=datetime.fromisoformat(stamp), member_number=int(number))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the cursor is not one this endpoint returned", ("cursor",)) from None


def _box(deps: Deps) -> SecretBox:
    if deps.auth is None:
        raise RuntimeError("the public queue needs the secret box of the auth services")
    return deps.auth.box


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStats:
    size: int
    fund: Money
    winners_so_far: int
    estimate: Estimate | None
    payouts_from: datetime | None
    inflow_90_days: Money
    at: datetime


async def queue_stats(deps: Deps) -> QueueStats:
    """N, the fund (the ledger's fund account), winners so far, and the next-payout estimate with its basis."""
    now = deps.clock.now()
    rules = deps.rules.in_force(now)
    since = now.date() - timedelta(days=DEFAULT_ESTIMATE_POLICY.window_days - 1)
    async with deps.uow() as uow:
        size = await uow.queue.size()
        fund = await uow.ledger.balance(Account.FUND, rules.reward.currency)
        inflow = await uow.ledger.fund_inflow_since(since, rules.reward.currency)
        winners = await uow.queue.winners_so_far()
    return QueueStats(
        size=size,
        fund=fund,
        winners_so_far=winners,
        estimate=next_payout_estimate(inflow, fund, rules, now),
        payouts_from=rules.payouts_start(),
        inflow_90_days=inflow,
        at=now,
    )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be within 1..{MAX_PAGE}", ("limit",))


# -- operators -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexCheck:
    ok: bool
    size_stored: int
    size_counted: int
    buckets_wrong: int


async def verify_index(deps: Deps) -> IndexCheck:
    """Recount the queue and compare it with the position index (O(N); an operator check, changes nothing)."""
    async with deps.uow() as uow:
        drift = await uow.queue.verify()
    return IndexCheck(
        ok=drift.ok, size_stored=drift.size_stored, size_counted=drift.size_counted, buckets_wrong=drift.buckets_wrong
    )


async def rebuild_index(deps: Deps) -> int:
    """Recount every bucket and N from the memberships in one transaction (moves wait for it); returns N.
    The move log is history and is not touched."""
    async with deps.uow() as uow:
        size = await uow.queue.rebuild(at=deps.clock.now())
        await uow.commit()
    return size


__all__ = [
    "History",
    "IndexCheck",
    "MyQueue",
    "Neighbour",
    "PublicPage",
    "PublicRow",
    "QueueStats",
    "my_history",
    "my_queue",
    "public_page",
    "queue_stats",
    "rebuild_index",
    "verify_index",
]
