"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verifiers. Pure: no Django.

Leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right); the tree of
n leaves splits at the largest power of two smaller than n (RFC 6962 section 2.1).

Three pieces:

- `Frontier`: the right edge of the tree (one perfect-subtree hash per set bit of the size),
  enough to append a leaf in O(log n) and to compute the root; the sealer keeps it in the
  state row so sealing never rebuilds the tree.
- `MerkleTree`: every level of a tree held in memory, for producing proofs (export).
- `verify_inclusion` / `verify_consistency`: the verification algorithms of RFC 9162
  sections 2.1.3.2 and 2.1.4.2. The same code is copied into the standalone bundle verifier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (iteratively, through a frontier)."""
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


class Frontier:
    """The compact right edge of an append-only tree.

    ``hashes[i]`` is the root of the i-th perfect subtree from the left; their sizes are the
    set bits of ``size`` from the most significant down. Appending merges equal-sized
    subtrees like a binary counter carries; the root folds the subtrees from the right,
    which is exactly RFC 6962's MTH because its splits fall on the same boundaries.
    """

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} needs {bin(size).count('1')} hashes")

    def append(self, leaf_hash_: bytes) -> None:
        h = leaf_hash_
        size = self.size
        hashes = self.hashes
        while size & 1:
            h = node_hash(hashes.pop(), h)
            size >>= 1
        hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = node_hash(left, h)
        return h

    def to_hex(self) -> list[str]:
        return [h.hex() for h in self.hashes]

    @classmethod
    def from_hex(cls, size: int, hashes: Iterable[str]) -> Frontier:
        return cls(size, [bytes.fromhex(h) for h in hashes])

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)


class MerkleTree:
    """All levels of a tree over the given leaf hashes, for proofs of any earlier size.

    ``levels[k][i]`` is the hash of the perfect subtree of 2**k leaves starting at i * 2**k.
    Any RFC 6962 subtree hash MTH(D[a:b]) with ``a`` aligned is then O(log n) lookups.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        level = list(leaf_hashes)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges the RFC recursion produces."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self.levels[n.bit_length() - 1][start // n]
        k = _largest_power_of_two_below(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"no tree of size {size}: the log holds {self.size} leaves")
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(m, D[0:n]) of RFC 6962 section 2.1.1."""
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of size {size}")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return self._path(m, start, start + k) + [self._subtree(start + k, end)]
        return self._path(m - k, start + k, end) + [self._subtree(start, start + k)]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(m, D[0:n]) of RFC 6962 section 2.1.2."""
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(f"no consistency proof from {old_size} to {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        return _subproof(old_size, 0, new_size, True, self._subtree)


def _subproof(m: int, start: int, end: int, complete: bool,
              subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """SUBPROOF(m, D[start:end], complete) of RFC 6962 section 2.1.2."""
    n = end - start
    if m == n:
        return [] if complete else [subtree(start, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return _subproof(m, start, start + k, complete, subtree) + [subtree(start + k, end)]
    return _subproof(m - k, start + k, end, False, subtree) + [subtree(start, start + k)]


def consistency_proof_from_frontier(old: Frontier, new_leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[0:n]) knowing only the old tree's frontier and the leaves added since.

    Every node of the proof that lies left of m is one of the old tree's perfect subtrees
    (the frontier: the left halves the recursion steps over are m's set bits, largest
    first, and where it stops is the last of them); every other node covers new leaves
    only. So asking a witness to move from the size it co-signed to the newest needs the
    entries sealed since, not the whole log.
    """
    m, n = old.size, old.size + len(new_leaves)
    if m == 0 or m == n:
        return []
    frontier_nodes, start = {}, 0
    for bit in range(m.bit_length() - 1, -1, -1):
        if m >> bit & 1:
            frontier_nodes[(start, start + (1 << bit))] = old.hashes[len(frontier_nodes)]
            start += 1 << bit
    newer = MerkleTree(new_leaves)

    def subtree(a: int, b: int) -> bytes:
        if b <= m:
            return frontier_nodes[(a, b)]
        if a < m:
            raise AssertionError(f"no proof node spans the old edge ({a}..{b}, m={m})")
        return newer._subtree(a - m, b - m)  # a subtree's hash depends on its leaves alone

    return _subproof(m, 0, n, True, subtree)


def verify_inclusion(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` place ``leaf_hash_`` at ``index`` under root?"""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn = index, size - 1
    r = leaf_hash_
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of ``new_size`` an append-only extension?"""
    if not 0 <= old_size <= new_size or any(len(p) != 32 for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    proof = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root] + proof
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
