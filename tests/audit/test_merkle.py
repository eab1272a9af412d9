"""The Merkle tree and its proofs: RFC 6962 vectors and properties, in both implementations
(audit.merkle, used by the service, and the bundle's standalone verify.py)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.bundle import verify as standalone

# The Certificate Transparency reference data (RFC 6962 test vectors, as published in
# google/certificate-transparency and transparency-dev/merkle `testonly`): eight leaves, and
# the tree head after each of them.
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_the_empty_tree_hashes_to_sha256_of_nothing():
    assert merkle.Frontier().root() == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_every_reference_tree_head_is_reproduced(size):
    assert merkle.MerkleTree(LEAF_HASHES).root(size).hex() == ROOTS[size - 1]
    assert merkle.root_from_leaf_hashes(LEAF_HASHES[:size]).hex() == ROOTS[size - 1]
    frontier = standalone.Frontier()
    for h in LEAF_HASHES[:size]:
        frontier.append(h)
    assert frontier.root().hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_reference_inclusion_proofs_are_produced_and_verify(index, size):
    proof = merkle.MerkleTree(LEAF_HASHES).inclusion_proof(index, size)
    assert [p.hex() for p in proof] == INCLUSION[(index, size)]
    root = bytes.fromhex(ROOTS[size - 1])
    assert merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, root)
    assert standalone.verify_inclusion(LEAF_HASHES[index], index, size, proof, root)


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_verifies_and_a_changed_leaf_does_not(case):
    size, index = case
    leaves = _leaves(size)
    tree = merkle.MerkleTree(leaves)
    root, proof = tree.root(), tree.inclusion_proof(index, size)
    assert tree.root() == merkle.root_from_leaf_hashes(leaves)
    for verify in (merkle.verify_inclusion, standalone.verify_inclusion):
        assert verify(leaves[index], index, size, proof, root)
        assert not verify(merkle.leaf_hash(b"changed"), index, size, proof, root)
        if size > 1:
            assert not verify(leaves[index], (index + 1) % size, size, proof, root)
        if proof:
            bent = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
            assert not verify(leaves[index], index, size, bent, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_every_consistency_proof_verifies_and_a_rewritten_history_does_not(case):
    old, new = case
    leaves = _leaves(new)
    tree = merkle.MerkleTree(leaves)
    proof = tree.consistency_proof(old, new)
    for verify in (merkle.verify_consistency, standalone.verify_consistency):
        assert verify(old, new, tree.root(old), tree.root(new), proof)
    if 0 < old:
        rewritten = list(leaves)
        rewritten[old - 1] = merkle.leaf_hash(b"rewritten")
        forged_old_root = merkle.MerkleTree(rewritten).root(old)
        for verify in (merkle.verify_consistency, standalone.verify_consistency):
            assert not verify(old, new, forged_old_root, tree.root(new), proof)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=70))
def test_the_frontier_gives_the_full_trees_root_after_every_append(data):
    frontier = merkle.Frontier()
    hashes = []
    for item in data:
        hashes.append(merkle.leaf_hash(item))
        frontier.append(hashes[-1])
        restored = merkle.Frontier.from_hex(frontier.size, frontier.to_hex())
        assert restored.root() == merkle.MerkleTree(hashes).root()
