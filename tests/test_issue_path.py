"""The issuance write path (issue 15): the issuing authority cached per process yet never used once retired, the two
certificates and their events each inserted with one statement, and re-key / revocation serialised per owner only
(R3.7, R4.2). The lock tests run on PostgreSQL with real threads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mobileca.audit.models import AuditEvent
from mobileca.ca import services
from mobileca.ca.backends.factory import backend
from mobileca.ca.keys import generate_user_key
from mobileca.ca.models import Authority, IssuedCertificate
from mobileca.ca.profiles import Subject
from mobileca.ca.services import (
    IssuedPair,
    ca_init,
    certificate_of,
    credential_issue,
    credential_rekey,
    credential_revoke_all,
    crl_latest,
)
from mobileca.core.clock import now
from tests.races import Holder, in_thread, wait_until_a_backend_waits_for_a_lock

SUBJECT = Subject(enterprise_name="景德镇瓷都建设工程有限公司", uscc="91360200MA35A1B20J", claimant_name="王建国")


@pytest.fixture
def keyfile_ca(settings, tmp_path: Path) -> tuple[Authority, Authority]:
    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "key_dir": tmp_path / "ca", "passphrase": "test passphrase 1234"}
    return ca_init(key_backend=backend())


def _issue(owner: str) -> IssuedPair:
    return credential_issue(
        owner_id=owner,
        subject=SUBJECT,
        sign_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        encrypt_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        valid_days=365,
    )


def _rekey(owner: str) -> IssuedPair:
    return credential_rekey(
        owner_id=owner,
        subject=SUBJECT,
        sign_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        encrypt_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        not_after=now() + timedelta(days=730),
    )


def _statements(queries: CaptureQueriesContext, verb_and_table: str) -> int:
    return sum(1 for query in queries.captured_queries if query["sql"].startswith(verb_and_table))


@pytest.mark.django_db
def test_an_issuance_inserts_both_certificates_and_both_events_with_one_statement_each(keyfile_ca) -> None:
    _issue("cred-warm")  # the issuing authority is now cached in this process
    with CaptureQueriesContext(connection) as queries:
        pair = _issue("cred-1")
    assert _statements(queries, 'INSERT INTO "ca_issuedcertificate"') == 1
    assert _statements(queries, 'INSERT INTO "audit_auditevent"') == 1
    # one small read of which authority is active; the certificate and the key come from the cache
    assert sum(1 for query in queries.captured_queries if "ca_authority" in query["sql"]) == 1
    assert (pair.sign.usage, pair.encrypt.usage) == ("sign", "encrypt")
    assert pair.sign.pk and pair.encrypt.pk and pair.sign.pk != pair.encrypt.pk
    stored = IssuedCertificate.objects.filter(owner_id="cred-1").order_by("usage")
    assert [(record.usage, record.status) for record in stored] == [("encrypt", "good"), ("sign", "good")]
    events = AuditEvent.objects.filter(action="ca.certificate_issued", data__owner="cred-1")
    assert sorted(event.subject for event in events) == sorted(
        [f"cert:{pair.sign.serial_hex}", f"cert:{pair.encrypt.serial_hex}"]
    )


@pytest.mark.django_db
def test_after_a_rotation_the_next_issuance_is_signed_by_the_new_issuing_ca(keyfile_ca) -> None:
    _root, retired = keyfile_ca
    before = _issue("cred-before")
    assert before.sign.authority_id == retired.pk
    # when: the hierarchy is replaced while this process holds the old issuing CA in its cache
    Authority.objects.update(is_active=False)
    _new_root, current = ca_init(key_backend=backend())
    after = _issue("cred-after")
    # then: the new certificates name and are signed by the new issuing CA, not the retired one
    assert after.sign.authority_id == after.encrypt.authority_id == current.pk
    new_issuer, old_issuer = certificate_of(current), certificate_of(retired)
    for record in (after.sign, after.encrypt):
        certificate = certificate_of(record)
        certificate.verify_directly_issued_by(new_issuer)
        with pytest.raises(InvalidSignature):
            certificate.verify_directly_issued_by(old_issuer)


@pytest.mark.django_db
def test_rekey_revokes_the_old_pair_with_one_update_and_writes_all_four_events_at_once(keyfile_ca) -> None:
    old = _issue("cred-1")
    with CaptureQueriesContext(connection) as queries:
        new = _rekey("cred-1")
    assert _statements(queries, 'UPDATE "ca_issuedcertificate"') == 1
    assert _statements(queries, 'INSERT INTO "ca_issuedcertificate"') == 1
    assert _statements(queries, 'INSERT INTO "audit_auditevent"') == 1
    statuses = dict(IssuedCertificate.objects.values_list("serial_hex", "status"))
    assert statuses == {
        old.sign.serial_hex: "revoked",
        old.encrypt.serial_hex: "revoked",
        new.sign.serial_hex: "good",
        new.encrypt.serial_hex: "good",
    }
    revoked = AuditEvent.objects.filter(action="ca.certificate_revoked").values_list("subject", flat=True)
    assert sorted(revoked) == sorted([f"cert:{old.sign.serial_hex}", f"cert:{old.encrypt.serial_hex}"])


# --- the owner's lock on PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_revocation_waits_for_a_rekey_of_the_same_owner_and_then_revokes_the_new_pair(
    keyfile_ca, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R4.2: re-key and revocation of one owner never interleave. Without the owner's lock the revocation would read
    # the old (being revoked) pair, find nothing left to revoke once the re-key commits, and leave the new pair good.
    _issue("cred-1")
    holder = Holder(services._lock_owner)
    monkeypatch.setattr(services, "_lock_owner", holder)
    results: dict[str, object] = {}
    rekeying = in_thread(lambda: _rekey("cred-1"), results, "rekey")
    assert holder.holding.wait(timeout=30)  # the re-key holds the owner's lock inside its transaction
    revoking = in_thread(
        lambda: credential_revoke_all(owner_id="cred-1", reason=x509.ReasonFlags.cessation_of_operation),
        results,
        "revoke",
    )
    wait_until_a_backend_waits_for_a_lock()  # the revocation waits for that lock
    assert "revoke" not in results
    holder.release.set()
    rekeying.join(timeout=30)
    revoking.join(timeout=30)
    new = results["rekey"]
    assert isinstance(new, IssuedPair), results
    assert results["revoke"] == 2  # it revoked the pair the re-key made
    assert set(IssuedCertificate.objects.values_list("status", flat=True)) == {"revoked"}
    assert IssuedCertificate.objects.count() == 4
    assert len(x509.load_der_x509_crl(bytes(crl_latest("issuing").der))) == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rekey_of_one_owner_does_not_wait_for_a_rekey_of_another(keyfile_ca, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 15: the lock is the owner's, not the issuing CA's
    _issue("cred-a")
    _issue("cred-b")
    holder = Holder(services._lock_owner)
    monkeypatch.setattr(services, "_lock_owner", holder)
    results: dict[str, object] = {}
    first = in_thread(lambda: _rekey("cred-a"), results, "a")
    assert holder.holding.wait(timeout=30)  # cred-a's re-key holds its owner's lock, inside its transaction
    second = in_thread(lambda: _rekey("cred-b"), results, "b")
    second.join(timeout=30)
    try:
        # then: cred-b's re-key finished while cred-a's was still held
        assert not second.is_alive() and isinstance(results.get("b"), IssuedPair), results
        assert "a" not in results
    finally:
        holder.release.set()
        first.join(timeout=30)
    assert isinstance(results["a"], IssuedPair), results
    good = IssuedCertificate.objects.filter(status="good").values_list("owner_id", "usage")
    assert sorted(good) == [("cred-a", "encrypt"), ("cred-a", "sign"), ("cred-b", "encrypt"), ("cred-b", "sign")]
