"""Audit hash chains: append, verification pinpointing the first broken link, daily head digest."""

import hashlib
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.audit import (
    GENESIS_HASH,
    AuditLink,
    AuditRecord,
    BreakKind,
    ChainHead,
    append,
    head_digest,
    link_hash,
    verify_chain,
)
from domain.errors import AuditError, NaiveDatetime

T0 = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)


def _record(seq: int, *, entity_id: str = "pay_1", minutes: int | None = None, **kw: object) -> AuditRecord:
    fields: dict[str, object] = {
        "entity_type": "payout",
        "entity_id": entity_id,
        "seq": seq,
        "actor": "staff_a",
        "at": T0 + timedelta(minutes=seq if minutes is None else minutes),
        "action": "approve",
        "before": {"status": "pending_approval"},
        "after": {"status": "approved"},
        "reason": None,
    }
    fields.update(kw)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def _chain(n: int, entity_id: str = "pay_1") -> list[AuditLink]:
    links: list[AuditLink] = []
    head = None
    for seq in range(1, n + 1):
        head = append(head, _record(seq, entity_id=entity_id))
        links.append(head)
    return links


def test_first_link_hashes_genesis_and_canonical_bytes() -> None:
    record = _record(1)
    link = append(None, record)
    assert link.prev_hash == GENESIS_HASH == bytes(32)
    assert link.hash == hashlib.sha256(GENESIS_HASH + record.canonical_bytes()).digest()


def test_canonical_bytes_are_sorted_compact_json_with_utc_instants() -> None:
    record = _record(1, reason="two staff")
    document = json.loads(record.canonical_bytes())
    assert document == {
        "action": "approve",
        "actor": "staff_a",
        "after": {"status": "approved"},
        "at": "2025-03-01T00:31:00.000000Z",
        "before": {"status": "pending_approval"},
        "entity_id": "pay_1",
        "entity_type": "payout",
        "reason": "two staff",
        "seq": 1,
    }
    assert b" " not in record.canonical_bytes().replace(b"two staff", b"")


def test_canonical_bytes_do_not_depend_on_dict_order_or_zone() -> None:
    a = _record(1, after={"status": "approved", "approvals": 2})
    eastern = timezone(timedelta(hours=-5))
    b = _record(1, after={"approvals": 2, "status": "approved"}, at=a.at.astimezone(eastern))
    assert a.canonical_bytes() == b.canonical_bytes()


def test_each_link_chains_to_the_previous_hash() -> None:
    links = _chain(4)
    for previous, link in pairwise(links):
        assert link.prev_hash == previous.hash
        assert link.hash == link_hash(previous.hash, link.record)


@given(st.integers(min_value=1, max_value=25))
def test_an_honest_chain_verifies(n: int) -> None:
    result = verify_chain(_chain(n))
    assert result.ok
    assert result.length == n
    assert result.broken_at_seq is None
    assert result.kind is None


def test_empty_chain_verifies() -> None:
    assert verify_chain([]).ok


@given(st.integers(min_value=2, max_value=15), st.data())
def test_tampering_with_a_record_is_pinpointed(n: int, data: st.DataObject) -> None:
    links = _chain(n)
    k = data.draw(st.integers(0, n - 1))
    forged = replace(links[k].record, after={"status": "cancelled"})
    links[k] = replace(links[k], record=forged)
    result = verify_chain(links)
    assert not result.ok
    assert result.broken_at_seq == k + 1
    assert result.kind is BreakKind.HASH_MISMATCH


@given(st.integers(min_value=2, max_value=15), st.data())
def test_rehashing_a_forged_record_breaks_the_next_link(n: int, data: st.DataObject) -> None:
    """A forger who recomputes the forged link's hash is caught at the following link."""
    links = _chain(n)
    k = data.draw(st.integers(0, n - 2))
    forged = replace(links[k].record, actor="mallory")
    links[k] = AuditLink(record=forged, prev_hash=links[k].prev_hash, hash=link_hash(links[k].prev_hash, forged))
    result = verify_chain(links)
    assert result.broken_at_seq == k + 2
    assert result.kind is BreakKind.PREV_HASH_MISMATCH


@given(st.integers(min_value=3, max_value=15), st.data())
def test_a_deleted_link_is_pinpointed(n: int, data: st.DataObject) -> None:
    links = _chain(n)
    k = data.draw(st.integers(0, n - 2))
    del links[k]
    result = verify_chain(links)
    assert result.broken_at_seq == k + 1
    assert result.kind is BreakKind.SEQUENCE_GAP


def test_a_link_from_another_entity_is_pinpointed() -> None:
    links = _chain(3)
    links[1] = _chain(2, entity_id="pay_2")[1]
    result = verify_chain(links)
    assert (result.broken_at_seq, result.kind) == (2, BreakKind.WRONG_ENTITY)


def test_time_going_backwards_is_pinpointed() -> None:
    first = append(None, _record(1, minutes=10))
    # Forge a second link whose hash is right but whose time is earlier than the first one.
    second_record = _record(2, minutes=5)
    second = AuditLink(record=second_record, prev_hash=first.hash, hash=link_hash(first.hash, second_record))
    result = verify_chain([first, second])
    assert (result.broken_at_seq, result.kind) == (2, BreakKind.TIME_WENT_BACKWARDS)


def test_append_refuses_what_would_not_verify() -> None:
    head = append(None, _record(1))
    with pytest.raises(AuditError, match="seq 1"):
        append(None, _record(2))
    with pytest.raises(AuditError, match="expected seq 2"):
        append(head, _record(3))
    with pytest.raises(AuditError, match="one entity"):
        append(head, _record(2, entity_id="pay_9"))
    with pytest.raises(AuditError, match="backwards"):
        append(head, _record(2, minutes=0))


def test_records_refuse_personal_fields_and_non_scalars() -> None:
    with pytest.raises(AuditError, match="email"):
        _record(1, after={"email": "a@example.com"})
    with pytest.raises(AuditError, match="account_number, routing_number"):
        _record(1, before={"routing_number": "x", "account_number": "y"})
    with pytest.raises(AuditError, match="scalar"):
        _record(1, after={"amounts": [1, 2]})


def test_records_refuse_bad_identity_fields() -> None:
    with pytest.raises(AuditError, match="start at 1"):
        _record(0)
    with pytest.raises(AuditError, match="required"):
        _record(1, actor="")
    with pytest.raises(NaiveDatetime):
        _record(1, at=datetime(2025, 3, 1))


def test_record_fields_are_read_only_after_construction() -> None:
    source = {"status": "approved"}
    record = _record(1, after=source)
    source["status"] = "cancelled"
    assert record.after["status"] == "approved"
    with pytest.raises(TypeError):
        record.after["status"] = "x"  # type: ignore[index]


def test_head_digest_is_independent_of_listing_order() -> None:
    heads = [ChainHead.of(_chain(n, entity_id=f"pay_{n}")[-1]) for n in (1, 2, 3)]
    day = date(2025, 3, 1)
    assert head_digest(day, heads) == head_digest(day, list(reversed(heads)))
    assert head_digest(day, heads).chain_count == 3


def test_head_digest_format() -> None:
    head = ChainHead.of(_chain(2)[-1])
    expected = f"tenure-audit-heads/v1 2025-03-01\npayout\tpay_1\t2\t{head.hash.hex()}\n".encode()
    assert head_digest(date(2025, 3, 1), [head]).digest == hashlib.sha256(expected).digest()


def test_head_digest_changes_with_any_head_or_the_day() -> None:
    heads = [ChainHead.of(_chain(2, entity_id=f"pay_{n}")[-1]) for n in (1, 2)]
    day = date(2025, 3, 1)
    base = head_digest(day, heads).digest
    advanced = [heads[0], ChainHead.of(_chain(3, entity_id="pay_2")[-1])]
    assert head_digest(day, advanced).digest != base
    assert head_digest(day + timedelta(days=1), heads).digest != base
    assert head_digest(day, heads[:1]).digest != base


def test_head_digest_refuses_two_heads_for_one_chain_and_ambiguous_ids() -> None:
    chain = _chain(2)
    with pytest.raises(AuditError, match="one head per entity"):
        head_digest(date(2025, 3, 1), [ChainHead.of(chain[0]), ChainHead.of(chain[1])])
    with pytest.raises(AuditError, match="tabs or newlines"):
        ChainHead(entity_type="payout", entity_id="a\tb", seq=1, hash=bytes(32))
