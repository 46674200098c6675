"""Merkle tree arithmetic of RFC 9162 §2.1 (the Certificate Transparency tree), with no Django in it, so the
command-line tool verifies with the very code the server proves with.

Hashes: a leaf is SHA-256(0x00 ‖ entry), an interior node SHA-256(0x01 ‖ left ‖ right), the empty tree SHA-256("").
A tree of n leaves splits at k, the largest power of two smaller than n.

Proofs are built from *perfect* subtrees: a node (level, index) is the root of the 2**level leaves starting at
index * 2**level. Every range an RFC 9162 proof names is either such a node or a right-edge range whose hash folds a
few of them, so a store that keeps each perfect node once (written when its last leaf arrives, never changed) answers
any proof for any tree size with O(log n) lookups. ``inclusion_nodes`` / ``consistency_nodes`` name the nodes a proof
needs; ``inclusion_proof`` / ``consistency_proof`` assemble it from a lookup function. The verifiers are RFC 9162
§2.1.3.2 and §2.1.4.2, step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index): the perfect subtree of leaves [index * 2**level, (index + 1) * 2**level)
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


# --- ranges and the perfect nodes that make them -------------------------------------------------------------


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect nodes whose hashes fold into MTH(D[start:end]), left to right.

    Valid for the ranges RFC 9162's recursion produces: ``start`` is a multiple of a power of two at least as large as
    the range, so the range splits into aligned perfect subtrees by the bits of its size, largest first.
    """
    nodes, position, remaining = [], start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        nodes.append((level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect nodes' hashes, left to right: H(a, H(b, H(c, …)))."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """PATH(m, D[start:end]) of RFC 9162 §2.1.3.1 as the ranges whose hashes it lists, leaf to root."""
    ranges: list[tuple[int, int]] = []
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start = start + k
    ranges.reverse()  # built root-down; a proof lists the sibling next to the leaf first
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """SUBPROOF(m, D[0:n], true) of RFC 9162 §2.1.4.1 as ranges, in proof order."""
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, second, first, True
    while True:
        size = end - start
        if m == size:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(size)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    ranges.reverse()
    return ranges


def inclusion_nodes(index: int, tree_size: int) -> list[list[Node]]:
    """For each hash of the inclusion proof of leaf ``index`` in a tree of ``tree_size``, the nodes folding into it."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of {tree_size}")
    return [range_nodes(start, end) for start, end in _inclusion_ranges(index, 0, tree_size)]


def consistency_nodes(first: int, second: int) -> list[list[Node]]:
    """The same for the consistency proof between tree sizes ``first`` and ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    return [range_nodes(start, end) for start, end in _consistency_ranges(first, second)]


def root_nodes(tree_size: int) -> list[Node]:
    """The perfect nodes of a whole tree (its right frontier), left to right."""
    return range_nodes(0, tree_size)


def assemble(plan: Sequence[Sequence[Node]], lookup: Callable[[Iterable[Node]], Mapping[Node, bytes]]) -> list[bytes]:
    """The hashes of a proof from its plan, with one ``lookup`` of all the nodes it needs."""
    found = lookup({node for nodes in plan for node in nodes})
    return [fold([found[node] for node in nodes]) for nodes in plan]


# --- in memory: from a list of leaf hashes ----------------------------------------------------------------------


def memory_lookup(leaves: Sequence[bytes]) -> Callable[[Iterable[Node]], dict[Node, bytes]]:
    """A node lookup over leaf hashes held in memory (tests, and small trees)."""

    def hash_of(level: int, index: int) -> bytes:
        if level == 0:
            return leaves[index]
        return node_hash(hash_of(level - 1, 2 * index), hash_of(level - 1, 2 * index + 1))

    return lambda nodes: {node: hash_of(*node) for node in nodes}


def root_of(leaves: Sequence[bytes]) -> bytes:
    return assemble([root_nodes(len(leaves))], memory_lookup(leaves))[0] if leaves else EMPTY_ROOT


def inclusion_proof(
    index: int, tree_size: int, lookup: Callable[[Iterable[Node]], Mapping[Node, bytes]]
) -> list[bytes]:
    return assemble(inclusion_nodes(index, tree_size), lookup)


def consistency_proof(first: int, second: int, lookup: Callable[[Iterable[Node]], Mapping[Node, bytes]]) -> list[bytes]:
    return assemble(consistency_nodes(first, second), lookup)


# --- appending: the nodes each new leaf completes ---------------------------------------------------------------


class Appender:
    """Appends leaf hashes to a tree given by its frontier, yielding every perfect node completed on the way.

    ``frontier`` is the hashes of ``root_nodes(size)``, left to right. After appending, ``root()`` is MTH of the
    grown tree and ``frontier`` is the new one.
    """

    def __init__(self, size: int, frontier: Sequence[bytes]) -> None:
        levels = [level for level, _ in root_nodes(size)]
        if len(levels) != len(frontier):
            raise ValueError("the frontier does not fit the tree size")
        self.size = size
        self.stack: list[tuple[int, bytes]] = list(zip(levels, frontier, strict=True))

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the (level, index, hash) of every node it completes, the leaf first."""
        index = self.size
        completed = [(0, index, leaf)]
        level, current = 0, leaf
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            level, index, current = level + 1, index >> 1, node_hash(left, current)
            completed.append((level, index, current))
        self.stack.append((level, current))
        self.size += 1
        return completed

    @property
    def frontier(self) -> list[bytes]:
        return [value for _, value in self.stack]

    def root(self) -> bytes:
        return fold(self.frontier)


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) -----------------------------------------------------------------


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE for value in hashes)


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``tree_size`` with ``root``."""
    if not (0 <= index < tree_size) or not _well_formed(leaf, root, *proof):
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows that the tree of ``second`` leaves with ``second_root`` extends the one of ``first``."""
    if not (0 <= first <= second) or not _well_formed(first_root, second_root, *proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree's root is the proof's implied first element
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0
