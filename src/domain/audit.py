"""Per-entity audit hash chains and the daily head digest.

Why: every state change of a membership, KYC record, payout, role, rules version or frozen switch must be
explainable later and tamper-evident. Each entity has its own chain (so one entity's history can be verified,
exported or erased-around independently); the daily digest over every chain head can be published outside the
database, so rewriting history would also require rewriting what was published.

Records hold ids and non-personal fields only: personal data lives in erasable rows, and an immutable chain must
never have to be edited to honour an erasure request. ``PERSONAL_FIELD_NAMES`` is a guard rail, not a proof.

Canonical record bytes: UTF-8 JSON, keys sorted, no insignificant whitespace, ASCII-escaped, instants as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``. ``hash = SHA-256(prev_hash ‖ canonical bytes)``; the first record of a chain
uses ``GENESIS_HASH`` (32 zero bytes) as ``prev_hash``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType

from domain.calendar import ensure_utc
from domain.errors import AuditError

GENESIS_HASH = bytes(32)
"""``prev_hash`` of the first record of every chain."""

AuditValue = str | int | bool | None
"""Field values an audit record may carry: scalars only, so the canonical form is unambiguous."""

PERSONAL_FIELD_NAMES = frozenset(
    {
        "name",
        "legal_name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "address",
        "street",
        "date_of_birth",
        "dob",
        "tin",
        "ssn",
        "account_number",
        "routing_number",
        "id_number",
        "ip",
        "ip_address",
    }
)
"""Field names refused in ``before``/``after``: they would put personal data into an unerasable chain."""


class BreakKind(StrEnum):
    """Why a chain failed verification, at the first broken link."""

    WRONG_ENTITY = "wrong_entity"
    SEQUENCE_GAP = "sequence_gap"
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    HASH_MISMATCH = "hash_mismatch"
    TIME_WENT_BACKWARDS = "time_went_backwards"


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _freeze(fields: Mapping[str, AuditValue]) -> Mapping[str, AuditValue]:
    personal = sorted(PERSONAL_FIELD_NAMES.intersection(fields))
    if personal:
        raise AuditError(f"personal fields may not enter the audit chain: {', '.join(personal)}")
    for key, value in fields.items():
        if not isinstance(value, str | int | bool | type(None)):
            raise AuditError(f"audit field {key!r} must be a scalar, got {type(value).__name__}")
    return MappingProxyType(dict(fields))


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One state change of one entity: who, when, what, from what to what, and why."""

    entity_type: str
    entity_id: str
    seq: int
    actor: str
    at: datetime
    action: str
    before: Mapping[str, AuditValue] = field(default_factory=dict)
    after: Mapping[str, AuditValue] = field(default_factory=dict)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise AuditError("audit sequence numbers start at 1")
        if not (self.entity_type and self.entity_id and self.actor and self.action):
            raise AuditError("entity type, entity id, actor and action are required")
        object.__setattr__(self, "at", ensure_utc(self.at, "audit time"))
        object.__setattr__(self, "before", _freeze(self.before))
        object.__setattr__(self, "after", _freeze(self.after))

    def canonical_bytes(self) -> bytes:
        """Deterministic serialisation hashed into the chain (format in the module docstring)."""
        document = {
            "action": self.action,
            "actor": self.actor,
            "after": dict(self.after),
            "at": _utc_text(self.at),
            "before": dict(self.before),
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "reason": self.reason,
            "seq": self.seq,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditLink:
    """A record as stored in its chain: the record, the previous link's hash and its own hash."""

    record: AuditRecord
    prev_hash: bytes
    hash: bytes


def link_hash(prev_hash: bytes, record: AuditRecord) -> bytes:
    """``SHA-256(prev_hash ‖ canonical record bytes)``."""
    return hashlib.sha256(prev_hash + record.canonical_bytes()).digest()


def append(head: AuditLink | None, record: AuditRecord) -> AuditLink:
    """Chain ``record`` after ``head`` (``None`` for a new entity), refusing anything that would not verify."""
    if head is None:
        if record.seq != 1:
            raise AuditError("the first record of a chain has seq 1")
        return AuditLink(record=record, prev_hash=GENESIS_HASH, hash=link_hash(GENESIS_HASH, record))
    previous = head.record
    if (record.entity_type, record.entity_id) != (previous.entity_type, previous.entity_id):
        raise AuditError("a chain holds the records of exactly one entity")
    if record.seq != previous.seq + 1:
        raise AuditError(f"expected seq {previous.seq + 1}, got {record.seq}")
    if record.at < previous.at:
        raise AuditError("audit time may not go backwards within a chain")
    return AuditLink(record=record, prev_hash=head.hash, hash=link_hash(head.hash, record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainVerification:
    """Outcome of verifying one chain: ``ok``, or the first broken link's seq and why it is broken."""

    ok: bool
    length: int
    broken_at_seq: int | None = None
    kind: BreakKind | None = None


def verify_chain(links: Sequence[AuditLink]) -> ChainVerification:
    """Walk the chain from its first record and stop at the first link that does not hold."""
    prev_hash = GENESIS_HASH
    previous: AuditRecord | None = None
    for index, link in enumerate(links):
        record = link.record
        kind: BreakKind | None = None
        if previous is not None and (record.entity_type, record.entity_id) != (
            previous.entity_type,
            previous.entity_id,
        ):
            kind = BreakKind.WRONG_ENTITY
        elif record.seq != index + 1:
            kind = BreakKind.SEQUENCE_GAP
        elif link.prev_hash != prev_hash:
            kind = BreakKind.PREV_HASH_MISMATCH
        elif link.hash != link_hash(prev_hash, record):
            kind = BreakKind.HASH_MISMATCH
        elif previous is not None and record.at < previous.at:
            kind = BreakKind.TIME_WENT_BACKWARDS
        if kind is not None:
            return ChainVerification(ok=False, length=len(links), broken_at_seq=index + 1, kind=kind)
        prev_hash = link.hash
        previous = record
    return ChainVerification(ok=True, length=len(links))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainHead:
    """The latest link of one entity's chain, as listed in the daily digest."""

    entity_type: str
    entity_id: str
    seq: int
    hash: bytes

    def __post_init__(self) -> None:
        if any(ch in value for value in (self.entity_type, self.entity_id) for ch in "\t\n"):
            raise AuditError("entity type and id may not contain tabs or newlines (digest line format)")

    @classmethod
    def of(cls, link: AuditLink) -> ChainHead:
        return cls(
            entity_type=link.record.entity_type,
            entity_id=link.record.entity_id,
            seq=link.record.seq,
            hash=link.hash,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadDigest:
    """What operators publish once a day: the day, how many chains, and one digest over all their heads."""

    day: date
    chain_count: int
    digest: bytes


def head_digest(day: date, heads: Iterable[ChainHead]) -> HeadDigest:
    """Digest over every chain head, independent of the order the heads are listed in.

    Format hashed (UTF-8): ``tenure-audit-heads/v1 <day>\\n`` then one line per head sorted by
    (entity type, entity id): ``<entity type>\\t<entity id>\\t<seq>\\t<hash hex>\\n``.
    """
    ordered = sorted(heads, key=lambda head: (head.entity_type, head.entity_id))
    keys = [(head.entity_type, head.entity_id) for head in ordered]
    if len(set(keys)) != len(keys):
        raise AuditError("one head per entity chain")
    lines = [f"tenure-audit-heads/v1 {day.isoformat()}\n"]
    lines.extend(f"{h.entity_type}\t{h.entity_id}\t{h.seq}\t{h.hash.hex()}\n" for h in ordered)
    digest = hashlib.sha256("".join(lines).encode()).digest()
    return HeadDigest(day=day, chain_count=len(ordered), digest=digest)
