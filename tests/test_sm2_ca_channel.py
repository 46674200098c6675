"""The SM2 side of the CA (issue 19): the channel check (R4.5) of SM2 certificates, the certificate information the
UI shows, and the rotation of the SM2 issuing CA. Paths are judged by pyOpenSSL's X509Store (``gm.validate_chain``)
inside the code under test; the tests check the outcomes with ``gm.verify_certificate`` and, for the rotated CA's
chain, with pyOpenSSL directly."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from django.core.management import CommandError, call_command

from mobileca.audit.models import AuditEvent
from mobileca.ca import facade, gm, sm2
from mobileca.ca.channel import channel_check
from mobileca.ca.keys import RSA_2048, generate_user_key, unwrap_sm2_private_key
from mobileca.ca.models import Authority, AuthorityRole, Crl, IssuedCertificate, OcspResponse
from mobileca.ca.ocsp import answer, ocsp_refresh
from mobileca.ca.profiles import pki_url
from mobileca.ca.services import (
    ca_rotate_issuing,
    certificate_of,
    credential_issue,
    credential_revoke_all,
    crl_of_authority,
    crls_refresh,
)
from mobileca.core.clock import clock, now
from tests.support import gm_hierarchy
from tests.support.ca import SUBJECT, der, issue_sm2, sm2_authority

NOT_OURS = "不是通过本平台购买和申领"


# --- the channel check -------------------------------------------------------------------------------------------


def test_the_channel_check_accepts_an_sm2_credentials_certificates_for_their_usage_and_names_the_sm2_profile(
    ca,
) -> None:
    pair = issue_sm2()
    sign, encrypt = certificate_of(pair.sign), certificate_of(pair.encrypt)
    assert sign.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    verdict = channel_check(sign)
    assert (verdict.accepted, verdict.code, verdict.owner_id, verdict.key_profile) == (True, "ok", "sm2-cred-1", "sm2")
    assert verdict.serial_hex == pair.sign.serial_hex
    assert channel_check(sign.public_bytes(Encoding.PEM)) == verdict
    assert channel_check(der(pair.sign)) == verdict
    accepted = channel_check(encrypt, usage="encrypt")
    assert (accepted.accepted, accepted.code, accepted.key_profile) == (True, "ok", "sm2")
    wrong = channel_check(encrypt)
    assert (wrong.accepted, wrong.code, wrong.message) == (False, "wrong_usage", "这是加密证书，不能用于签名")
    assert channel_check(sign, usage="encrypt").code == "wrong_usage"
    # the ECDSA path beside it is unchanged
    ecdsa = credential_issue(
        owner_id="ecdsa-cred",
        subject=SUBJECT,
        sign_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        encrypt_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        valid_days=365,
    )
    ecdsa_verdict = channel_check(certificate_of(ecdsa.sign))
    assert (ecdsa_verdict.accepted, ecdsa_verdict.key_profile) == (True, "ec-p256")


def test_the_channel_check_refuses_a_certificate_of_another_sm2_ca_and_of_a_look_alike_of_ours(ca) -> None:
    # another SM2 hierarchy altogether (names, keys and policy its own)
    foreign = gm_hierarchy.build()
    refused = channel_check(foreign.sign)
    assert (refused.accepted, refused.code) == (False, "not_ours") and NOT_OURS in refused.message
    # a look-alike: our SM2 issuing CA's name and our policy, under another root's key
    ours = sm2_authority()
    look_alike_key = sm2.generate()
    look_alike_root = gm.root_certificate(
        signer=look_alike_key.sign,
        public_key_der=look_alike_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Impostor SM2 Root"),
        now=now(),
    )
    issuing_name = gm._issuer_of(der(ours)).name
    look_alike_issuing = gm.issuing_certificate(
        root_signer=look_alike_key.sign,
        root_der=look_alike_root,
        public_key_der=look_alike_key.public_key().der,
        name=issuing_name,
        locations=gm.Locations(crl=pki_url("x.crl"), ca_issuers=pki_url("x.crt")),
        policy_oid="1.3.6.1.4.1.61337.1.1",
        now=now(),
    )
    leaf = gm.entity_certificate(
        issuer_signer=look_alike_key.sign,
        issuer_der=look_alike_issuing,
        subject=gm.entity_name(enterprise_name=SUBJECT.enterprise_name, uscc=SUBJECT.uscc, claimant_name="王建国"),
        usage="sign",
        public_key_der=sm2.generate().public_key().der,
        locations=gm.Locations(crl=pki_url("x.crl"), ca_issuers=pki_url("x.crt"), ocsp=pki_url("ocsp")),
        policy_oid="1.3.6.1.4.1.61337.1.1",
        not_before=now(),
        not_after=now() + timedelta(days=30),
    )
    assert x509.load_der_x509_certificate(leaf).issuer == certificate_of(ours).subject  # the same issuer name
    with pytest.raises(gm.GmVerifyError):
        gm.verify_certificate(leaf, der(ours))
    refused = channel_check(leaf)
    assert (refused.accepted, refused.code) == (False, "not_ours")
    # an SM2 certificate signed with another ID by our own SM2 issuing CA's key does not validate either
    key = unwrap_sm2_private_key(owner_id=ours.key_label, blob=bytes(ours.wrapped_key))
    other_id = gm.entity_certificate(
        issuer_signer=lambda tbs: key.sign(tbs, id=b"ABC"),
        issuer_der=der(ours),
        subject=gm.entity_name(enterprise_name=SUBJECT.enterprise_name, uscc=SUBJECT.uscc, claimant_name="王建国"),
        usage="sign",
        public_key_der=sm2.generate().public_key().der,
        locations=gm.Locations(crl=pki_url("x.crl"), ca_issuers=pki_url("x.crt"), ocsp=pki_url("ocsp")),
        policy_oid="1.3.6.1.4.1.61337.1.1",
        not_before=now(),
        not_after=now() + timedelta(days=30),
    )
    assert channel_check(other_id).code == "not_ours"
    assert not IssuedCertificate.objects.exists()  # judging writes nothing
    # an installation without an active SM2 root refuses SM2 certificates the same way (no error)
    Authority.objects.filter(role=AuthorityRole.SM2_ROOT).update(is_active=False)
    assert channel_check(foreign.sign).code == "not_ours"


def test_the_channel_check_refuses_an_sm2_certificate_unrecorded_policy_less_expired_or_revoked(
    ca, settings, django_capture_on_commit_callbacks
) -> None:
    pair = issue_sm2()
    ours = certificate_of(pair.sign)
    # signed by our SM2 issuing CA with our policy, but never recorded: not ours
    issuing = sm2_authority()
    key = unwrap_sm2_private_key(owner_id=issuing.key_label, blob=bytes(issuing.wrapped_key))
    unrecorded = gm.entity_certificate(
        issuer_signer=key.sign,
        issuer_der=der(issuing),
        subject=gm.entity_name(enterprise_name=SUBJECT.enterprise_name, uscc=SUBJECT.uscc, claimant_name="王建国"),
        usage="sign",
        public_key_der=sm2.generate().public_key().der,
        locations=gm.Locations(crl=pki_url("x.crl"), ca_issuers=pki_url("x.crt"), ocsp=pki_url("ocsp")),
        policy_oid=settings.MOBILECA_CA["policy_oid"],
        not_before=now(),
        not_after=now() + timedelta(days=30),
    )
    gm.verify_certificate(unrecorded, der(issuing))  # a genuine signature of ours
    assert channel_check(unrecorded).code == "unknown"
    # ours, but the platform's policy is another now
    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "policy_oid": "1.3.6.1.4.1.61337.9.9"}
    assert channel_check(ours).code == "no_policy"
    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "policy_oid": "1.3.6.1.4.1.61337.1.1"}
    assert channel_check(ours).accepted
    with clock.frozen(now() + timedelta(days=400)):
        expired = channel_check(ours)
    assert (expired.accepted, expired.code) == (False, "expired") and "已过期" in expired.message
    with clock.frozen(now() - timedelta(days=1)):
        assert channel_check(ours).code == "not_yet_valid"
    with django_capture_on_commit_callbacks(execute=True):
        assert credential_revoke_all(owner_id="sm2-cred-1", reason=x509.ReasonFlags.key_compromise) == 2
    revoked = channel_check(ours)
    assert (revoked.accepted, revoked.code) == (False, "revoked") and "已被吊销" in revoked.message


# --- what the UI shows ---------------------------------------------------------------------------------------------


def test_certificate_info_names_the_algorithm_and_reads_the_sm2_subject(ca) -> None:
    pair = issue_sm2()
    info = facade.certificate_info(serial_hex=pair.sign.serial_hex)
    assert info.algorithm == "SM2"
    assert (info.holder, info.enterprise, info.uscc, info.usage, info.status) == (
        "王建国",
        SUBJECT.enterprise_name,
        SUBJECT.uscc,
        "sign",
        "good",
    )
    assert info.serial_hex == pair.sign.serial_hex and "NTRCN-" + SUBJECT.uscc in info.subject
    assert facade.certificate_info(serial_hex=pair.encrypt.serial_hex).algorithm == "SM2"
    for profile, label in ((None, "ECDSA P-256"), (RSA_2048, "RSA 2048")):
        keys = [generate_user_key(profile) if profile else generate_user_key() for _ in range(2)]
        other = credential_issue(
            owner_id=f"cred-{label}",
            subject=SUBJECT,
            sign_public_key=keys[0].public_key(),  # type: ignore[arg-type]
            encrypt_public_key=keys[1].public_key(),  # type: ignore[arg-type]
            valid_days=365,
        )
        assert facade.certificate_info(serial_hex=other.sign.serial_hex).algorithm == label
    assert isinstance(keys[0], rsa.RSAPrivateKey)


# --- rotation of the SM2 issuing CA --------------------------------------------------------------------------------


def _post_ocsp(issuer_der: bytes, serial: int) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    issuer = _cert_id_hashes(issuer_der)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(issuer[0], issuer[1], serial, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    result = answer(
        method="POST",
        encoded=None,
        body=request,
        content_type="application/ocsp-request",
        if_none_match="",
        client="192.0.2.1",
    )
    assert result.status == 200
    return result.body


def _cert_id_hashes(issuer_der: bytes) -> tuple[bytes, bytes]:
    """(issuer name hash, issuer key hash) of a CertID with SHA-256, computed by asn1crypto (RFC 6960 §4.1.1)."""
    import hashlib

    from asn1crypto import x509 as asn1_x509

    certificate = asn1_x509.Certificate.load(issuer_der)
    key_bits = certificate["tbs_certificate"]["subject_public_key_info"]["public_key"].contents[1:]
    return hashlib.sha256(certificate.subject.dump()).digest(), hashlib.sha256(key_bits).digest()


def test_rotating_the_sm2_issuing_ca_keeps_the_old_ones_certificates_valid_answered_and_listed(
    ca, django_capture_on_commit_callbacks
) -> None:
    from OpenSSL import crypto

    ecdsa_issuing = Authority.objects.get(role=AuthorityRole.ISSUING, is_active=True)
    sm2_root, old = sm2_authority(AuthorityRole.SM2_ROOT), sm2_authority()
    before = issue_sm2("sm2-before")
    out = io.StringIO()
    call_command("ca_rotate_issuing", "--profile", "sm2", stdout=out)
    new = sm2_authority()
    assert f"issuing CA rotated: {new.subject} (serial {new.serial_hex})" in out.getvalue()
    assert new.pk != old.pk and new.key_profile == "sm2" and new.subject == old.subject
    assert not Authority.objects.get(pk=old.pk).is_active
    assert Authority.objects.get(role=AuthorityRole.ISSUING, is_active=True).pk == ecdsa_issuing.pk  # untouched
    assert AuditEvent.objects.filter(action="ca.authority_retired", subject="ca:sm2_issuing").count() == 1
    assert new.wrapped_key and b"PRIVATE" not in bytes(new.wrapped_key)
    gm.verify_certificate(der(new), der(sm2_root))
    # pyOpenSSL, on cryptography's OpenSSL, validates the new CA under the SM2 root
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(certificate_of(sm2_root)))
    crypto.X509StoreContext(store, crypto.X509.from_cryptography(certificate_of(new))).verify_certificate()
    assert Crl.objects.filter(authority=new).count() == 1  # its first CRL
    # new SM2 credentials come from the new CA; both generations pass the channel check
    after = issue_sm2("sm2-after")
    assert after.sign.authority_id == new.pk and before.sign.authority_id == old.pk
    gm.verify_certificate(der(after.sign), der(new))
    with pytest.raises(gm.GmVerifyError):
        gm.verify_certificate(der(after.sign), der(old))
    for pair in (before, after):
        verdict = channel_check(certificate_of(pair.sign))
        assert (verdict.accepted, verdict.key_profile) == (True, "sm2"), verdict
    # the retired CA keeps being answered for over OCSP: good, then revoked after a revocation
    (good,) = gm.verify_ocsp(_post_ocsp(der(old), int(before.sign.serial_hex, 16)), der(old))
    assert good.status == "good"
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke_all(owner_id="sm2-before", reason=x509.ReasonFlags.key_compromise)
    (revoked,) = gm.verify_ocsp(_post_ocsp(der(old), int(before.sign.serial_hex, 16)), der(old))
    assert (revoked.status, revoked.reason) == ("revoked", "key_compromise")
    assert channel_check(certificate_of(before.sign)).code == "revoked"
    # its CRL lists the revocation and keeps being published by the periodic job, as do its OCSP answers
    listed = crl_of_authority(old.serial_hex)
    gm.verify_crl(bytes(listed.der), der(old))
    crl = x509.load_der_x509_crl(bytes(listed.der))
    assert crl.get_revoked_certificate_by_serial_number(int(before.sign.serial_hex, 16)) is not None
    with clock.frozen(now() + timedelta(hours=13)):
        crls_refresh()
        assert crl_of_authority(old.serial_hex).number == listed.number + 1
        assert crl_of_authority(new.serial_hex).number > 1
        signed_before = set(OcspResponse.objects.filter(authority_id=old.pk).values_list("etag", flat=True))
        assert ocsp_refresh() >= 4
        signed_after = set(OcspResponse.objects.filter(authority_id=old.pk).values_list("etag", flat=True))
    assert len(signed_after) == 4 and not signed_after & signed_before
    for row in OcspResponse.objects.filter(authority_id=old.pk):
        (item,) = gm.verify_ocsp(bytes(row.der), der(old))
        assert item.serial == int(row.serial_hex, 16)


def test_an_unknown_rotation_profile_is_refused_and_nothing_changes(ca) -> None:
    before = list(Authority.objects.order_by("pk").values_list("pk", "is_active"))
    with pytest.raises(CommandError):
        call_command("ca_rotate_issuing", "--profile", "rsa")
    with pytest.raises(ValueError, match="unknown CA key profile"):
        ca_rotate_issuing(key_profile="rsa")
    assert list(Authority.objects.order_by("pk").values_list("pk", "is_active")) == before
