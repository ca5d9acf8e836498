"""The queue (DOMAIN.md §4): order, positions, the member window, and incremental position changes.

Positions are never stored (everyone behind a leaver would have to be rewritten): adapters count them with the
bucket index of ``domain.queue_index``. What is stored is one ``QueueMove`` per membership entering or leaving
the queue; a member's position history is derived from the moves ahead of them (``member_history``).
"""

from __future__ import annotations

from collections.abc import Iterable
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


def queue_key(tenure_start: datetime | None, member_number: int | None) -> QueueKey | None:
    """The key of a membership as stored, or None before activation (no tenure start or member number yet)."""
    if tenure_start is None or member_number is None:
        return None
    return QueueKey(tenure_start=tenure_start, member_number=member_number)


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


# -- moves and position history ----------------------------------------------------------------------------------


class MoveReason(StrEnum):
    """Why a membership entered or left the queue (from its state before and after the change)."""

    ACTIVATED = "activated"
    REINSTATED = "reinstated"
    """Late truth reversed a default, or staff reinstated within the rules: back at its original tenure."""
    RETURNED = "returned"
    """A payout was cancelled for a non-disqualifying reason: the winner is back in their original place."""
    WON = "won"
    CANCELLED = "cancelled"
    DEFAULTED = "defaulted"
    LEFT = "left"

    @property
    def is_join(self) -> bool:
        return self in _JOINS


_JOINS = frozenset({MoveReason.ACTIVATED, MoveReason.REINSTATED, MoveReason.RETURNED})
_LEAVE_REASONS = {
    MembershipState.WON: MoveReason.WON,
    MembershipState.CANCELLED: MoveReason.CANCELLED,
    MembershipState.DEFAULTED: MoveReason.DEFAULTED,
}
_RETURNS_FROM = frozenset({MembershipState.WON, MembershipState.PAID})
_REINSTATED_FROM = frozenset({MembershipState.DEFAULTED, MembershipState.CANCELLED, MembershipState.ENDED})


def move_reason(before: MembershipState | None, after: MembershipState) -> MoveReason | None:
    """The queue move a state change makes, if any (ACTIVE ↔ PAST_DUE is none: a place is kept in grace)."""
    was, now = before in QUEUE_STATES, after in QUEUE_STATES
    if was == now:
        return None
    if now:
        if before in _RETURNS_FROM:
            return MoveReason.RETURNED
        if before in _REINSTATED_FROM:
            return MoveReason.REINSTATED
        return MoveReason.ACTIVATED
    return _LEAVE_REASONS.get(after, MoveReason.LEFT)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMove:
    """One membership entering or leaving the queue, as recorded (one row per move, in commit order).

    ``position`` is where it entered, or where it stood when it left; ``size_after`` is N after the move.
    Moves are serialised, so ``seq`` is gap-free and positions are exact at the time of the move.
    """

    seq: int
    at: datetime
    membership_id: str
    key: QueueKey
    reason: MoveReason
    position: int
    size_after: int


class PositionChangeCause(StrEnum):
    JOINED = "joined"
    REINSTATED = "reinstated"
    RETURNED = "returned"
    LEFT_QUEUE = "left_queue"
    MEMBER_AHEAD_LEFT = "member_ahead_left"
    WINNER_SELECTED = "winner_selected"
    MEMBER_PLACED_AHEAD = "member_placed_ahead"


CAUSE_TEXT: dict[PositionChangeCause, str] = {
    PositionChangeCause.JOINED: "you joined the queue",
    PositionChangeCause.REINSTATED: "your membership was reinstated in its original place",
    PositionChangeCause.RETURNED: "your payout was cancelled and you are back in your original place",
    PositionChangeCause.LEFT_QUEUE: "your membership left the queue",
    PositionChangeCause.MEMBER_AHEAD_LEFT: "a member ahead of you left",
    PositionChangeCause.WINNER_SELECTED: "a winner was selected",
    PositionChangeCause.MEMBER_PLACED_AHEAD: (
        "a member was placed ahead of you by tenure (a payment recorded late, a reinstatement or a returned winner)"
    ),
}

_OWN_JOIN_CAUSE = {
    MoveReason.ACTIVATED: PositionChangeCause.JOINED,
    MoveReason.REINSTATED: PositionChangeCause.REINSTATED,
    MoveReason.RETURNED: PositionChangeCause.RETURNED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChange:
    """One entry of a member's position history; ``None`` means "not in the queue"."""

    seq: int
    at: datetime
    old_position: int | None
    new_position: int | None
    cause: PositionChangeCause
    left_because: MoveReason | None = None
    """For the member's own leaving: won, cancelled, defaulted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryPage:
    changes: tuple[PositionChange, ...]
    position_before: int | None
    """The member's position just before the oldest move read (where the next, older page continues)."""


def member_history(
    moves_newest_first: Iterable[QueueMove],
    *,
    membership_id: str,
    key: QueueKey,
    position_after: int | None,
    limit: int,
) -> HistoryPage:
    """Walk moves back from the member's position after the newest one, undoing each move that touched them.

    A move of someone ranked ahead shifts the member by one (a leave up, a join back); the member's own moves
    re-anchor the walk at the recorded position; moves while the member was out of the queue, and moves of
    anyone behind, change nothing. Moves must be given newest first and include every move of the member and
    every move ranked ahead of them since the member's first join; the walk stops after ``limit`` changes.
    """
    changes: list[PositionChange] = []
    current = position_after
    for move in moves_newest_first:
        if len(changes) >= limit:
            break
        if move.membership_id == membership_id:
            if move.reason.is_join:
                changes.append(_change(move, None, move.position, _OWN_JOIN_CAUSE[move.reason]))
                current = None
            else:
                changes.append(
                    _change(move, move.position, None, PositionChangeCause.LEFT_QUEUE, left_because=move.reason)
                )
                current = move.position
            continue
        if current is None or not move.key < key:
            continue
        if move.reason.is_join:
            changes.append(_change(move, current - 1, current, PositionChangeCause.MEMBER_PLACED_AHEAD))
            current -= 1
        else:
            cause = (
                PositionChangeCause.WINNER_SELECTED
                if move.reason is MoveReason.WON
                else PositionChangeCause.MEMBER_AHEAD_LEFT
            )
            changes.append(_change(move, current + 1, current, cause))
            current += 1
    return HistoryPage(changes=tuple(changes), position_before=current)


def _change(
    move: QueueMove,
    old: int | None,
    new: int | None,
    cause: PositionChangeCause,
    *,
    left_because: MoveReason | None = None,
) -> PositionChange:
    return PositionChange(
        seq=move.seq, at=move.at, old_position=old, new_position=new, cause=cause, left_because=left_because
    )
