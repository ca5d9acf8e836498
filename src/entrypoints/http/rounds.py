"""Round transparency: published roots (public), my entry with its inclusion proof (signed in), and a check anyone
can run of an entry, salt and proof against a published root."""

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.errors import DomainError
from domain.merkle import InclusionProof
from domain.rounds import SnapshotEntry
from entrypoints.http.schemas import MoneyOut, Problem, money_out
from ports.outbound.payouts import RoundRecord
from ports.usecases import rounds
from ports.usecases.auth import Principal
from ports.usecases.deps import Deps
from ports.usecases.errors import InvalidInput

ROUNDS_CACHE_SECONDS = 60
"""Rounds appear at most once a day; a minute of staleness costs nobody anything."""
HEX_SHA256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
NOT_FOUND = {404: ResponseSpec(Problem, description="No round on that date (or, for /me, no entry of mine in it)")}
_TOO_MANY = {429: ResponseSpec(Problem, description="Too many requests from this address; see Retry-After")}


class RoundOut(msgspec.Struct, rename="camel", kw_only=True):
    round_key: date
    evaluated_at: datetime
    root: str
    """The snapshot's Merkle root (hex SHA-256) over salted leaves."""
    winners: int
    queue_size: int
    evaluated_through: int
    """Eligibility was checked for positions 1..evaluatedThrough; later entries are recorded `not_reached`."""
    reward: MoneyOut
    fund_before: MoneyOut


def round_out(record: RoundRecord) -> RoundOut:
    return RoundOut(
        round_key=record.round_key,
        evaluated_at=record.evaluated_at,
        root=record.digest.hex(),
        winners=record.winners,
        queue_size=record.queue_size,
        evaluated_through=record.evaluated_through,
        reward=money_out(record.reward),
        fund_before=money_out(record.fund_before),
    )


class EntryIO(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    position: Annotated[int, msgspec.Meta(ge=1)]
    member_number: Annotated[int, msgspec.Meta(ge=1)]
    tenure_start: Annotated[datetime, msgspec.Meta(tz=True)]
    eligible: bool
    reasons: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=32)]


class ProofIO(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    leaf_index: Annotated[int, msgspec.Meta(ge=0)]
    tree_size: Annotated[int, msgspec.Meta(ge=1)]
    path: Annotated[list[HEX_SHA256], msgspec.Meta(max_length=64)]


class MyEntryOut(msgspec.Struct, rename="camel", kw_only=True):
    round: RoundOut
    entry: EntryIO
    salt: str
    """My secret salt (hex): with it and the proof, anyone I choose can check my entry against the root."""
    proof: ProofIO
    canonical_entry: str
    """The entry line exactly as hashed: SHA-256(0x00 ‖ salt ‖ canonicalEntry) is my leaf."""


class CheckIn(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    entry: EntryIO
    salt: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    proof: ProofIO


class CheckOut(msgspec.Struct, rename="camel", kw_only=True):
    valid: bool


def entry_io(entry: SnapshotEntry) -> EntryIO:
    return EntryIO(
        position=entry.position,
        member_number=entry.member_number,
        tenure_start=entry.tenure_start,
        eligible=entry.eligible,
        reasons=list(entry.reasons),
    )


class PublicRoundsController(Controller):
    """Mounted on the public queue router (cached, rate-limited per address)."""

    path = "/rounds"
    tags = ["queue"]

    @get("/", operation_id="listRounds", cache=ROUNDS_CACHE_SECONDS, responses=_TOO_MANY)
    async def list_rounds(
        self,
        deps: NamedDependency[Deps],
        before: Annotated[date | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> list[RoundOut]:
        """Every round with its published root, newest first."""
        return [round_out(r) for r in await rounds.published_rounds(deps, before=before, limit=limit)]

    @get("/{round_key:date}", operation_id="getRound", cache=ROUNDS_CACHE_SECONDS, responses={**NOT_FOUND, **_TOO_MANY})
    async def get_round(self, round_key: FromPath[date], deps: NamedDependency[Deps]) -> RoundOut:
        return round_out(await rounds.published_round(deps, round_key))

    @post(
        "/{round_key:date}/check",
        operation_id="checkRoundEntry",
        status_code=200,
        responses={**NOT_FOUND, **_TOO_MANY, 422: ResponseSpec(Problem, description="Not a well-formed entry")},
    )
    async def check(self, round_key: FromPath[date], data: JSONBody[CheckIn], deps: NamedDependency[Deps]) -> CheckOut:
        """Is this entry, with this salt and proof, under the round's published root? (Changes nothing.)"""
        try:
            entry = SnapshotEntry(
                position=data.entry.position,
                member_number=data.entry.member_number,
                tenure_start=data.entry.tenure_start,
                eligible=data.entry.eligible,
                reasons=tuple(data.entry.reasons),
            )
        except DomainError as exc:  # a malformed entry (e.g. reasons given for an eligible one)
            raise InvalidInput(str(exc), ["entry_invalid"]) from None
        proof = InclusionProof(
            leaf_index=data.proof.leaf_index,
            tree_size=data.proof.tree_size,
            path=tuple(bytes.fromhex(h) for h in data.proof.path),
        )
        valid = await rounds.check_entry(deps, round_key, entry=entry, salt=bytes.fromhex(data.salt), proof=proof)
        return CheckOut(valid=valid)


class MyRoundEntryController(Controller):
    path = "/api/queue/me/rounds"
    tags = ["queue"]

    @get("/{round_key:date}", operation_id="getMyRoundEntry", responses=NOT_FOUND)
    async def mine(
        self, round_key: FromPath[date], principal: NamedDependency[Principal], deps: NamedDependency[Deps]
    ) -> MyEntryOut:
        """My entry in a round's snapshot, my salt and the inclusion proof, to verify against the published root."""
        found = await rounds.my_round_entry(deps, principal, round_key)
        return MyEntryOut(
            round=round_out(found.round),
            entry=entry_io(found.entry),
            salt=found.salt.hex(),
            proof=ProofIO(
                leaf_index=found.proof.leaf_index,
                tree_size=found.proof.tree_size,
                path=[h.hex() for h in found.proof.path],
            ),
            canonical_entry=found.entry.canonical_line(),
        )
