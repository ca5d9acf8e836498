"""Queue: strict order, gap-free positions, the member window, and incremental position changes."""

from __future__ import annotations

import itertools
import random
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
    LeaveReason,
    PositionChangeCause,
    PositionShift,
    QueueEntry,
    QueueKey,
    at_risk,
    history_entries,
    insertion_ahead,
    leave_cause,
    member_window,
    on_join,
    on_leave,
    on_leave_many,
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
        change = on_leave(before["m2"], len(before))
        assert {mid: change.new_position(p) for mid, p in before.items() if mid != "m2"} == after
        rows = history_entries(rank(queue), change, leave_cause(LeaveReason.DEFAULTED))
        assert [(r.membership_id, r.old_position, r.new_position) for r in rows] == [
            ("m3", 3, 2),
            ("m4", 4, 3),
            ("m5", 5, 4),
        ]
        assert CAUSE_TEXT[rows[0].cause] == "a member ahead of you left"

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


class TestIncremental:
    def test_shift_helpers(self) -> None:
        shift = PositionShift(first=3, last=5, delta=-1)
        assert 3 in shift
        assert 5 in shift
        assert 2 not in shift
        assert "3" not in shift
        assert shift.apply(4) == 3
        assert shift.apply(6) == 6
        assert PositionShift(first=6, last=5, delta=-1).is_empty

    def test_leave_validation(self) -> None:
        with pytest.raises(InvalidQueue):
            on_leave(0, 3)
        with pytest.raises(InvalidQueue):
            on_leave_many([4], 3)
        with pytest.raises(InvalidQueue):
            on_join(4, 3)

    def test_leave_last_moves_nobody(self) -> None:
        change = on_leave(5, 5)
        assert all(s.is_empty for s in change.shifts)
        assert change.new_size == 4

    def test_join_inserts_and_pushes_back(self) -> None:
        change = on_join(ahead=1, size=4)
        assert change.inserted_at == 2
        assert change.new_size == 5
        assert [change.new_position(p) for p in range(1, 5)] == [1, 3, 4, 5]

    def test_winners_leaving(self) -> None:
        change = on_leave_many([2, 3], 6)
        assert [change.new_position(p) for p in (1, 4, 5, 6)] == [1, 2, 3, 4]
        assert change.new_size == 4
        assert on_leave_many([], 3).shifts == ()

    def test_cause_texts(self) -> None:
        assert leave_cause(LeaveReason.WON) is PositionChangeCause.WINNER_SELECTED
        assert leave_cause(LeaveReason.CANCELLED) is PositionChangeCause.MEMBER_AHEAD_LEFT
        assert CAUSE_TEXT[PositionChangeCause.WINNER_SELECTED] == "a winner was selected"
        assert CAUSE_TEXT[PositionChangeCause.MEMBER_INSERTED_AHEAD] == "a member was inserted ahead of you"
        assert set(CAUSE_TEXT) == set(PositionChangeCause)

    @given(entries=entries_strategy, pick=st.integers(min_value=0))
    def test_removing_moves_exactly_those_behind_by_one(self, entries: list[QueueEntry], pick: int) -> None:
        ranked = rank(entries)
        if not ranked:
            return
        leaver = ranked[pick % len(ranked)]
        before = {r.entry.membership_id: r.position for r in ranked}
        after = positions([e for e in entries if e.membership_id != leaver.entry.membership_id])
        change = on_leave(leaver.position, len(ranked))
        assert change.new_size == len(after)
        for mid, old in before.items():
            if mid == leaver.entry.membership_id:
                continue
            expected = old - 1 if old > leaver.position else old
            assert after[mid] == expected
            assert change.new_position(old) == expected
        rows = history_entries(ranked, change, PositionChangeCause.MEMBER_AHEAD_LEFT)
        assert {r.membership_id for r in rows} == {m for m, p in before.items() if p > leaver.position}

    @given(entries=entries_strategy, leaving=st.sets(st.integers(min_value=0, max_value=39)))
    def test_many_leaving_matches_recompute(self, entries: list[QueueEntry], leaving: set[int]) -> None:
        ranked = rank(entries)
        gone = {r.entry.membership_id for r in ranked if r.position - 1 in leaving}
        left_positions = [r.position for r in ranked if r.entry.membership_id in gone]
        change = on_leave_many(left_positions, len(ranked))
        after = positions([e for e in entries if e.membership_id not in gone])
        assert change.new_size == len(after)
        for r in ranked:
            if r.entry.membership_id not in gone:
                assert change.new_position(r.position) == after[r.entry.membership_id]

    @given(entries=entries_strategy, seconds=st.integers(min_value=0, max_value=60))
    def test_late_insertion_matches_recompute(self, entries: list[QueueEntry], seconds: int) -> None:
        ranked = rank(entries)
        newcomer = entry(1000, seconds, mid="late")
        ahead = insertion_ahead(newcomer.key, [r.entry.key for r in ranked])
        change = on_join(ahead, len(ranked))
        after = positions([*entries, newcomer])
        assert change.inserted_at == after["late"]
        assert change.new_size == len(after)
        for r in ranked:
            assert change.new_position(r.position) == after[r.entry.membership_id]
            # only those behind the newcomer move, by exactly one
            assert after[r.entry.membership_id] - r.position in (0, 1)


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
