"""The transparency log's public read side, ``/transparency/v1/`` (issue 15): the signed tree head, the log's keys,
inclusion proofs by leaf index and by leaf hash, consistency proofs; public JSON that only carries hashes, and every
unreadable or unanswerable question refused as JSON with 400, 404 or 405, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from django.test import Client

from mobileca.audit import merkle
from mobileca.audit.models import AuditEvent, TreeHead
from mobileca.audit.sequencer import audit_sequence
from mobileca.audit.services import Actor, audit_record, canonical_entry
from mobileca.audit.treehead import SignedTreeHead

pytestmark = pytest.mark.django_db
ACTOR = Actor("system", "test")
BASE = "/transparency/v1"


def _events(count: int, start: int = 0) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(action="operation.sign", subject=f"credential:SECRET-{n}", actor=ACTOR, data={"n": n})
            for n in range(start, start + count)
        ]


def _get(path: str, **params: Any) -> tuple[int, dict[str, Any], Any]:
    response = Client().get(f"{BASE}/{path}", params)
    assert response["Content-Type"] == "application/json", response.content
    return response.status_code, json.loads(response.content), response


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


def _log(size: int) -> list[AuditEvent]:
    _events(size)
    audit_sequence()
    return list(AuditEvent.objects.order_by("leaf_index"))


def _public_key_der() -> bytes:
    _, keys, _ = _get("public-key")
    return base64.b64decode(keys["keys"][0]["key"])


def test_the_sth_is_the_latest_signed_head_verifiable_with_the_published_key_without_login() -> None:
    _log(5)
    status, document, response = _get("sth")
    assert status == 200
    head = TreeHead.objects.first()
    assert head is not None
    assert document["tree_size"] == 5 and document["max_lag_ms"] == head.max_lag_ms
    assert base64.b64decode(document["sha256_root_hash"]) == bytes(head.root_hash)
    assert SignedTreeHead.from_json(document).verify(_public_key_der())
    assert response["Cache-Control"] == "public, max-age=1"


def test_the_sth_is_a_404_before_the_log_signed_anything() -> None:
    status, document, _ = _get("sth")
    assert (status, document["error"]) == (404, "not_found")
    assert "error_description" in document


def test_the_public_key_is_the_p256_log_key_as_der_and_pem_with_its_id() -> None:
    _log(1)
    status, document, response = _get("public-key")
    assert status == 200 and len(document["keys"]) == 1
    key = document["keys"][0]
    der = base64.b64decode(key["key"])
    assert key["key_id"] == hashlib.sha256(der).hexdigest()
    assert key["algorithm"] == "ecdsa-p256-sha256" and key["active"] is True
    loaded = serialization.load_der_public_key(der)
    assert isinstance(loaded, ec.EllipticCurvePublicKey) and loaded.curve.name == "secp256r1"
    assert serialization.load_pem_public_key(key["pem"].encode()) == loaded
    assert "max-age=3600" in response["Cache-Control"]


def test_an_inclusion_proof_by_index_verifies_for_every_leaf_of_an_older_signed_size() -> None:
    events = _log(7)
    _events(6, start=7)
    audit_sequence()
    old_root = merkle.root_of([merkle.leaf_hash(canonical_entry(event)) for event in events])
    for event in events:
        status, proof, response = _get("proof-by-index", leaf_index=event.leaf_index, tree_size=7)
        assert status == 200 and (proof["leaf_index"], proof["tree_size"]) == (event.leaf_index, 7)
        leaf = merkle.leaf_hash(canonical_entry(event))
        assert merkle.verify_inclusion(leaf, event.leaf_index, 7, _unb64(proof["audit_path"]), old_root)
    assert "public" in response["Cache-Control"] and "max-age=86400" in response["Cache-Control"]


def test_an_inclusion_proof_by_hash_finds_the_leaf_and_verifies_against_the_sth() -> None:
    events = _log(6)
    _, sth, _ = _get("sth")
    root = base64.b64decode(sth["sha256_root_hash"])
    leaf = merkle.leaf_hash(canonical_entry(events[4]))
    for encoded in (_b64(leaf), base64.urlsafe_b64encode(leaf).decode()):
        status, proof, _ = _get("proof-by-hash", hash=encoded, tree_size=6)
        assert status == 200 and proof["leaf_index"] == 4
        assert merkle.verify_inclusion(leaf, 4, 6, _unb64(proof["audit_path"]), root)


def test_a_consistency_proof_links_two_signed_heads() -> None:
    _log(3)
    _, old, _ = _get("sth")
    _events(10, start=3)
    audit_sequence()
    _, new, _ = _get("sth")
    status, proof, _ = _get("sth-consistency", first=3, second=13)
    assert status == 200 and (proof["first"], proof["second"]) == (3, 13)
    assert merkle.verify_consistency(
        3,
        13,
        base64.b64decode(old["sha256_root_hash"]),
        base64.b64decode(new["sha256_root_hash"]),
        _unb64(proof["consistency"]),
    )
    assert _get("sth-consistency", first=13, second=13)[1]["consistency"] == []


def test_the_public_endpoints_carry_hashes_only_never_an_event() -> None:
    events = _log(4)
    leaf = merkle.leaf_hash(canonical_entry(events[0]))
    bodies = [
        _get("sth")[2].content,
        _get("public-key")[2].content,
        _get("proof-by-index", leaf_index=0, tree_size=4)[2].content,
        _get("proof-by-hash", hash=_b64(leaf), tree_size=4)[2].content,
        _get("sth-consistency", first=1, second=4)[2].content,
    ]
    for body in bodies:
        assert b"SECRET" not in body and b"operation.sign" not in body and events[0].salt.encode() not in body


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("proof-by-index", {"tree_size": "4"}, 400),  # leaf_index missing
        ("proof-by-index", {"leaf_index": "abc", "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": "-1", "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": "1e3", "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": "", "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": "1.0", "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": "٣", "tree_size": "4"}, 400),  # an Arabic-Indic digit
        ("proof-by-index", {"leaf_index": "9" * 40, "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": str(2**63), "tree_size": "4"}, 400),
        ("proof-by-index", {"leaf_index": "4", "tree_size": "4"}, 404),  # beyond the tree
        ("proof-by-index", {"leaf_index": "0", "tree_size": "5"}, 404),  # beyond the signed head
        ("proof-by-index", {"leaf_index": "0", "tree_size": str(2**63 - 1)}, 404),
        ("proof-by-index", {"leaf_index": "0", "tree_size": "0"}, 404),
        ("proof-by-hash", {"tree_size": "4"}, 400),
        ("proof-by-hash", {"hash": "not base64!", "tree_size": "4"}, 400),
        ("proof-by-hash", {"hash": _b64(b"short"), "tree_size": "4"}, 400),
        ("proof-by-hash", {"hash": "A" * 5000, "tree_size": "4"}, 400),
        ("proof-by-hash", {"hash": _b64(bytes(32)), "tree_size": "4"}, 404),  # no such leaf
        ("proof-by-hash", {"hash": _b64(bytes(32)), "tree_size": "-4"}, 400),
        ("sth-consistency", {"first": "1"}, 400),
        ("sth-consistency", {"first": "x", "second": "4"}, 400),
        ("sth-consistency", {"first": "3", "second": "2"}, 400),
        ("sth-consistency", {"first": "1", "second": "5"}, 404),
        ("sth-consistency", {"first": "1", "second": "9" * 18}, 404),
        ("sth-consistency", {"first": "1", "second": "9" * 20}, 400),
    ],
)
def test_unreadable_or_unanswerable_questions_are_refused_as_json(
    path: str, params: dict[str, str], status: int
) -> None:
    _log(4)
    got, document, response = _get(path, **params)
    assert got == status, document
    assert document["error"] == ("invalid_request" if status == 400 else "not_found")
    assert isinstance(document["error_description"], str) and document["error_description"]
    assert response["Cache-Control"] == "no-cache"


def test_a_leaf_past_an_older_tree_size_is_not_proven_in_it() -> None:
    events = _log(3)
    _events(2, start=3)
    audit_sequence()
    later = AuditEvent.objects.get(leaf_index=4)
    leaf = merkle.leaf_hash(canonical_entry(later))
    assert _get("proof-by-hash", hash=_b64(leaf), tree_size=3)[0] == 404
    assert _get("proof-by-hash", hash=_b64(leaf), tree_size=5)[1]["leaf_index"] == 4
    assert events[0].leaf_index == 0


def test_only_get_is_offered_and_other_methods_answer_405_json() -> None:
    _log(1)
    client = Client(enforce_csrf_checks=True)
    for method in (client.post, client.put, client.delete):
        response = method(f"{BASE}/sth")
        assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
        assert json.loads(response.content)["error"] == "method_not_allowed"
    assert client.head(f"{BASE}/sth").status_code == 200


def test_a_nul_in_the_address_is_refused_in_this_apis_shape() -> None:
    _log(1)
    status, document, _ = _get("proof-by-index", leaf_index="0\x00", tree_size="1")
    assert (status, document["error"]) == (400, "invalid_request")
