"""The tree arithmetic of the audit log against RFC 9162 / RFC 6962 known answers, against an independent
implementation (pymerkle) and against the RFC's own recursive definitions (issue 15)."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from mobileca.audit import merkle
from mobileca.audit.canonical import canonical_json

# The Certificate Transparency reference vectors (RFC 6962 test data, as published with the CT and Trillian code).
ENTRIES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
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
}  # fmt: skip
CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
LEAVES = [merkle.leaf_hash(entry) for entry in ENTRIES]


def test_empty_tree_and_the_reference_roots_for_every_size() -> None:
    assert merkle.root_of([]).hex() == hashlib.sha256(b"").hexdigest()
    assert [merkle.root_of(LEAVES[:n]).hex() for n in range(1, 9)] == ROOTS


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_reference_inclusion_proofs(index: int, size: int) -> None:
    proof = merkle.inclusion_proof(index, size, merkle.memory_lookup(LEAVES))
    assert [value.hex() for value in proof] == INCLUSION[(index, size)]
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second"), sorted(CONSISTENCY))
def test_reference_consistency_proofs(first: int, second: int) -> None:
    proof = merkle.consistency_proof(first, second, merkle.memory_lookup(LEAVES))
    assert [value.hex() for value in proof] == CONSISTENCY[(first, second)]
    roots = [bytes.fromhex(root) for root in ROOTS]
    assert merkle.verify_consistency(first, second, roots[first - 1], roots[second - 1], proof)


# --- the RFC's recursive definitions, written out literally, as a second implementation -------------------------


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


MANY = [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(70)]


def test_roots_agree_with_pymerkle_for_every_size_up_to_70() -> None:
    oracle = InmemoryTree(algorithm="sha256")
    for index in range(70):
        oracle.append_entry(index.to_bytes(4, "big"))
    for size in range(1, 71):
        assert merkle.root_of(MANY[:size]) == oracle.get_root(size) == _mth(MANY[:size])


def test_every_proof_is_the_rfc_definition_and_verifies() -> None:
    lookup = merkle.memory_lookup(MANY)
    for size in range(1, 71):
        root = _mth(MANY[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, lookup)
            assert proof == _path(index, MANY[:size]), (index, size)
            assert merkle.verify_inclusion(MANY[index], index, size, proof, root)
        for first in range(1, size):
            proof = merkle.consistency_proof(first, size, lookup)
            assert proof == _subproof(first, MANY[:size], True), (first, size)
            assert merkle.verify_consistency(first, size, _mth(MANY[:first]), root, proof)


def test_the_appender_completes_the_same_nodes_and_root_from_any_frontier() -> None:
    lookup = merkle.memory_lookup(MANY)
    for start in range(0, 40):
        frontier = [lookup([node])[node] for node in merkle.root_nodes(start)]
        appender = merkle.Appender(start, frontier)
        for index in range(start, 70):
            for level, node_index, value in appender.append(MANY[index]):
                assert value == lookup([(level, node_index)])[(level, node_index)]
            assert appender.root() == _mth(MANY[: index + 1])


def test_mangled_proofs_are_refused() -> None:
    lookup = merkle.memory_lookup(MANY)
    size, root = 37, _mth(MANY[:37])
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, lookup)
        flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        assert not merkle.verify_inclusion(MANY[index], index, size, flipped, root)
        assert not merkle.verify_inclusion(MANY[index], index, size, proof[:-1], root)
        assert not merkle.verify_inclusion(MANY[index], index, size, [*proof, b"\xab" * 32], root)
        assert not merkle.verify_inclusion(MANY[index], (index + 1) % size, size, proof, root)
        assert not merkle.verify_inclusion(MANY[(index + 1) % size], index, size, proof, root)
        assert not merkle.verify_inclusion(MANY[index], index, size, proof, b"\x00" * 32)
    assert not merkle.verify_inclusion(MANY[0], 37, 37, [], root)
    for first in range(1, size):
        proof = merkle.consistency_proof(first, size, lookup)
        first_root = _mth(MANY[:first])
        assert not merkle.verify_consistency(first, size, first_root, root, proof[:-1])
        assert not merkle.verify_consistency(first, size, first_root, root, [*proof, b"\xcd" * 32])
        assert not merkle.verify_consistency(first, size, _mth(MANY[: first + 1]), root, proof)
        assert not merkle.verify_consistency(first, size, first_root, _mth(MANY[: size - 1]), proof)
    assert merkle.verify_consistency(4, 4, _mth(MANY[:4]), _mth(MANY[:4]), [])
    assert not merkle.verify_consistency(4, 4, _mth(MANY[:4]), _mth(MANY[:5]), [])
    assert not merkle.verify_consistency(6, 8, _mth(MANY[:6]), _mth(MANY[:8]), [])


def test_a_fork_fails_consistency_however_well_its_own_proofs_verify() -> None:
    """A log that shows one history to one client and another to a second: each fork's inclusion proofs verify
    against its own heads, but no consistency proof joins a head of one to a later head of the other."""
    honest, forked = MANY[:20], [*MANY[:12], merkle.leaf_hash(b"hidden"), *MANY[13:20]]
    fork_lookup = merkle.memory_lookup(forked)
    assert merkle.verify_inclusion(forked[12], 12, 20, merkle.inclusion_proof(12, 20, fork_lookup), _mth(forked))
    for later in range(20, 21):
        proof = merkle.consistency_proof(15, later, fork_lookup)
        assert not merkle.verify_consistency(15, later, _mth(honest[:15]), _mth(forked), proof)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_the_fast_canonical_json_is_byte_for_byte_rfc8785(value: object) -> None:
    """Leaves hash RFC 8785 bytes: the standard library's encoder is used only where it writes exactly those."""
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return
    assert canonical_json(value) == expected


def test_floats_and_astral_keys_go_through_the_rfc8785_library() -> None:
    assert canonical_json({"a": 1e21, "b": 0.1}) == b'{"a":1e+21,"b":0.1}'
    assert canonical_json({"\U0001f600": 1, "\uffff": 2}) == rfc8785.dumps({"\U0001f600": 1, "\uffff": 2})
