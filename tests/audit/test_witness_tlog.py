"""The witness's own consistency check agrees with the service's Merkle code, and the proofs
the service builds from a frontier are the RFC 6962 proofs."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.witness import tlog

LEAVES = [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(200)]
TREE = merkle.MerkleTree(LEAVES)


def _frontier(size: int) -> merkle.Frontier:
    frontier = merkle.Frontier()
    for h in LEAVES[:size]:
        frontier.append(h)
    return frontier


def test_a_proof_from_the_old_frontier_is_the_rfc_6962_proof_for_every_pair_of_sizes():
    for new in range(0, 70):
        for old in range(0, new + 1):
            assert merkle.consistency_proof_from_frontier(
                _frontier(old), LEAVES[old:new]) == TREE.consistency_proof(old, new), (old, new)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 40))
def test_the_witness_and_the_service_agree_on_every_proof(a, b, damage):
    old, new = min(a, b), max(a, b)
    proof = TREE.consistency_proof(old, new)
    args = (old, new, TREE.root(old), TREE.root(new))
    assert tlog.verify_consistency(*args, proof) is True
    assert tlog.verify_consistency(*args, proof) == merkle.verify_consistency(*args, proof)
    if proof:
        broken = list(proof)
        broken[damage % len(broken)] = hashlib.sha256(b"damaged").digest()
        assert tlog.verify_consistency(*args, broken) is False
        assert merkle.verify_consistency(*args, broken) is False
    other_root = hashlib.sha256(b"another tree").digest()
    if old:
        assert tlog.verify_consistency(old, new, other_root, TREE.root(new), proof) is False
