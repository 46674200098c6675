"""SM2 credentials (issue 19): a credential of the ``sm2`` key profile gets SM2 keys, dual certificates from the
SM2 issuing CA with their OCSP answers pre-produced in SM2, and keeps that profile; the profile of new credentials
is the setting ``MOBILECA_KEY_PROFILE``."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from mobileca.ca import gm, sm2
from mobileca.ca.keys import public_key_of_certificate, unwrap_private_key
from mobileca.ca.models import Authority, AuthorityRole, IssuedCertificate, OcspResponse
from mobileca.ca.services import credential_issue
from mobileca.cards.models import Card
from mobileca.shield.models import Credential
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    activated_credential,
    ca_ready,
    card,
    registered,
)

pytestmark = pytest.mark.django_db


def _sm2_issuing() -> Authority:
    return Authority.objects.get(role=AuthorityRole.SM2_ISSUING, is_active=True)


def _key_usage(der: bytes) -> set[str]:
    return set(asn1_x509.Certificate.load(der).key_usage_value.native)


def test_an_sm2_credential_is_certified_by_the_sm2_issuing_ca_with_dual_key_usages(ca_ready: None, registered: Card):
    """R3.7 on the national profile: the signing and the encryption certificate carry the credential's two SM2 keys
    and the GM/T 0015 key usages, verify under the SM2 issuing CA (SM3withSM2, ID 1234567812345678), and the
    private keys are kept wrapped and are of the same keys."""
    credential = activated_credential(registered, key_profile="sm2")
    assert credential.key_profile == "sm2"
    issuing = _sm2_issuing()
    issuing_der = bytes(issuing.certificate_der)
    sign = IssuedCertificate.objects.get(serial_hex=credential.sign_serial)
    encrypt = IssuedCertificate.objects.get(serial_hex=credential.encrypt_serial)
    assert sign.authority_id == encrypt.authority_id == issuing.pk
    for record in (sign, encrypt):
        gm.verify_certificate(bytes(record.certificate_der), issuing_der)
    assert _key_usage(bytes(sign.certificate_der)) == {"digital_signature", "non_repudiation"}
    assert _key_usage(bytes(encrypt.certificate_der)) == {"key_encipherment", "data_encipherment", "key_agreement"}
    for role, record, blob in (
        ("sign", sign, credential.sign_key_wrapped),
        ("encrypt", encrypt, credential.encrypt_key_wrapped),
    ):
        key = unwrap_private_key(owner_id=f"credential:{credential.service_no}:{role}", blob=bytes(blob))
        assert isinstance(key, sm2.Sm2PrivateKey)
        certified = public_key_of_certificate(bytes(record.certificate_der))
        assert isinstance(certified, sm2.Sm2PublicKey) and certified.der == key.public_key().der
    # the subject is the ECDSA profile's: organizationIdentifier NTRCN-<USCC>, the claimant as givenName
    subject = x509.load_der_x509_certificate(bytes(sign.certificate_der)).subject.rfc4514_string()
    assert f"NTRCN-{registered.enterprise.uscc}" in subject and "王建国" in subject


def test_an_sm2_credential_has_its_ocsp_answers_pre_produced_and_signed_in_sm2(ca_ready: None, registered: Card):
    credential = activated_credential(registered, key_profile="sm2")
    issuing_der = bytes(_sm2_issuing().certificate_der)
    for serial_hex in (credential.sign_serial, credential.encrypt_serial):
        rows = OcspResponse.objects.filter(serial_hex=serial_hex)
        assert sorted(row.hash_algorithm for row in rows) == ["sha1", "sha256"]
        for row in rows:
            (answer,) = gm.verify_ocsp(bytes(row.der), issuing_der)
            assert (answer.serial, answer.status, answer.hash_algorithm) == (
                int(serial_hex, 16),
                "good",
                row.hash_algorithm,
            )


def test_new_credentials_take_the_key_profile_of_the_setting(ca_ready: None, registered: Card, settings):
    settings.MOBILECA_KEY_PROFILE = "sm2"
    from mobileca.shield.claims import claim_activate
    from tests.support.shield import PIN, claim_at_pin

    claim = claim_at_pin(registered, LEGAL_REP)
    credential = claim_activate(ticket=claim.ticket, account=LEGAL_REP, pin=PIN, pin_again=PIN)
    assert credential.key_profile == "sm2"
    assert IssuedCertificate.objects.get(serial_hex=credential.sign_serial).authority_id == _sm2_issuing().pk


def test_a_credential_of_mixed_profiles_is_refused_and_nothing_is_issued(ca_ready: None):
    from cryptography.hazmat.primitives.asymmetric import ec

    from mobileca.ca.profiles import Subject

    before = IssuedCertificate.objects.count()
    with pytest.raises(ValueError, match="one profile"):
        credential_issue(
            owner_id="credential:mixed",
            subject=Subject(enterprise_name="景德镇测试有限公司", uscc="91360200MA35TEST0X", claimant_name="王建国"),
            sign_public_key=sm2.generate().public_key(),
            encrypt_public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        )
    assert IssuedCertificate.objects.count() == before
    assert not Credential.objects.exists()
