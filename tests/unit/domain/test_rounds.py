"""Rounds: selection from a snapshot, skipped entries with reasons, canonical bytes, Merkle digest."""

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidSnapshot, NaiveDatetime
from domain.ledger import Ledger, payment_received, reward_committed, split_payment
from domain.merkle import SALT_BYTES, InclusionProof, Leaf, merkle_root
from domain.money import Money
from domain.rounds import (
    NoRound,
    NoRoundReason,
    RoundSelected,
    Snapshot,
    SnapshotEntry,
    round_key,
    select_round,
    verify_entry,
)
from domain.rules import ProgramRules

RULES = ProgramRules()
DAY = date(2025, 3, 1)
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def usd(cents: int) -> Money:
    return Money(cents=cents)


def salt(member_number: int) -> bytes:
    return hashlib.sha256(f"salt-{member_number}".encode()).digest()


def snapshot(reasons: list[tuple[str, ...]], key: date = DAY) -> Snapshot:
    """Positions 1..N, member numbers 41.., tenure one day apart, eligible iff no reasons."""
    return Snapshot(
        round_key=key,
        entries=tuple(
            SnapshotEntry(
                position=i,
                member_number=40 + i,
                tenure_start=T0 + timedelta(days=i),
                eligible=not why,
                reasons=why,
            )
            for i, why in enumerate(reasons, start=1)
        ),
    )


def salts_for(snap: Snapshot) -> dict[int, bytes]:
    return {e.member_number: salt(e.member_number) for e in snap.entries}


def select(snap: Snapshot, fund_cents: int, rules: ProgramRules = RULES) -> RoundSelected | NoRound:
    return select_round(snapshot=snap, fund=usd(fund_cents), rules=rules, salts=salts_for(snap))


# -- §12 acceptance ------------------------------------------------------------------------------------------------


def test_acceptance_fund_250k_first_member_not_verified() -> None:
    """Fund $250,000, 5 members, #1 not KYC-verified → #2 and #3 win, #1 skipped, $50,000 left after commit."""
    snap = snapshot([("kyc_not_verified",), (), (), (), ()])
    result = select(snap, 25_000_000)
    assert isinstance(result, RoundSelected)
    assert [w.position for w in result.winners] == [2, 3]
    assert [(s.position, s.reasons) for s in result.skipped] == [(1, ("kyc_not_verified",))]
    assert result.committed == usd(20_000_000)
    assert result.fund_after == usd(5_000_000)
    # The ledger agrees: committing each winner's reward leaves $50,000 in the fund.
    ledger = Ledger().post(payment_received(invoice_id="in_x", split=split_payment(usd(25_000_000), RULES), at=T0))
    for winner in result.winners:
        ledger = ledger.post(reward_committed(payout_id=f"po_{winner.member_number}", gross=result.reward, at=T0))
    assert ledger.fund == usd(5_000_000)


def test_acceptance_fund_one_cent_short_is_no_round() -> None:
    result = select(snapshot([(), ()]), 9_999_999)
    assert isinstance(result, NoRound)
    assert result.reason is NoRoundReason.FUND_BELOW_THRESHOLD


def test_past_due_member_is_skipped_and_keeps_its_place() -> None:
    """§12: #2 goes PAST_DUE → skipped at selection (its position is unchanged in the snapshot)."""
    snap = snapshot([(), ("past_due",), ()])
    result = select(snap, 20_000_000)
    assert isinstance(result, RoundSelected)
    assert [w.position for w in result.winners] == [1, 3]
    assert [s.position for s in result.skipped] == [2]


def test_no_eligible_member_means_no_round() -> None:
    result = select(snapshot([("kyc_not_verified",), ("past_due",)]), 30_000_000)
    assert isinstance(result, NoRound)
    assert result.reason is NoRoundReason.NO_ELIGIBLE_MEMBER
    assert result.queue_size == 2
    assert result.fund == usd(30_000_000)


def test_empty_queue_means_no_round() -> None:
    result = select(snapshot([]), 30_000_000)
    assert isinstance(result, NoRound)
    assert result.reason is NoRoundReason.NO_ELIGIBLE_MEMBER
    assert result.digest == merkle_root([])


def test_threshold_above_reward_is_respected() -> None:
    rules = ProgramRules(payout_threshold=usd(15_000_000))
    assert isinstance(select(snapshot([()]), 14_999_999, rules), NoRound)
    assert isinstance(select(snapshot([()]), 15_000_000, rules), RoundSelected)


def test_entries_behind_the_last_winner_are_not_skipped() -> None:
    result = select(snapshot([(), ("under_age",), ()]), 10_000_000)
    assert isinstance(result, RoundSelected)
    assert [w.position for w in result.winners] == [1]
    assert result.skipped == ()


def test_round_key_is_the_utc_evaluation_date() -> None:
    assert round_key(datetime(2025, 3, 1, 0, 30, tzinfo=UTC)) == date(2025, 3, 1)
    late_evening_new_york = datetime(2025, 2, 28, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert round_key(late_evening_new_york) == date(2025, 3, 1)
    with pytest.raises(NaiveDatetime):
        round_key(datetime(2025, 3, 1))


# -- properties -----------------------------------------------------------------------------------------------------

reason_sets = st.one_of(
    st.just(()),
    st.lists(
        st.sampled_from(["kyc_not_verified", "past_due", "under_age", "already_won", "payment_disputed"]),
        min_size=1,
        max_size=3,
    ).map(tuple),
)
queues = st.lists(reason_sets, max_size=30).map(snapshot)
funds = st.integers(-10_000_000, 80_000_000)


@given(queues, funds)
def test_winners_are_the_first_eligible_and_rank_ahead_of_every_other_eligible(snap: Snapshot, fund: int) -> None:
    result = select(snap, fund)
    eligible = snap.eligible
    if isinstance(result, NoRound):
        assert fund < RULES.payout_threshold.cents or not eligible
        return
    expected = min(fund // RULES.reward.cents, len(eligible))
    assert len(result.winners) == expected
    assert result.winners == eligible[:expected]
    not_selected = [e for e in eligible if e not in result.winners]
    assert all(w.position < e.position for w in result.winners for e in not_selected)
    last = result.winners[-1].position
    assert result.skipped == tuple(e for e in snap.entries if not e.eligible and e.position < last)
    assert result.fund_after == usd(fund) - RULES.reward * expected
    assert not result.fund_after.is_negative


@given(queues, funds, funds)
def test_winners_are_monotone_in_the_fund(snap: Snapshot, a: int, b: int) -> None:
    low, high = sorted((a, b))

    def count(fund: int) -> int:
        result = select(snap, fund)
        return len(result.winners) if isinstance(result, RoundSelected) else 0

    assert count(low) <= count(high) <= len(snap.eligible)


@given(queues, st.integers(-10_000_000, 9_999_999))
def test_no_winner_below_the_threshold(snap: Snapshot, fund: int) -> None:
    result = select(snap, fund)
    assert isinstance(result, NoRound)
    assert result.reason is NoRoundReason.FUND_BELOW_THRESHOLD


# -- snapshot validation -------------------------------------------------------------------------------------------


def test_snapshot_positions_must_be_gap_free_and_in_order() -> None:
    a = SnapshotEntry(position=1, member_number=1, tenure_start=T0, eligible=True)
    c = SnapshotEntry(position=3, member_number=3, tenure_start=T0 + timedelta(1), eligible=True)
    with pytest.raises(InvalidSnapshot, match=r"1\.\.N"):
        Snapshot(round_key=DAY, entries=(a, c))


def test_snapshot_refuses_duplicate_member_numbers() -> None:
    """Ordered by tenure, yet the same member twice: one member cannot hold two places (or two leaves)."""
    first = SnapshotEntry(position=1, member_number=7, tenure_start=T0, eligible=True)
    again = SnapshotEntry(position=2, member_number=7, tenure_start=T0 + timedelta(days=1), eligible=True)
    other = SnapshotEntry(position=3, member_number=8, tenure_start=T0 + timedelta(days=2), eligible=True)
    with pytest.raises(InvalidSnapshot, match=r"unique; repeated: \[7\]"):
        Snapshot(round_key=DAY, entries=(first, again, other))


def test_snapshot_must_follow_tenure_then_member_number() -> None:
    a = SnapshotEntry(position=1, member_number=42, tenure_start=T0, eligible=True)
    b = SnapshotEntry(position=2, member_number=41, tenure_start=T0, eligible=True)
    with pytest.raises(InvalidSnapshot, match="order"):
        Snapshot(round_key=DAY, entries=(a, b))
    later = SnapshotEntry(position=1, member_number=1, tenure_start=T0 + timedelta(seconds=1), eligible=True)
    earlier = SnapshotEntry(position=2, member_number=2, tenure_start=T0, eligible=True)
    with pytest.raises(InvalidSnapshot, match="order"):
        Snapshot(round_key=DAY, entries=(later, earlier))
    # Same second: the lower member number (activated first) is ahead.
    assert (
        Snapshot(round_key=DAY, entries=(replace(b, position=1), replace(a, position=2))).entries[0].member_number == 41
    )


def test_entry_is_eligible_exactly_without_reasons() -> None:
    with pytest.raises(InvalidSnapshot, match="exactly"):
        SnapshotEntry(position=1, member_number=1, tenure_start=T0, eligible=True, reasons=("past_due",))
    with pytest.raises(InvalidSnapshot, match="exactly"):
        SnapshotEntry(position=1, member_number=1, tenure_start=T0, eligible=False)


def test_entry_refuses_bad_numbers_reasons_and_naive_times() -> None:
    with pytest.raises(InvalidSnapshot, match="positive"):
        SnapshotEntry(position=0, member_number=1, tenure_start=T0, eligible=True)
    with pytest.raises(InvalidSnapshot, match="snake_case"):
        SnapshotEntry(position=1, member_number=1, tenure_start=T0, eligible=False, reasons=("a\tb",))
    with pytest.raises(NaiveDatetime):
        SnapshotEntry(position=1, member_number=1, tenure_start=datetime(2025, 1, 1), eligible=True)


# -- canonical serialisation and digest -----------------------------------------------------------------------------


def test_canonical_bytes_format() -> None:
    snap = Snapshot(
        round_key=DAY,
        entries=(
            SnapshotEntry(
                position=1,
                member_number=41,
                tenure_start=datetime(2024, 3, 1, 12, 0, 5, 250, tzinfo=UTC),
                eligible=False,
                reasons=("under_age", "kyc_not_verified", "under_age"),
            ),
            SnapshotEntry(position=2, member_number=42, tenure_start=datetime(2024, 3, 2, tzinfo=UTC), eligible=True),
        ),
    )
    assert snap.canonical_bytes() == (
        b"tenure-snapshot/v1\n"
        b"round_key=2025-03-01\n"
        b"1\t41\t2024-03-01T12:00:05.000250Z\t0\tkyc_not_verified,under_age\n"
        b"2\t42\t2024-03-02T00:00:00.000000Z\t1\t\n"
    )


def test_canonical_bytes_do_not_depend_on_reason_order_or_zone() -> None:
    eastern = timezone(timedelta(hours=-5))
    a = SnapshotEntry(position=1, member_number=1, tenure_start=T0, eligible=False, reasons=("b_x", "a_y"))
    b = SnapshotEntry(
        position=1, member_number=1, tenure_start=T0.astimezone(eastern), eligible=False, reasons=("a_y", "b_x")
    )
    assert a.canonical_bytes() == b.canonical_bytes()


def test_digest_is_the_merkle_root_over_salted_entry_lines() -> None:
    snap = snapshot([(), ("past_due",)])
    leaves = [Leaf(salt=salt(e.member_number), entry=e.canonical_bytes()) for e in snap.entries]
    assert snap.digest(salts_for(snap)) == merkle_root(leaves)
    result = select(snap, 10_000_000)
    assert result.digest == merkle_root(leaves)


def test_digest_needs_every_salt() -> None:
    snap = snapshot([(), ()])
    with pytest.raises(InvalidSnapshot, match="no salt"):
        snap.digest({41: salt(41)})


@given(queues.filter(lambda s: len(s.entries) > 0), st.data())
def test_any_changed_entry_changes_the_digest(snap: Snapshot, data: st.DataObject) -> None:
    salts = salts_for(snap)
    index = data.draw(st.integers(0, len(snap.entries) - 1))
    entry = snap.entries[index]
    flipped = (
        replace(entry, eligible=False, reasons=("fraud_hold",))
        if entry.eligible
        else replace(entry, eligible=True, reasons=())
    )
    changed = Snapshot(round_key=snap.round_key, entries=(*snap.entries[:index], flipped, *snap.entries[index + 1 :]))
    assert changed.digest(salts) != snap.digest(salts)


@given(queues.filter(lambda s: len(s.entries) > 0), st.data())
def test_a_member_can_prove_their_own_entry(snap: Snapshot, data: st.DataObject) -> None:
    salts = salts_for(snap)
    digest = snap.digest(salts)
    entry = data.draw(st.sampled_from(snap.entries))
    proof = snap.proof_for(entry.member_number, salts)
    assert verify_entry(digest=digest, entry=entry, salt=salts[entry.member_number], proof=proof)
    # A better position, a different eligibility, or someone else's salt does not verify.
    wrong_salt = bytes(SALT_BYTES)
    assert not verify_entry(digest=digest, entry=entry, salt=wrong_salt, proof=proof)
    boosted = replace(entry, position=entry.position + 1)
    assert not verify_entry(digest=digest, entry=boosted, salt=salts[entry.member_number], proof=proof)


def test_proof_index_must_match_the_claimed_position() -> None:
    snap = snapshot([(), ()])
    salts = salts_for(snap)
    proof = snap.proof_for(41, salts)
    moved = InclusionProof(leaf_index=1, tree_size=proof.tree_size, path=proof.path)
    assert not verify_entry(digest=snap.digest(salts), entry=snap.entries[0], salt=salt(41), proof=moved)


def test_proof_for_unknown_member_is_refused() -> None:
    snap = snapshot([()])
    with pytest.raises(InvalidSnapshot, match="not in the snapshot"):
        snap.proof_for(999, salts_for(snap))
