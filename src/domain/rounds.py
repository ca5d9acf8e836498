"""Payout rounds: selection from an ordered snapshot, its canonical bytes and its Merkle digest.

Why a snapshot: a round is a one-shot selection, and the queue's fairness is the product. The whole ordered
queue as it stood (position, member number, tenure start, eligible, reasons) is frozen with the round, so every
selection can be re-checked later: winners are exactly the first eligible entries, and every entry passed over
is recorded with its reasons. Its digest is a Merkle root over salted leaves (``domain.merkle``), so a member can
prove their own entry without the digest revealing anyone else's.

Canonical serialisation (``tenure-snapshot/v1``), UTF-8, every line ending in ``\\n``::

    tenure-snapshot/v1
    round_key=<YYYY-MM-DD>
    <position>\\t<member number>\\t<tenure_start YYYY-MM-DDTHH:MM:SS.ffffffZ>\\t<1|0>\\t<reasons, sorted, comma-joined>

One entry line per queue member in position order. A leaf of the digest is ``(member salt, entry line without
its newline)``; leaves are in position order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from itertools import pairwise

from domain.calendar import ensure_utc
from domain.eligibility import winners_count
from domain.errors import InvalidSnapshot
from domain.merkle import InclusionProof, Leaf, build_proof, merkle_root, verify_proof
from domain.money import Money
from domain.rules import ProgramRules

SNAPSHOT_FORMAT = "tenure-snapshot/v1"

_REASON = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotEntry:
    """One queue member as seen at selection. ``eligible`` iff there is no reason against it."""

    position: int
    member_number: int
    tenure_start: datetime
    eligible: bool
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenure_start", ensure_utc(self.tenure_start, "tenure_start"))
        object.__setattr__(self, "reasons", tuple(sorted(set(self.reasons))))
        if self.position < 1 or self.member_number < 1:
            raise InvalidSnapshot("positions and member numbers are positive")
        if self.eligible == bool(self.reasons):
            raise InvalidSnapshot(f"#{self.position}: an entry is eligible exactly when it has no reasons")
        for reason in self.reasons:
            if not _REASON.fullmatch(reason):
                raise InvalidSnapshot(f"reason {reason!r} is not a snake_case code")

    def canonical_line(self) -> str:
        start = self.tenure_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return "\t".join(
            (
                str(self.position),
                str(self.member_number),
                start,
                "1" if self.eligible else "0",
                ",".join(self.reasons),
            )
        )

    def canonical_bytes(self) -> bytes:
        """The entry's bytes as hashed into its Merkle leaf."""
        return self.canonical_line().encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The ordered queue at one evaluation: positions 1..N, ascending ``(tenure_start, member_number)``."""

    round_key: date
    entries: tuple[SnapshotEntry, ...]

    def __post_init__(self) -> None:
        for expected, entry in enumerate(self.entries, start=1):
            if entry.position != expected:
                raise InvalidSnapshot(f"positions must be 1..N in order; found {entry.position} at {expected}")
        numbers = [entry.member_number for entry in self.entries]
        if len(set(numbers)) != len(numbers):
            duplicates = sorted({number for number in numbers if numbers.count(number) > 1})
            # A member number identifies one membership (and its salt): two entries would mean one member twice.
            raise InvalidSnapshot(f"member numbers must be unique; repeated: {duplicates}")
        for ahead, behind in pairwise(self.entries):
            if (ahead.tenure_start, ahead.member_number) >= (behind.tenure_start, behind.member_number):
                raise InvalidSnapshot(
                    f"#{ahead.position} and #{behind.position} break (tenure_start, member_number) order"
                )

    @property
    def eligible(self) -> tuple[SnapshotEntry, ...]:
        return tuple(entry for entry in self.entries if entry.eligible)

    def canonical_bytes(self) -> bytes:
        """Deterministic bytes of the whole snapshot (format in the module docstring)."""
        lines = [SNAPSHOT_FORMAT, f"round_key={self.round_key.isoformat()}"]
        lines.extend(entry.canonical_line() for entry in self.entries)
        return "".join(line + "\n" for line in lines).encode()

    def leaves(self, salts: Mapping[int, bytes]) -> tuple[Leaf, ...]:
        """Merkle leaves in position order; ``salts`` maps member number to that member's secret salt."""
        missing = [entry.member_number for entry in self.entries if entry.member_number not in salts]
        if missing:
            raise InvalidSnapshot(f"no salt for member numbers {missing}")
        return tuple(Leaf(salt=salts[entry.member_number], entry=entry.canonical_bytes()) for entry in self.entries)

    def digest(self, salts: Mapping[int, bytes]) -> bytes:
        """The snapshot's Merkle root over salted leaves (stored with the round)."""
        return merkle_root(self.leaves(salts))

    def proof_for(self, member_number: int, salts: Mapping[int, bytes]) -> InclusionProof:
        """Inclusion proof of one member's entry, handed to that member with their salt."""
        for index, entry in enumerate(self.entries):
            if entry.member_number == member_number:
                return build_proof(self.leaves(salts), index)
        raise InvalidSnapshot(f"member number {member_number} is not in the snapshot")


def verify_entry(*, digest: bytes, entry: SnapshotEntry, salt: bytes, proof: InclusionProof) -> bool:
    """What a member runs: does my entry, with my salt, belong to the snapshot with this digest?"""
    return proof.leaf_index == entry.position - 1 and verify_proof(
        digest, Leaf(salt=salt, entry=entry.canonical_bytes()), proof
    )


def round_key(evaluated_at: datetime) -> date:
    """A round's key is its evaluation date (UTC): at most one round per day, whoever triggers it."""
    return ensure_utc(evaluated_at, "evaluated_at").date()


class NoRoundReason(StrEnum):
    FUND_BELOW_THRESHOLD = "fund_below_threshold"
    NO_ELIGIBLE_MEMBER = "no_eligible_member"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundSelected:
    """A round: its winners (first eligible, in order), the entries passed over, and the money committed."""

    round_key: date
    digest: bytes
    winners: tuple[SnapshotEntry, ...]
    skipped: tuple[SnapshotEntry, ...]
    reward: Money
    fund_before: Money

    @property
    def committed(self) -> Money:
        return self.reward * len(self.winners)

    @property
    def fund_after(self) -> Money:
        return self.fund_before - self.committed


@dataclass(frozen=True, slots=True, kw_only=True)
class NoRound:
    """An evaluation that created no round (recorded, and staff alerted when nobody was eligible)."""

    round_key: date
    digest: bytes
    reason: NoRoundReason
    fund: Money
    queue_size: int


def select_round(
    *, snapshot: Snapshot, fund: Money, rules: ProgramRules, salts: Mapping[int, bytes]
) -> RoundSelected | NoRound:
    """Select winners from ``snapshot`` given the ``fund`` balance at evaluation.

    The program-level checks (launch date, freeze switch, provider backlog, reconciliation age) are decided
    before this is called; this function still refuses a fund below the threshold so it is safe on its own.
    ``skipped`` lists the ineligible entries ranked ahead of the last winner — exactly those passed over.
    """
    digest = snapshot.digest(salts)
    if fund < rules.payout_threshold:
        return NoRound(
            round_key=snapshot.round_key,
            digest=digest,
            reason=NoRoundReason.FUND_BELOW_THRESHOLD,
            fund=fund,
            queue_size=len(snapshot.entries),
        )
    eligible = snapshot.eligible
    count = winners_count(fund=fund, rules=rules, eligible_count=len(eligible))
    if count == 0:
        return NoRound(
            round_key=snapshot.round_key,
            digest=digest,
            reason=NoRoundReason.NO_ELIGIBLE_MEMBER,
            fund=fund,
            queue_size=len(snapshot.entries),
        )
    winners = eligible[:count]
    last = winners[-1].position
    skipped = tuple(entry for entry in snapshot.entries if not entry.eligible and entry.position < last)
    return RoundSelected(
        round_key=snapshot.round_key,
        digest=digest,
        winners=winners,
        skipped=skipped,
        reward=rules.reward,
        fund_before=fund,
    )
