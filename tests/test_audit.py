"""The audit log as a transparency log (issue 15, §8 of the spec): appends share no row, the sequencer gives
committed events consecutive leaves and signs tree heads with a log key in the CA's key back-end, and
``audit_verify`` recomputes everything and names the first bad leaf after an edit, a deletion, a reordering or an
insertion."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from mobileca.audit import merkle
from mobileca.audit.models import AuditEvent, AuditNode, LogKey, TreeHead
from mobileca.audit.proofs import consistency_proof, inclusion_proof, latest_tree_head, signed
from mobileca.audit.sequencer import audit_sequence
from mobileca.audit.services import Actor, AuditEntry, audit_record, audit_record_many, canonical_entry
from mobileca.audit.verify import audit_verify
from mobileca.ca.backends.factory import backend
from mobileca.payments.services import remittance_confirm
from tests.support.audit import tampering
from tests.support.platform import actor_of

ACTOR = Actor("system", "test")


def _events(count: int = 3, start: int = 0) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(action=f"test.{n}", subject=f"thing:{n}", actor=ACTOR, data={"n": n})
            for n in range(start, start + count)
        ]


@pytest.mark.django_db
def test_appends_write_only_their_own_row_and_wait_for_the_sequencer() -> None:
    events = _events()
    assert [event.leaf_index for event in AuditEvent.objects.order_by("id")] == [None, None, None]
    assert len({event.salt for event in events}) == 3 and all(len(event.salt) == 32 for event in events)
    assert TreeHead.objects.count() == 0


@pytest.mark.django_db
def test_audit_record_many_appends_in_order_with_one_statement(django_assert_num_queries) -> None:
    entries = [AuditEntry(action="test.bulk", subject=f"thing:{n}", actor=ACTOR, data={"n": n}) for n in range(5)]
    with transaction.atomic(), django_assert_num_queries(1):
        events = audit_record_many(entries)
    assert [event.data["n"] for event in AuditEvent.objects.order_by("id")] == [0, 1, 2, 3, 4]
    assert [event.pk for event in events] == list(AuditEvent.objects.order_by("id").values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_sequencer_gives_consecutive_leaves_and_signs_the_rfc9162_root() -> None:
    events = _events(5)
    assert audit_sequence() == 5
    assert list(AuditEvent.objects.order_by("leaf_index").values_list("leaf_index", flat=True)) == [0, 1, 2, 3, 4]
    leaves = [merkle.leaf_hash(canonical_entry(event)) for event in AuditEvent.objects.order_by("leaf_index")]
    head = latest_tree_head()
    assert head is not None and head.tree_size == 5 and bytes(head.root_hash) == merkle.root_of(leaves)
    assert signed(head).verify(bytes(head.log_key.public_key_der))
    assert {event.pk for event in events} == set(AuditEvent.objects.values_list("pk", flat=True))
    assert audit_sequence() == 0 and TreeHead.objects.count() == 1  # nothing new, the head is fresh: no new head


@pytest.mark.django_db
def test_the_log_key_is_a_p256_key_held_by_the_ca_back_end() -> None:
    _events(1)
    audit_sequence()
    log_key = LogKey.objects.get()
    held = backend().signing_key(log_key.key_label)
    assert isinstance(held, ec.EllipticCurvePrivateKey) and held.curve.name == "secp256r1"
    from cryptography.hazmat.primitives import serialization

    spki = held.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert bytes(log_key.public_key_der) == spki  # only the public half is stored


@pytest.mark.django_db
def test_the_canonical_entry_is_rfc8785_json_of_the_event_with_its_salt() -> None:
    (event,) = _events(1)
    stored = AuditEvent.objects.get(pk=event.pk)
    entry = canonical_entry(stored)
    assert entry.startswith(b'{"action":"test.0","actor":"system:test","at":"')
    assert f'"salt":"{stored.salt}"'.encode() in entry and b'"data":{"n":0}' in entry
    assert canonical_entry(event) == entry  # the same bytes from the object in memory and from the database


@pytest.mark.django_db
def test_proofs_from_the_stored_nodes_verify_against_signed_heads() -> None:
    _events(5)
    audit_sequence()
    old = latest_tree_head()
    _events(8, start=5)
    audit_sequence()
    new = latest_tree_head()
    assert old is not None and new is not None and (old.tree_size, new.tree_size) == (5, 13)
    for event in AuditEvent.objects.all():
        size, proof = inclusion_proof(event.leaf_index)
        assert size == 13
        leaf = merkle.leaf_hash(canonical_entry(event))
        assert merkle.verify_inclusion(leaf, event.leaf_index, 13, proof, bytes(new.root_hash))
    size, proof = consistency_proof(5)
    assert merkle.verify_consistency(5, size, bytes(old.root_hash), bytes(new.root_hash), proof)


@pytest.mark.django_db
def test_verify_command_reports_an_intact_log(capsys) -> None:
    _events()
    audit_sequence()
    _events(2, start=3)
    call_command("audit_verify")
    assert "audit log intact: 3 leaves, 1 signed tree heads, 2 events waiting" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statement", "bad_leaf", "reason"),
    [
        ("UPDATE audit_auditevent SET data = '{\"n\": 99}' WHERE leaf_index = 2", 2, "does not match its leaf hash"),
        ("DELETE FROM audit_auditevent WHERE leaf_index = 2", 2, "leaf #2 is missing"),
        ("DELETE FROM audit_auditevent WHERE leaf_index = 4", 4, "covers leaves that are not in the log"),
        (
            "UPDATE audit_auditevent SET leaf_index = -1 WHERE leaf_index = 1; "
            "UPDATE audit_auditevent SET leaf_index = 1 WHERE leaf_index = 3; "
            "UPDATE audit_auditevent SET leaf_index = 3 WHERE leaf_index = -1",
            1,
            "does not match its leaf hash",
        ),
        (
            "INSERT INTO audit_auditevent (occurred_at, actor, action, subject, data, salt, leaf_index) "
            "VALUES ('2026-01-01 00:00:00+00', 'system:x', 'test.forged', 'thing:x', '{}', '', 5)",
            5,
            "leaf #5: the event does not match its leaf hash (changed, moved or inserted)",
        ),
        ("UPDATE audit_auditnode SET hash = X'00' WHERE level = 1 AND \"index\" = 1", 2, "does not match its"),
    ],
    ids=["edited", "deleted", "deleted-last", "reordered", "inserted", "node-edited"],
)
def test_any_change_to_the_log_is_named_at_its_first_bad_leaf(statement: str, bad_leaf: int, reason: str) -> None:
    _events(5)
    audit_sequence()
    assert audit_verify().ok
    if connection.vendor == "postgresql":
        statement = statement.replace("X'00'", "'\\x00'::bytea")
    with tampering(), connection.cursor() as cursor:
        for part in statement.split("; "):
            cursor.execute(part)
    report = audit_verify()
    assert (report.ok, report.bad_leaf) == (False, bad_leaf), report.problems
    assert reason in report.reason
    with pytest.raises(CommandError, match=f"at leaf #{bad_leaf}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_forged_tree_head_is_refused() -> None:
    _events(3)
    audit_sequence()
    head = latest_tree_head()
    assert head is not None
    forged_root = merkle.root_of([merkle.leaf_hash(b"another history")] * 3)
    with tampering():
        TreeHead.objects.create(
            tree_size=3,
            root_hash=forged_root,
            timestamp_ms=head.timestamp_ms + 1,
            signature=bytes(head.signature),  # a real signature, over other bytes
            log_key=head.log_key,
        )
    report = audit_verify()
    assert not report.ok
    assert any("the signature does not verify" in problem for problem in report.problems)
    assert any("its root is not the root of the events" in problem for problem in report.problems)


@pytest.mark.django_db
def test_a_substituted_log_key_is_refused() -> None:
    _events(2)
    audit_sequence()
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    from cryptography.hazmat.primitives import serialization

    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    LogKey.objects.update(public_key_der=der)
    report = audit_verify()
    assert not report.ok and "not the back-end's key" in report.reason


@pytest.mark.django_db
def test_a_stale_head_is_re_signed_for_an_unchanged_tree(settings) -> None:
    _events(2)
    audit_sequence()
    first = latest_tree_head()
    settings.MOBILECA_AUDIT = {**settings.MOBILECA_AUDIT, "sth_max_age_seconds": 1}
    import time

    time.sleep(1.05)
    assert audit_sequence() == 0
    second = latest_tree_head()
    assert first is not None and second is not None
    assert (second.tree_size, bytes(second.root_hash)) == (2, bytes(first.root_hash))
    assert second.timestamp_ms > first.timestamp_ms and audit_verify().ok


@pytest.mark.django_db
def test_the_tree_head_serialises_as_rfc9162_tree_head_data() -> None:
    _events(1)
    audit_sequence()
    head = signed(latest_tree_head())  # type: ignore[arg-type]
    data = head.signed_bytes()
    assert data[:8] == head.timestamp_ms.to_bytes(8, "big") and data[8:16] == (1).to_bytes(8, "big")
    assert data[16] == 32 and data[17:49] == head.root_hash and data[49:] == b"\x00\x00"
    document = head.as_json()
    assert base64.b64decode(document["sha256_root_hash"]) == head.root_hash  # type: ignore[arg-type]
    assert type(head).from_json(document) == head


@pytest.mark.django_db
def test_events_cannot_be_updated_or_deleted_through_the_model() -> None:
    event = _events()[0]
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()
    assert AuditEvent.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_every_change_but_the_sequencers_one() -> None:
    _events()
    audit_sequence()
    for statement in [
        "UPDATE audit_auditevent SET action = 'x' WHERE leaf_index = 1",
        "UPDATE audit_auditevent SET leaf_index = 7 WHERE leaf_index = 1",
        "DELETE FROM audit_auditevent WHERE leaf_index = 1",
        "UPDATE audit_auditnode SET hash = '\\x00'::bytea WHERE level = 0",
        "DELETE FROM audit_auditnode",
        "UPDATE audit_treehead SET tree_size = 9",
        "DELETE FROM audit_treehead",
    ]:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    (pending,) = _events(1, start=3)
    with transaction.atomic(), connection.cursor() as cursor:  # the sequencer's write: a leaf for a new event
        cursor.execute("UPDATE audit_auditevent SET leaf_index = 3 WHERE id = %s", [pending.pk])
        transaction.set_rollback(True)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET leaf_index = 3, action = 'x' WHERE id = %s", [pending.pk])
    assert audit_verify().ok and AuditNode.objects.filter(level=0).count() == 3


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError):
        audit_record(action="x", subject="y", actor=ACTOR)
    with pytest.raises(RuntimeError):
        audit_record_many([AuditEntry(action="x", subject="y", actor=ACTOR)])
    assert AuditEvent.objects.count() == 0


def test_every_transition_of_a_purchase_is_recorded_with_its_enterprise(finance, offline_order) -> None:
    order, payment = offline_order
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    events = list(AuditEvent.objects.order_by("id").values_list("action", "enterprise_id", "actor"))
    assert [action for action, _, _ in events] == [
        "order.created",
        "payment.started",
        "payment.paid",
        "order.paid",
        "card.created",
    ]
    assert {enterprise for _, enterprise, _ in events} == {order.enterprise_id}
    assert events[2][2] == f"operator:{finance.pk}"
    audit_sequence()
    assert audit_verify().ok


@pytest.mark.django_db
def test_openssl_verifies_a_signed_tree_head_with_the_published_log_key(tmp_path) -> None:
    """A peer nobody here wrote checks the signature: ``openssl dgst -sha256 -verify`` over TreeHeadDataV2."""
    import subprocess

    from cryptography.hazmat.primitives import serialization

    _events(4)
    audit_sequence()
    head = latest_tree_head()
    assert head is not None
    public = serialization.load_der_public_key(bytes(head.log_key.public_key_der))
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "log.pem").write_bytes(pem)
    (tmp_path / "sth.bin").write_bytes(signed(head).signed_bytes())
    (tmp_path / "sth.sig").write_bytes(bytes(head.signature))
    command = ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "log.pem"), "-signature"]
    good = subprocess.run([*command, str(tmp_path / "sth.sig"), str(tmp_path / "sth.bin")], capture_output=True)  # noqa: S603
    assert good.returncode == 0 and b"Verified OK" in good.stdout
    tampered = bytearray(signed(head).signed_bytes())
    tampered[-3] ^= 0x01  # one bit of the root hash's last byte: always a change
    (tmp_path / "sth.bin").write_bytes(bytes(tampered))
    bad = subprocess.run([*command, str(tmp_path / "sth.sig"), str(tmp_path / "sth.bin")], capture_output=True)  # noqa: S603
    assert bad.returncode != 0


def test_the_log_key_lives_in_either_key_back_end_and_signs_there(ca_backend: str, db: None) -> None:
    """With PKCS#11 the log key is generated in the token (SoftHSM2 here) and never leaves it."""
    _events(3)
    assert audit_sequence() == 3
    log_key = LogKey.objects.get()
    assert log_key.key_backend == ("pkcs11" if ca_backend == "softhsm" else "keyfile")
    head = latest_tree_head()
    assert head is not None and signed(head).verify(bytes(log_key.public_key_der))
    assert audit_verify().ok
