"""The queue (DOMAIN.md §4): order, positions, the member window, and incremental position changes.

Why incremental: positions are the product, members watch them, and there can be many. When one membership
leaves or joins, only a contiguous range of positions changes by exactly one; expressing that as a
``PositionShift`` lets adapters update a range (``UPDATE ... WHERE position BETWEEN``) and write position
history for exactly the members affected, instead of recomputing everything.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.calendar import ensure_utc
from domain.errors import InvalidQueue
from domain.membership import QUEUE_STATES, MembershipState


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class QueueKey:
    """``(tenure_start ASC, member_number ASC)``: a strict total order; same-second ties go to the membership
    activated first (member numbers come from a sequence and are never reused)."""

    tenure_start: datetime
    member_number: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenure_start", ensure_utc(self.tenure_start, "tenure_start"))
        if type(self.member_number) is not int or self.member_number <= 0:
            raise InvalidQueue("member_number must be a positive int")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    membership_id: str
    key: QueueKey
    state: MembershipState


@dataclass(frozen=True, slots=True, kw_only=True)
class Ranked:
    position: int
    entry: QueueEntry


def rank(entries: Iterable[QueueEntry]) -> tuple[Ranked, ...]:
    """Positions 1..N for the memberships in the queue (ACTIVE or PAST_DUE; others are ignored).

    PAST_DUE keeps its place: it is ranked like ACTIVE and only eligibility skips it. The result does not depend
    on input order. Duplicate memberships or member numbers would break the strict order and are refused.
    """
    queued = [entry for entry in entries if entry.state in QUEUE_STATES]
    ids = {entry.membership_id for entry in queued}
    numbers = {entry.key.member_number for entry in queued}
    if len(ids) != len(queued) or len(numbers) != len(queued):
        raise InvalidQueue("duplicate membership id or member number in the queue")
    ordered = sorted(queued, key=lambda entry: entry.key)
    return tuple(Ranked(position=index, entry=entry) for index, entry in enumerate(ordered, start=1))


def positions(entries: Iterable[QueueEntry]) -> dict[str, int]:
    """``membership_id -> position`` for the queue."""
    return {ranked.entry.membership_id: ranked.position for ranked in rank(entries)}


def position_of(key: QueueKey, keys_in_queue: Iterable[QueueKey]) -> int:
    """1 + number of queue memberships ahead of ``key`` (``key`` itself may or may not be among them)."""
    return 1 + sum(1 for other in keys_in_queue if other < key)


# -- member window ------------------------------------------------------------------------------------------------


def member_window(position: int, size: int, *, radius: int) -> range:
    """Positions a member sees around their own: ``[max(1, p - radius), min(N, p + radius)]``."""
    if not 1 <= position <= size:
        raise InvalidQueue(f"position {position} is outside 1..{size}")
    if radius < 0:
        raise InvalidQueue("radius must not be negative")
    return range(max(1, position - radius), min(size, position + radius) + 1)


def tenure_month(tenure_start: datetime) -> str:
    """The only thing shown about a neighbour besides their position: the tenure's start month (``YYYY-MM``)."""
    return ensure_utc(tenure_start, "tenure_start").strftime("%Y-%m")


class AtRiskReason(StrEnum):
    PAST_DUE = "past_due"
    """An invoice is unpaid past its grace start: the place is lost if grace ends unpaid (default)."""
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    """The member scheduled a cancellation: the place is lost when it takes effect, unless undone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AtRisk:
    """The member view's at-risk flag (§4) with its reasons, so the UI can say what to do about it."""

    at_risk: bool
    reasons: tuple[AtRiskReason, ...]


def at_risk(*, state: MembershipState, cancellation_scheduled: bool) -> AtRisk:
    """At risk = the queue place will be lost without action: PAST_DUE (default at grace end) or a scheduled
    cancellation. Only queue memberships have a place to lose; anything else (WON, ended, PENDING) is not at risk.

    Deliberately narrower than ineligibility: missing KYC or an open dispute block winning, not the place, and are
    shown by the near-payout notice (§6) instead.
    """
    if state not in QUEUE_STATES:
        return AtRisk(at_risk=False, reasons=())
    reasons: list[AtRiskReason] = []
    if state is MembershipState.PAST_DUE:
        reasons.append(AtRiskReason.PAST_DUE)
    if cancellation_scheduled:
        reasons.append(AtRiskReason.CANCELLATION_SCHEDULED)
    return AtRisk(at_risk=bool(reasons), reasons=tuple(reasons))


# -- incremental changes ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionShift:
    """Every position in ``first..last`` (inclusive) moves by ``delta``; empty when ``first > last``."""

    first: int
    last: int
    delta: int

    @property
    def is_empty(self) -> bool:
        return self.first > self.last

    def __contains__(self, position: object) -> bool:
        return isinstance(position, int) and self.first <= position <= self.last

    def apply(self, position: int) -> int:
        return position + self.delta if position in self else position


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueChange:
    """The effect of one membership leaving or joining: the shifts and the new queue size."""

    shifts: tuple[PositionShift, ...]
    new_size: int
    inserted_at: int | None = None
    """For a join: the newcomer's position."""

    def new_position(self, old_position: int) -> int:
        """Where a member who stayed (and is not the newcomer) now stands."""
        for shift in self.shifts:
            if old_position in shift:
                return shift.apply(old_position)
        return old_position


def on_leave(position: int, size: int) -> QueueChange:
    """One membership at ``position`` leaves: everyone behind moves up by exactly one, nobody else moves."""
    if not 1 <= position <= size:
        raise InvalidQueue(f"position {position} is outside 1..{size}")
    return QueueChange(shifts=(PositionShift(first=position + 1, last=size, delta=-1),), new_size=size - 1)


def on_leave_many(leaving: Iterable[int], size: int) -> QueueChange:
    """Several memberships leave at once (winners of a round): each stayer moves up by the number who left
    ahead of it. One shift per gap between leavers, so still O(number leaving) range updates."""
    removed = sorted(set(leaving))
    if removed and (removed[0] < 1 or removed[-1] > size):
        raise InvalidQueue(f"positions must be within 1..{size}")
    shifts: list[PositionShift] = []
    for count, position in enumerate(removed, start=1):
        stop = removed[count] - 1 if count < len(removed) else size
        shifts.append(PositionShift(first=position + 1, last=stop, delta=-count))
    return QueueChange(shifts=tuple(s for s in shifts if not s.is_empty), new_size=size - len(removed))


def on_join(ahead: int, size: int) -> QueueChange:
    """A membership joins with ``ahead`` queue memberships ahead of it (late insertion by tenure_start, a
    reinstatement or a returned winner). It takes ``ahead + 1``; those from there on move back by one."""
    if not 0 <= ahead <= size:
        raise InvalidQueue(f"ahead must be within 0..{size}")
    position = ahead + 1
    return QueueChange(
        shifts=(PositionShift(first=position, last=size, delta=1),),
        new_size=size + 1,
        inserted_at=position,
    )


def insertion_ahead(key: QueueKey, sorted_keys: Sequence[QueueKey]) -> int:
    """How many of ``sorted_keys`` (the queue, in order) rank ahead of ``key``."""
    return bisect_left(sorted_keys, key)


# -- position history ---------------------------------------------------------------------------------------------


class PositionChangeCause(StrEnum):
    MEMBER_AHEAD_LEFT = "member_ahead_left"
    WINNER_SELECTED = "winner_selected"
    MEMBER_INSERTED_AHEAD = "member_inserted_ahead"
    JOINED = "joined"


CAUSE_TEXT: dict[PositionChangeCause, str] = {
    PositionChangeCause.MEMBER_AHEAD_LEFT: "a member ahead of you left",
    PositionChangeCause.WINNER_SELECTED: "a winner was selected",
    PositionChangeCause.MEMBER_INSERTED_AHEAD: "a member was inserted ahead of you",
    PositionChangeCause.JOINED: "you joined the queue",
}


class LeaveReason(StrEnum):
    WON = "won"
    CANCELLED = "cancelled"
    DEFAULTED = "defaulted"


def leave_cause(reason: LeaveReason) -> PositionChangeCause:
    """The cause shown to those behind a leaver: a win is told as such, anything else as "left"."""
    if reason is LeaveReason.WON:
        return PositionChangeCause.WINNER_SELECTED
    return PositionChangeCause.MEMBER_AHEAD_LEFT


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChange:
    membership_id: str
    old_position: int
    new_position: int
    cause: PositionChangeCause


def history_entries(
    ranked: Iterable[Ranked], change: QueueChange, cause: PositionChangeCause
) -> tuple[PositionChange, ...]:
    """Position-history rows for the members ``change`` moved (from the ranking before the change)."""
    rows: list[PositionChange] = []
    for item in ranked:
        new = change.new_position(item.position)
        if new != item.position:
            rows.append(
                PositionChange(
                    membership_id=item.entry.membership_id,
                    old_position=item.position,
                    new_position=new,
                    cause=cause,
                )
            )
    return tuple(rows)
