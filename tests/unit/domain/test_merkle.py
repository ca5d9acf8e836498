"""Merkle tree over salted leaves: roots, inclusion proofs, domain separation."""

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.merkle import (
    SALT_BYTES,
    InclusionProof,
    Leaf,
    StreamingRoot,
    build_proof,
    chunked_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_proof,
)

salts = st.binary(min_size=SALT_BYTES, max_size=SALT_BYTES)
leaves_st = st.lists(st.builds(Leaf, salt=salts, entry=st.binary(max_size=40)), min_size=1, max_size=40)


def _leaf(i: int) -> Leaf:
    return Leaf(salt=bytes([i]) * SALT_BYTES, entry=f"entry-{i}".encode())


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_leaf_hash_is_prefixed_sha256_of_salt_and_entry() -> None:
    leaf = _leaf(7)
    assert leaf_hash(leaf) == _sha(b"\x00" + leaf.salt + leaf.entry)


def test_node_hash_is_prefixed_and_differs_from_a_leaf_over_the_same_bytes() -> None:
    left, right = _sha(b"l"), _sha(b"r")
    assert node_hash(left, right) == _sha(b"\x01" + left + right)
    assert node_hash(left, right) != _sha(b"\x00" + left + right)


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert merkle_root([]) == _sha(b"")


def test_single_leaf_root_is_its_leaf_hash() -> None:
    assert merkle_root([_leaf(1)]) == leaf_hash(_leaf(1))


def test_three_leaves_promote_the_lone_last_node_rfc6962() -> None:
    a, b, c = (leaf_hash(_leaf(i)) for i in range(3))
    assert merkle_root([_leaf(0), _leaf(1), _leaf(2)]) == node_hash(node_hash(a, b), c)


def test_five_leaves_split_at_largest_power_of_two() -> None:
    h = [leaf_hash(_leaf(i)) for i in range(5)]
    left = node_hash(node_hash(h[0], h[1]), node_hash(h[2], h[3]))
    assert merkle_root([_leaf(i) for i in range(5)]) == node_hash(left, h[4])


def test_odd_last_leaf_is_not_duplicated() -> None:
    """Duplicating the last node (Bitcoin's CVE-2012-2459) would give [a,b,c] and [a,b,c,c] the same root."""
    three = [_leaf(0), _leaf(1), _leaf(2)]
    assert merkle_root(three) != merkle_root([*three, _leaf(2)])


def test_salt_must_have_fixed_length() -> None:
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        Leaf(salt=b"short", entry=b"x")


def test_build_proof_refuses_out_of_range_index() -> None:
    with pytest.raises(IndexError):
        build_proof([_leaf(0)], 1)
    with pytest.raises(IndexError):
        build_proof([_leaf(0)], -1)


def test_single_leaf_proof_is_empty_and_verifies() -> None:
    proof = build_proof([_leaf(0)], 0)
    assert proof == InclusionProof(leaf_index=0, tree_size=1, path=())
    assert verify_proof(merkle_root([_leaf(0)]), _leaf(0), proof)


@given(leaves_st, st.data())
def test_a_proof_verifies_for_every_leaf(leaves: list[Leaf], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    assert verify_proof(root, leaves[index], build_proof(leaves, index))


@given(leaves_st, st.data())
def test_every_leaf_of_a_tree_verifies(leaves: list[Leaf], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert verify_proof(root, leaf, build_proof(leaves, index))


@given(leaves_st, st.data(), st.binary(max_size=40))
def test_an_altered_entry_fails(leaves: list[Leaf], data: st.DataObject, other_entry: bytes) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    assume(other_entry != leaves[index].entry)
    altered = Leaf(salt=leaves[index].salt, entry=other_entry)
    assert not verify_proof(merkle_root(leaves), altered, build_proof(leaves, index))


@given(leaves_st, st.data(), salts)
def test_an_altered_salt_fails(leaves: list[Leaf], data: st.DataObject, other_salt: bytes) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    assume(other_salt != leaves[index].salt)
    altered = Leaf(salt=other_salt, entry=leaves[index].entry)
    assert not verify_proof(merkle_root(leaves), altered, build_proof(leaves, index))


@given(leaves_st, st.data())
def test_a_proof_for_another_position_fails(leaves: list[Leaf], data: st.DataObject) -> None:
    assume(len(leaves) > 1)
    index = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(st.integers(0, len(leaves) - 1).filter(lambda i: i != index))
    assume(leaves[index] != leaves[other])
    proof = build_proof(leaves, index)
    moved = InclusionProof(leaf_index=other, tree_size=proof.tree_size, path=proof.path)
    assert not verify_proof(merkle_root(leaves), leaves[index], moved)


@given(leaves_st, st.data())
def test_a_tampered_path_fails(leaves: list[Leaf], data: st.DataObject) -> None:
    assume(len(leaves) > 1)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = build_proof(leaves, index)
    step = data.draw(st.integers(0, len(proof.path) - 1))
    flipped = bytes([proof.path[step][0] ^ 1]) + proof.path[step][1:]
    path = (*proof.path[:step], flipped, *proof.path[step + 1 :])
    tampered = InclusionProof(leaf_index=index, tree_size=proof.tree_size, path=path)
    assert not verify_proof(merkle_root(leaves), leaves[index], tampered)


@given(leaves_st, st.data())
def test_a_wrong_tree_size_or_path_length_fails(leaves: list[Leaf], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = build_proof(leaves, index)
    extra = InclusionProof(leaf_index=index, tree_size=proof.tree_size, path=(*proof.path, root))
    assert not verify_proof(root, leaves[index], extra)
    if proof.path:
        short = InclusionProof(leaf_index=index, tree_size=proof.tree_size, path=proof.path[:-1])
        assert not verify_proof(root, leaves[index], short)


@given(leaves_st, st.data())
def test_inner_node_cannot_pose_as_a_leaf(leaves: list[Leaf], data: st.DataObject) -> None:
    """Second preimage: presenting the two children of an inner node as one leaf never verifies."""
    assume(len(leaves) >= 2)
    root = merkle_root(leaves)
    fake = Leaf(salt=leaf_hash(leaves[0]), entry=leaf_hash(leaves[1]))
    size = data.draw(st.integers(1, len(leaves)))
    for index in range(size):
        path = build_proof(leaves, min(index, len(leaves) - 1)).path
        assert not verify_proof(root, fake, InclusionProof(leaf_index=index, tree_size=size, path=path))


def test_out_of_range_index_in_proof_fails() -> None:
    leaves = [_leaf(0), _leaf(1)]
    root = merkle_root(leaves)
    assert not verify_proof(root, leaves[0], InclusionProof(leaf_index=2, tree_size=2, path=()))
    assert not verify_proof(root, leaves[0], InclusionProof(leaf_index=-1, tree_size=2, path=()))


@given(leaves_st)
def test_root_depends_on_order(leaves: list[Leaf]) -> None:
    assume(len(leaves) >= 2 and leaves[0] != leaves[1])
    swapped = [leaves[1], leaves[0], *leaves[2:]]
    assert merkle_root(swapped) != merkle_root(leaves)


@given(st.lists(st.binary(min_size=0, max_size=8), max_size=70))
def test_the_streaming_root_equals_the_tree_root(entries: list[bytes]) -> None:
    leaves = [Leaf(salt=bytes([i % 256]) * SALT_BYTES, entry=e) for i, e in enumerate(entries)]
    stream = StreamingRoot()
    for leaf in leaves:
        stream.add(leaf_hash(leaf))
    assert stream.size == len(leaves)
    assert stream.root() == merkle_root(leaves)


@given(leaves_st, st.sampled_from([1, 2, 4, 8, 16]), st.data())
def test_a_chunked_proof_is_the_full_proof(leaves: list[Leaf], chunk_size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(leaves) - 1))
    chunks = [leaves[i : i + chunk_size] for i in range(0, len(leaves), chunk_size)]
    roots = [merkle_root(c) for c in chunks]
    proof = chunked_proof(
        chunk=chunks[index // chunk_size],
        index_in_chunk=index % chunk_size,
        chunk_roots=roots,
        chunk_index=index // chunk_size,
        chunk_size=chunk_size,
        tree_size=len(leaves),
    )
    assert proof == build_proof(leaves, index)
    assert verify_proof(merkle_root(leaves), leaves[index], proof)
    assert merkle_root(leaves) == (merkle_root([]) if not roots else _root_of(roots))


def _root_of(hashes: list[bytes]) -> bytes:
    stream = StreamingRoot()
    for h in hashes:
        stream.add(h)
    return stream.root()


def test_chunks_hold_a_power_of_two_leaves() -> None:
    leaf = Leaf(salt=bytes(SALT_BYTES), entry=b"x")
    with pytest.raises(ValueError, match="power of two"):
        chunked_proof(chunk=[leaf], index_in_chunk=0, chunk_roots=[b""], chunk_index=0, chunk_size=3, tree_size=1)
    with pytest.raises(IndexError):
        chunked_proof(chunk=[leaf], index_in_chunk=1, chunk_roots=[b""], chunk_index=0, chunk_size=2, tree_size=1)
