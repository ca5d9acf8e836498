"""Queue: strict order, gap-free positions, the member window, queue moves and the member's position history."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidQueue, NaiveDatetime
from domain.membership import MembershipState
from domain.queue import (
    CAUSE_TEXT,
    AtRisk,
    AtRiskReason,
    MoveReason,
    PositionChange,
    PositionChangeCause,
    QueueEntry,
    QueueKey,
    QueueMove,
    at_risk,
    member_history,
    member_window,
    move_reason,
    position_of,
    positions,
    rank,
    tenure_month,
)

S = MembershipState
T0 = datetime(2025, 1, 1, tzinfo=UTC)
RADIUS = 2  # ProgramRules().queue_window_radius


def entry(number: int, seconds: int, state: S = S.ACTIVE, mid: str | None = None) -> QueueEntry:
    return QueueEntry(
        membership_id=mid or f"m{number}",
        key=QueueKey(tenure_start=T0 + timedelta(seconds=seconds), member_number=number),
        state=state,
    )


def move(seq: int, e: QueueEntry, reason: MoveReason, *, position: int, size_after: int) -> QueueMove:
    return QueueMove(
        seq=seq,
        at=T0 + timedelta(hours=seq),
        membership_id=e.membership_id,
        key=e.key,
        reason=reason,
        position=position,
        size_after=size_after,
    )


# unique member numbers, arbitrary (often colliding) tenure seconds, any state
entries_strategy = st.lists(
    st.tuples(st.integers(min_value=0, max_value=50), st.sampled_from(list(S))), max_size=40
).map(lambda rows: [entry(number, seconds, state) for number, (seconds, state) in enumerate(rows, start=1)])


def test_window_radius_default_is_two() -> None:
    from domain.rules import ProgramRules

    assert ProgramRules().queue_window_radius == RADIUS


class TestOrder:
    def test_acceptance_same_second_tie_goes_to_lower_member_number(self) -> None:
        a = entry(41, 0, mid="A")
        b = entry(42, 0, mid="B")
        assert positions([b, a]) == {"A": 1, "B": 2}

    def test_key_validation(self) -> None:
        with pytest.raises(NaiveDatetime):
            QueueKey(tenure_start=datetime(2025, 1, 1), member_number=1)
        with pytest.raises(InvalidQueue):
            QueueKey(tenure_start=T0, member_number=0)
        with pytest.raises(InvalidQueue):
            QueueKey(tenure_start=T0, member_number=True)

    def test_only_active_and_past_due_are_ranked(self) -> None:
        queue = [entry(n, n, state) for n, state in enumerate(S, start=1)]
        ranked = positions(queue)
        assert set(ranked) == {"m2", "m3"}  # ACTIVE is 2nd, PAST_DUE 3rd in the enum
        assert sorted(ranked.values()) == [1, 2]

    def test_duplicates_refused(self) -> None:
        with pytest.raises(InvalidQueue):
            rank([entry(1, 0), entry(1, 5, mid="other")])
        with pytest.raises(InvalidQueue):
            rank([entry(1, 0, mid="x"), entry(2, 5, mid="x")])

    def test_position_of(self) -> None:
        keys = [entry(n, n).key for n in range(1, 6)]
        assert position_of(keys[2], keys) == 3
        # same second as #1 but activated later: right behind it
        assert position_of(QueueKey(tenure_start=T0 + timedelta(seconds=1), member_number=99), keys) == 2
        assert position_of(QueueKey(tenure_start=T0, member_number=99), keys) == 1

    @given(entries=entries_strategy, seed=st.integers())
    def test_positions_are_a_permutation_independent_of_input_order(self, entries: list[QueueEntry], seed: int) -> None:
        shuffled = entries[:]
        random.Random(seed).shuffle(shuffled)
        ranked = positions(entries)
        assert ranked == positions(shuffled)
        queued = [e for e in entries if e.state in {S.ACTIVE, S.PAST_DUE}]
        assert sorted(ranked.values()) == list(range(1, len(queued) + 1))

    @given(entries=entries_strategy)
    def test_later_tenure_never_ranks_ahead(self, entries: list[QueueEntry]) -> None:
        ranked = rank(entries)
        for ahead, behind in itertools.pairwise(ranked):
            assert ahead.entry.key.tenure_start <= behind.entry.key.tenure_start
            if ahead.entry.key.tenure_start == behind.entry.key.tenure_start:
                assert ahead.entry.key.member_number < behind.entry.key.member_number


class TestAcceptance:
    def test_queue_of_five_number_two_defaults(self) -> None:
        queue = [entry(n, n * 10) for n in range(1, 6)]
        before = positions(queue)
        after_queue = [e if e.membership_id != "m2" else entry(2, 20, S.DEFAULTED) for e in queue]
        after = positions(after_queue)
        assert after == {"m1": 1, "m3": 2, "m4": 3, "m5": 4}
        # the move log: five activations in order, then #2 defaults from position 2
        moves = [move(seq, e, MoveReason.ACTIVATED, position=seq, size_after=seq) for seq, e in enumerate(queue, 1)]
        moves.append(move(6, queue[1], MoveReason.DEFAULTED, position=before["m2"], size_after=4))
        newest_first = moves[::-1]
        histories = {
            e.membership_id: member_history(
                [m for m in newest_first if m.membership_id == e.membership_id or m.key < e.key],
                membership_id=e.membership_id,
                key=e.key,
                position_after=after.get(e.membership_id),
                limit=10,
            )
            for e in queue
        }
        newest = {mid: page.changes[0] for mid, page in histories.items()}
        assert [(mid, c.old_position, c.new_position) for mid, c in newest.items() if c.seq == 6] == [
            ("m2", 2, None),
            ("m3", 3, 2),
            ("m4", 4, 3),
            ("m5", 5, 4),
        ]
        assert newest["m1"].seq == 1  # nobody ahead of #1 moved
        assert CAUSE_TEXT[newest["m3"].cause] == "a member ahead of you left"
        assert newest["m2"].cause is PositionChangeCause.LEFT_QUEUE
        assert newest["m2"].left_because is MoveReason.DEFAULTED

    def test_past_due_keeps_its_place_and_cure_keeps_it(self) -> None:
        queue = [entry(n, n * 10) for n in range(1, 6)]
        past_due = [e if e.membership_id != "m2" else entry(2, 20, S.PAST_DUE) for e in queue]
        assert positions(past_due) == positions(queue)
        cured = [e if e.membership_id != "m2" else entry(2, 20, S.ACTIVE) for e in past_due]
        assert positions(cured)["m2"] == 2

    @pytest.mark.parametrize(
        ("p", "n", "expected"),
        [(1, 10, (1, 3)), (10, 10, (8, 10)), (5, 10, (3, 7)), (1, 2, (1, 2)), (2, 2, (1, 2)), (1, 1, (1, 1))],
    )
    def test_member_window(self, p: int, n: int, expected: tuple[int, int]) -> None:
        window = member_window(p, n, radius=RADIUS)
        assert (window[0], window[-1]) == expected
        assert list(window) == list(range(expected[0], expected[1] + 1))

    def test_window_validation(self) -> None:
        with pytest.raises(InvalidQueue):
            member_window(0, 10, radius=RADIUS)
        with pytest.raises(InvalidQueue):
            member_window(11, 10, radius=RADIUS)
        with pytest.raises(InvalidQueue):
            member_window(1, 10, radius=-1)

    def test_tenure_month(self) -> None:
        assert tenure_month(datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == "2025-03"


# -- at-risk flag (§4 member view) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "scheduled", "reasons"),
    [
        (S.ACTIVE, False, ()),
        (S.ACTIVE, True, (AtRiskReason.CANCELLATION_SCHEDULED,)),
        (S.PAST_DUE, False, (AtRiskReason.PAST_DUE,)),
        (S.PAST_DUE, True, (AtRiskReason.PAST_DUE, AtRiskReason.CANCELLATION_SCHEDULED)),
    ],
)
def test_at_risk_when_the_place_can_be_lost(state: S, scheduled: bool, reasons: tuple[AtRiskReason, ...]) -> None:
    flag = at_risk(state=state, cancellation_scheduled=scheduled)
    assert flag.reasons == reasons
    assert flag.at_risk is bool(reasons)


@pytest.mark.parametrize("state", [s for s in S if s not in (S.ACTIVE, S.PAST_DUE)])
def test_memberships_outside_the_queue_are_never_at_risk(state: S) -> None:
    assert at_risk(state=state, cancellation_scheduled=True) == AtRisk(at_risk=False, reasons=())


# -- queue moves: why a state change enters or leaves the queue -----------------------------------------------------

QUEUED = {S.ACTIVE, S.PAST_DUE}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, S.ACTIVE, MoveReason.ACTIVATED),
        (S.PENDING, S.ACTIVE, MoveReason.ACTIVATED),
        (S.PENDING, S.PAST_DUE, MoveReason.ACTIVATED),
        (S.ABANDONED, S.ACTIVE, MoveReason.ACTIVATED),  # a checkout paid after it was given up
        (S.DEFAULTED, S.ACTIVE, MoveReason.REINSTATED),  # late truth reverses a default
        (S.CANCELLED, S.ACTIVE, MoveReason.REINSTATED),
        (S.WON, S.ACTIVE, MoveReason.RETURNED),  # non-disqualifying payout cancellation
        (S.PAID, S.ACTIVE, MoveReason.RETURNED),
        (S.ACTIVE, S.PAST_DUE, None),  # grace keeps the place
        (S.PAST_DUE, S.ACTIVE, None),  # cure keeps the place
        (S.ACTIVE, S.ACTIVE, None),
        (S.PENDING, S.ABANDONED, None),
        (S.WON, S.PAID, None),
        (S.PAID, S.ENDED, None),
        (S.WON, S.CANCELLED, None),  # disqualified winner: already out of the queue
        (None, S.PENDING, None),
        (S.ACTIVE, S.WON, MoveReason.WON),
        (S.PAST_DUE, S.WON, MoveReason.WON),
        (S.ACTIVE, S.CANCELLED, MoveReason.CANCELLED),
        (S.PAST_DUE, S.CANCELLED, MoveReason.CANCELLED),
        (S.PAST_DUE, S.DEFAULTED, MoveReason.DEFAULTED),
        (S.ACTIVE, S.DEFAULTED, MoveReason.DEFAULTED),
        (S.ACTIVE, S.ABANDONED, MoveReason.LEFT),
        (S.ACTIVE, S.PENDING, MoveReason.LEFT),
    ],
)
def test_move_reason(before: S | None, after: S, expected: MoveReason | None) -> None:
    assert move_reason(before, after) is expected


@pytest.mark.parametrize("before", [None, *S])
@pytest.mark.parametrize("after", list(S))
def test_move_reason_exactly_when_queue_membership_changes(before: S | None, after: S) -> None:
    reason = move_reason(before, after)
    entering = before not in QUEUED and after in QUEUED
    leaving = before in QUEUED and after not in QUEUED
    assert (reason is not None) == (entering or leaving)
    if reason is not None:
        assert reason.is_join == entering


def test_join_reasons() -> None:
    assert {r for r in MoveReason if r.is_join} == {MoveReason.ACTIVATED, MoveReason.REINSTATED, MoveReason.RETURNED}


# -- position history --------------------------------------------------------------------------------------------------


def test_cause_text_covers_every_cause() -> None:
    assert set(CAUSE_TEXT) == set(PositionChangeCause)
    assert all(text.strip() for text in CAUSE_TEXT.values())
    assert len(set(CAUSE_TEXT.values())) == len(CAUSE_TEXT)
    assert CAUSE_TEXT[PositionChangeCause.WINNER_SELECTED] == "a winner was selected"
    assert CAUSE_TEXT[PositionChangeCause.MEMBER_AHEAD_LEFT] == "a member ahead of you left"


def _three() -> tuple[QueueEntry, QueueEntry, QueueEntry]:
    return entry(1, 0), entry(2, 0), entry(3, 10)  # #1 and #2 tie on the second


def test_a_winner_ahead_is_a_winner_selected() -> None:
    first, second, third = _three()
    moves = [
        move(1, first, MoveReason.ACTIVATED, position=1, size_after=1),
        move(2, second, MoveReason.ACTIVATED, position=2, size_after=2),
        move(3, third, MoveReason.ACTIVATED, position=3, size_after=3),
        move(4, first, MoveReason.WON, position=1, size_after=2),
        move(5, second, MoveReason.CANCELLED, position=1, size_after=1),
    ]
    page = member_history(moves[::-1], membership_id="m3", key=third.key, position_after=1, limit=10)
    assert [(c.seq, c.old_position, c.new_position, c.cause) for c in page.changes] == [
        (5, 2, 1, PositionChangeCause.MEMBER_AHEAD_LEFT),
        (4, 3, 2, PositionChangeCause.WINNER_SELECTED),
        (3, None, 3, PositionChangeCause.JOINED),
    ]
    assert page.position_before is None
    assert all(c.left_because is None for c in page.changes)
    assert [c.at for c in page.changes] == [moves[4].at, moves[3].at, moves[2].at]


def test_own_leave_is_left_queue_with_its_reason() -> None:
    first, second, _ = _three()
    moves = [
        move(1, first, MoveReason.ACTIVATED, position=1, size_after=1),
        move(2, second, MoveReason.ACTIVATED, position=2, size_after=2),
        move(3, second, MoveReason.WON, position=2, size_after=1),
    ]
    page = member_history(moves[::-1], membership_id="m2", key=second.key, position_after=None, limit=10)
    assert [(c.old_position, c.new_position, c.cause, c.left_because) for c in page.changes] == [
        (2, None, PositionChangeCause.LEFT_QUEUE, MoveReason.WON),
        (None, 2, PositionChangeCause.JOINED, None),
    ]


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        (MoveReason.REINSTATED, PositionChangeCause.REINSTATED),
        (MoveReason.RETURNED, PositionChangeCause.RETURNED),
    ],
)
def test_own_return_to_the_queue_and_someone_placed_ahead(reason: MoveReason, cause: PositionChangeCause) -> None:
    first, second, third = _three()
    moves = [
        move(1, third, MoveReason.ACTIVATED, position=1, size_after=1),
        move(2, second, reason, position=1, size_after=2),  # ahead of #3 by tenure
        move(3, first, MoveReason.ACTIVATED, position=1, size_after=3),  # late activation, ahead of both
    ]
    page = member_history(moves[::-1], membership_id="m2", key=second.key, position_after=2, limit=10)
    assert [(c.old_position, c.new_position, c.cause) for c in page.changes] == [
        (1, 2, PositionChangeCause.MEMBER_PLACED_AHEAD),
        (None, 1, cause),
    ]
    mine = member_history(moves[::-1], membership_id="m3", key=third.key, position_after=3, limit=1)
    assert [(c.seq, c.old_position, c.new_position) for c in mine.changes] == [(3, 2, 3)]
    assert mine.position_before == 2  # where the next, older page continues


# A random history of joins and leaves, with `rank` as the truth, replayed backwards page by page.

LEAVES = (MoveReason.WON, MoveReason.CANCELLED, MoveReason.DEFAULTED, MoveReason.LEFT)
JOINS = (MoveReason.ACTIVATED, MoveReason.REINSTATED, MoveReason.RETURNED)
EXPECTED_LEAVE_CAUSE = {
    MoveReason.WON: PositionChangeCause.WINNER_SELECTED,
    MoveReason.CANCELLED: PositionChangeCause.MEMBER_AHEAD_LEFT,
    MoveReason.DEFAULTED: PositionChangeCause.MEMBER_AHEAD_LEFT,
    MoveReason.LEFT: PositionChangeCause.MEMBER_AHEAD_LEFT,
}
EXPECTED_OWN_JOIN_CAUSE = {
    MoveReason.ACTIVATED: PositionChangeCause.JOINED,
    MoveReason.REINSTATED: PositionChangeCause.REINSTATED,
    MoveReason.RETURNED: PositionChangeCause.RETURNED,
}


@dataclass
class Simulation:
    moves: list[QueueMove]
    truth: dict[str, list[int | None]]
    """membership id → its true position after move seq (index = seq; index 0 = before any move)."""
    keys: dict[str, QueueKey]


@st.composite
def simulations(draw: st.DrawFn) -> Simulation:
    count = draw(st.integers(min_value=1, max_value=8))
    seconds = draw(st.lists(st.integers(min_value=0, max_value=3), min_size=count, max_size=count))  # many ties
    numbers = draw(st.permutations(range(1, count + 1)))  # ties are not decided by the order of creation
    members = [
        entry(number, second, mid=f"x{i}") for i, (number, second) in enumerate(zip(numbers, seconds, strict=True))
    ]
    keys = {m.membership_id: m.key for m in members}
    steps = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, 11)), max_size=30))  # (who, which reason)
    inside: set[str] = set()
    moves: list[QueueMove] = []
    truth: dict[str, list[int | None]] = {m.membership_id: [None] for m in members}

    def ranked() -> dict[str, int]:
        return positions([QueueEntry(membership_id=mid, key=keys[mid], state=S.ACTIVE) for mid in inside])

    for seq, (who, choice) in enumerate(steps, start=1):
        mid = members[who].membership_id
        if mid in inside:
            reason = LEAVES[choice % len(LEAVES)]
            position = ranked()[mid]  # where it stood when it left
            inside.remove(mid)
        else:
            reason = JOINS[choice % len(JOINS)]
            inside.add(mid)
            position = ranked()[mid]  # where it entered
        moves.append(move(seq, members[who], reason, position=position, size_after=len(inside)))
        now = ranked()
        for other, history in truth.items():
            history.append(now.get(other))
    return Simulation(moves=moves, truth=truth, keys=keys)


@given(sim=simulations(), limit=st.integers(min_value=1, max_value=3))
def test_member_history_replays_every_true_position(sim: Simulation, limit: int) -> None:
    by_seq = {m.seq: m for m in sim.moves}
    for mid, key in sim.keys.items():
        own = [m.seq for m in sim.moves if m.membership_id == mid]
        if not own:
            continue
        # what the repository returns: the member's own moves and the moves ranked ahead, since its first move
        relevant = [m for m in reversed(sim.moves) if m.seq >= own[0] and (m.membership_id == mid or m.key < key)]
        truth = sim.truth[mid]
        walked: list[PositionChange] = []
        position: int | None = truth[-1]
        before_seq: int | None = None
        for _ in range(len(sim.moves) + 2):
            page = member_history(
                [m for m in relevant if before_seq is None or m.seq < before_seq],
                membership_id=mid,
                key=key,
                position_after=position,
                limit=limit,
            )
            assert len(page.changes) <= limit
            walked.extend(page.changes)
            position = page.position_before
            if len(page.changes) < limit:
                break
            before_seq = page.changes[-1].seq
        else:
            pytest.fail("the history walk did not end")
        # exactly the moves that changed the member's true position, newest first
        changed = [seq for seq in range(len(truth) - 1, 0, -1) if truth[seq] != truth[seq - 1] and seq >= own[0]]
        assert [c.seq for c in walked] == changed
        for change in walked:
            assert (change.old_position, change.new_position) == (truth[change.seq - 1], truth[change.seq])
            mover = by_seq[change.seq]
            assert change.at == mover.at
            if mover.membership_id == mid:
                if mover.reason.is_join:
                    assert change.cause is EXPECTED_OWN_JOIN_CAUSE[mover.reason]
                    assert change.left_because is None
                else:
                    assert change.cause is PositionChangeCause.LEFT_QUEUE
                    assert change.left_because is mover.reason
            else:
                assert mover.key < key
                expected = (
                    PositionChangeCause.MEMBER_PLACED_AHEAD
                    if mover.reason.is_join
                    else EXPECTED_LEAVE_CAUSE[mover.reason]
                )
                assert change.cause is expected
                assert change.left_because is None
        assert position is None  # before its first join the member was not in the queue
        assert truth[own[0] - 1] is None


@given(sim=simulations())
def test_recorded_moves_are_consistent(sim: Simulation) -> None:
    """The simulation itself: positions within 1..N, sizes step by one (guards the model the property relies on)."""
    size = 0
    for m in sim.moves:
        size += 1 if m.reason.is_join else -1
        assert m.size_after == size
        assert 1 <= m.position <= size + (0 if m.reason.is_join else 1)
        assert sim.truth[m.membership_id][m.seq] == (m.position if m.reason.is_join else None)
