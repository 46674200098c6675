"""The SM2 PKI of issue 19 (``mobileca.ca.gm``): certificates, CRLs and OCSP responses built with asn1crypto and
signed with SM2/SM3 and the ID 1234567812345678, judged by our verifier, by pyOpenSSL's X509Store (cryptography's
OpenSSL 4), by pkilint and by the openssl 3.0 command line; and the same profile as the ECDSA hierarchy's."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from mobileca.ca import gm, sm2
from tests.support.ca import lint, openssl
from tests.support.gm_hierarchy import (
    CLAIMANT,
    ENTERPRISE,
    ENTITY_LOCATIONS,
    POLICY,
    USCC,
    Hierarchy,
    build,
    serial_of,
    write,
)

# 1.2.156.10197.1.501 with its parameters absent: SEQUENCE { OID } and nothing after it
SM2_SM3_ALGORITHM_DER = bytes.fromhex("300a06082a811ccf55018375")


@pytest.fixture(scope="module")
def pki() -> Hierarchy:
    return build()


def _pem(der: bytes) -> bytes:
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def _tampered(der: bytes, text: str) -> bytes:
    """The certificate with one character of its TBS changed (its signature then covers other bytes)."""
    old = text.encode()
    assert der.count(old) >= 1
    return der.replace(old, old[:-1] + bytes([old[-1] ^ 0x01]), 1)


def _refused_everywhere(leaf: bytes, pki: Hierarchy, *, issuer: bytes | None = None) -> None:
    with pytest.raises(gm.GmVerifyError):
        gm.verify_certificate(leaf, issuer or pki.issuing)
    with pytest.raises(gm.GmVerifyError):
        gm.validate_chain(leaf, [pki.issuing], [pki.root], [pki.root_crl, pki.issuing_crl])


# --- 1. the OIDs --------------------------------------------------------------------------------------------------


def test_gm_oids_are_registered_once_with_names_and_signatures_carry_no_parameters(pki) -> None:
    gm.register_oids()
    gm.register_oids()  # idempotent
    assert keys.NamedCurve.map("1.2.156.10197.1.301") == "sm2p256v1"
    assert keys.NamedCurve.unmap("sm2p256v1") == "1.2.156.10197.1.301"
    assert algos.DigestAlgorithmId.map("1.2.156.10197.1.401") == "sm3"
    assert algos.SignedDigestAlgorithmId.map("1.2.156.10197.1.501") == "sm3_sm2"
    assert algos.SignedDigestAlgorithmId.map("1.2.156.10197.1.301.1") == "sm2sign"
    assert cms.KeyEncryptionAlgorithmId.map("1.2.156.10197.1.301.3") == "sm2encrypt"
    assert gm.SIGNATURE_HASHES["1.2.156.10197.1.501"] == "1.2.156.10197.1.401"
    assert algos.DigestAlgorithmId.unmap("sm3") == "1.2.156.10197.1.401"
    certificate = asn1_x509.Certificate.load(pki.sign)
    assert certificate["signature_algorithm"]["algorithm"].native == "sm3_sm2"
    assert certificate["tbs_certificate"]["subject_public_key_info"]["algorithm"]["parameters"].chosen.native == (
        "sm2p256v1"
    )
    for der in (pki.root, pki.issuing, pki.sign, pki.encrypt, pki.issuing_crl):
        assert der.count(SM2_SM3_ALGORITHM_DER) == 2  # the TBS's and the outer one, both without parameters


# --- 2. the profile -----------------------------------------------------------------------------------------------


def test_dual_certificates_carry_the_ecdsa_profiles_subject_and_extensions(pki, settings) -> None:
    from mobileca.ca.profiles import Subject, entity_certificate, entity_name

    subject = Subject(enterprise_name=ENTERPRISE, uscc=USCC, claimant_name=CLAIMANT)
    sign, encrypt = x509.load_der_x509_certificate(pki.sign), x509.load_der_x509_certificate(pki.encrypt)
    assert sign.subject.public_bytes() == entity_name(subject).public_bytes()  # byte for byte, string types too
    assert encrypt.subject == sign.subject
    assert sign.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value == f"NTRCN-{USCC}"
    key = ec.generate_private_key(ec.SECP256R1())
    ecdsa = entity_certificate(
        issuer_key=key,
        issuer=_ecdsa_ca(key),
        subject=subject,
        usage="sign",
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        not_before=pki.now,
        not_after=pki.now + timedelta(days=30),
    )
    assert [extension.oid for extension in sign.extensions] == [extension.oid for extension in ecdsa.extensions]
    assert [extension.critical for extension in sign.extensions] == [e.critical for e in ecdsa.extensions]
    assert sign.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = sign.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.content_commitment, usage.key_encipherment, usage.key_agreement) == (
        True,
        True,
        False,
        False,
    )
    usage = encrypt.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.content_commitment) == (False, False)
    assert (usage.key_encipherment, usage.data_encipherment, usage.key_agreement) == (True, True, True)
    access = sign.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_location.value for a in access] == [ENTITY_LOCATIONS.ocsp, ENTITY_LOCATIONS.ca_issuers]
    points = sign.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == ENTITY_LOCATIONS.crl  # type: ignore[index]
    policies = sign.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [policy.policy_identifier.dotted_string for policy in policies] == [POLICY]
    issuing = x509.load_der_x509_certificate(pki.issuing)
    assert sign.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == (
        issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert sign.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    assert sign.public_key_algorithm_oid.dotted_string == "1.2.840.10045.2.1"


def _ecdsa_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    from mobileca.ca.profiles import root_certificate
    from mobileca.core.clock import now

    return root_certificate(key=key, public_key=key.public_key(), now=now())


def test_ca_certificates_root_unlimited_issuing_path_length_zero_and_never_valid_past_the_root(pki) -> None:
    root, issuing = x509.load_der_x509_certificate(pki.root), x509.load_der_x509_certificate(pki.issuing)
    assert root.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length is None
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    usage = issuing.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, True)
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    assert issuing.issuer == root.subject
    late = pki.entity("sign", not_after=pki.now + timedelta(days=365 * 30))
    assert x509.load_der_x509_certificate(late).not_valid_after_utc == issuing.not_valid_after_utc


def test_a_long_enterprise_name_is_shortened_as_the_ecdsa_profile_does(pki) -> None:
    from mobileca.ca.profiles import Subject, entity_name, short_name

    long_name = "景德镇市昌江区高新技术产业开发区陶瓷文化创意与智能制造产业园建设运营管理有限责任公司"
    for name in ("甲", ENTERPRISE, long_name, "A" * 64, "A" * 65, "Ä" * 40 + "有限责任公司"):
        assert gm.short_name(name) == short_name(name)
    ours = gm.entity_name(enterprise_name=long_name, uscc=USCC, claimant_name=CLAIMANT).dump()
    theirs = entity_name(Subject(enterprise_name=long_name, uscc=USCC, claimant_name=CLAIMANT)).public_bytes()
    assert ours == theirs
    with pytest.raises(gm.GmError):
        gm.entity_name(enterprise_name="", uscc=USCC, claimant_name=CLAIMANT)


def test_the_credit_code_extension_is_added_only_when_asked_for(pki) -> None:
    plain = x509.load_der_x509_certificate(pki.sign)
    oid = x509.ObjectIdentifier(gm.USCC_EXTENSION_OID_2012_ORG_CODE)
    with pytest.raises(x509.ExtensionNotFound):
        plain.extensions.get_extension_for_oid(oid)
    der = pki.entity("sign", uscc=USCC, uscc_extension_oid=gm.USCC_EXTENSION_OID_2012_ORG_CODE)
    extension = x509.load_der_x509_certificate(der).extensions.get_extension_for_oid(oid)
    assert extension.critical is False
    assert extension.value.value == b"\x13\x12" + USCC.encode()  # type: ignore[attr-defined]  # PrintableString
    gm.verify_certificate(der, pki.issuing)
    with pytest.raises(gm.GmError):
        pki.entity("sign", uscc_extension_oid=gm.USCC_EXTENSION_OID_2012_ORG_CODE)


def test_builders_refuse_what_they_cannot_use(pki) -> None:
    p256 = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(gm.GmError):
        pki.entity("sign", public_key_der=p256)
    with pytest.raises(gm.GmError):
        pki.entity("sign", public_key_der=b"\x30\x03junk")
    with pytest.raises(gm.GmError):
        pki.entity("authenticate")
    with pytest.raises(gm.GmError):
        pki.entity("sign", serial=0)
    with pytest.raises(gm.GmError):
        gm.crl(
            signer=pki.issuing_key.sign,
            issuer_der=pki.issuing,
            number=8,
            this_update=pki.now,
            next_update=pki.now + timedelta(days=1),
            revoked=[gm.Revoked(5, pki.now, "certificate_hold")],  # not a reason this platform gives
        )
    with pytest.raises(gm.GmError):
        pki.ocsp(gm.Status(5), hash_algorithm="md5")
    with pytest.raises(gm.GmError):
        pki.ocsp()


# --- 3. our verifier and pyOpenSSL --------------------------------------------------------------------------------


def test_our_verifier_accepts_the_hierarchy(pki) -> None:
    gm.verify_certificate(pki.root, pki.root)
    gm.verify_certificate(pki.issuing, pki.root)
    for leaf in (pki.sign, pki.encrypt, pki.revoked):
        gm.verify_certificate(leaf, pki.issuing)
    gm.verify_crl(pki.root_crl, pki.root)
    gm.verify_crl(pki.issuing_crl, pki.issuing)


def test_pyopenssl_validates_the_path_with_crls_and_refuses_the_revoked_leaf(pki) -> None:
    crls = [pki.root_crl, pki.issuing_crl]
    gm.validate_chain(pki.sign, [pki.issuing], [pki.root], crls)
    gm.validate_chain(pki.encrypt, [pki.issuing], [pki.root], crls)
    gm.validate_chain(pki.revoked, [pki.issuing], [pki.root])  # no CRLs given: only signatures and names
    with pytest.raises(gm.GmVerifyError, match="revoked"):
        gm.validate_chain(pki.revoked, [pki.issuing], [pki.root], crls)
    with pytest.raises(gm.GmVerifyError):
        gm.validate_chain(pki.sign, [pki.issuing], [pki.root], [pki.issuing_crl])  # CRL_CHECK_ALL: root's missing
    with pytest.raises(gm.GmVerifyError):
        gm.validate_chain(pki.sign, [], [pki.root], crls)  # no path without the issuing CA
    with pytest.raises(gm.GmVerifyError):
        gm.validate_chain(pki.sign, [pki.issuing], [pki.root], crls, at=pki.now + timedelta(days=400))  # expired


@pytest.mark.parametrize("wrong_id", [b"ABC", b"", b"1234567812345679"])
def test_a_certificate_signed_with_another_id_is_refused(pki, wrong_id: bytes) -> None:
    def signer(tbs: bytes) -> bytes:
        if wrong_id:
            return pki.issuing_key.sign(tbs, id=wrong_id)
        return _sign_with_empty_id(pki.issuing_key, tbs)

    leaf = pki.entity("sign", issuer_signer=signer)
    certificate = asn1_x509.Certificate.load(leaf)
    tbs, signature = certificate["tbs_certificate"].dump(), bytes(certificate["signature_value"])
    # a genuine signature of the issuing CA's key, only under that other ID
    public = pki.issuing_key.public_key()
    assert public.verify_digest(signature, public.digest(tbs, id=wrong_id)) is True
    _refused_everywhere(leaf, pki)


def _sign_with_empty_id(key: sm2.Sm2PrivateKey, tbs: bytes) -> bytes:
    """SM2 over SM3(Z_A with the empty ID || M), what OpenSSL 3.0 does when no ID is set (``sign`` refuses an
    empty ID, so the digest is signed)."""
    return key.sign_digest(key.public_key().digest(tbs, id=b""))


def test_a_tampered_certificate_is_refused(pki) -> None:
    leaf = _tampered(pki.sign, CLAIMANT)
    assert leaf != pki.sign and len(leaf) == len(pki.sign)
    _refused_everywhere(leaf, pki)


def test_a_certificate_checked_against_another_issuer_is_refused(pki) -> None:
    with pytest.raises(gm.GmVerifyError, match="another CA"):
        gm.verify_certificate(pki.sign, pki.root)
    # an impostor CA with the issuing CA's very name and another key: names chain, the signature does not
    impostor_key = sm2.generate()
    impostor = gm.issuing_certificate(
        root_signer=pki.root_key.sign,
        root_der=pki.root,
        public_key_der=impostor_key.public_key().der,
        name=asn1_x509.Certificate.load(pki.issuing).subject,
        locations=gm.Locations(crl="http://pki.mobileca.test/x.crl", ca_issuers="http://pki.mobileca.test/x.crt"),
        policy_oid=POLICY,
        now=pki.now,
    )
    with pytest.raises(gm.GmVerifyError, match="does not verify"):
        gm.verify_certificate(pki.sign, impostor)
    with pytest.raises(gm.GmVerifyError):
        gm.validate_chain(pki.sign, [impostor], [pki.root])
    with pytest.raises(gm.GmVerifyError):
        gm.verify_crl(pki.issuing_crl, impostor)
    with pytest.raises(gm.GmVerifyError):
        gm.verify_crl(pki.issuing_crl, pki.root)


def test_a_crl_signed_with_another_id_or_tampered_is_refused_and_the_path_with_it_fails(pki) -> None:
    def other_id(tbs: bytes) -> bytes:
        return pki.issuing_key.sign(tbs, id=b"ABC")

    wrong = gm.crl(
        signer=other_id,
        issuer_der=pki.issuing,
        number=8,
        this_update=pki.now,
        next_update=pki.now + timedelta(days=1),
    )
    with pytest.raises(gm.GmVerifyError):
        gm.verify_crl(wrong, pki.issuing)
    with pytest.raises(gm.GmVerifyError):
        gm.validate_chain(pki.sign, [pki.issuing], [pki.root], [pki.root_crl, wrong])
    # the revoked serial's entry altered: its reason code keyCompromise (1) becomes caCompromise (2)
    entry = bytes.fromhex("0a0101")
    assert pki.issuing_crl.count(entry) == 1
    tampered = pki.issuing_crl.replace(entry, bytes.fromhex("0a0102"))
    with pytest.raises(gm.GmVerifyError):
        gm.verify_crl(tampered, pki.issuing)


def test_crl_carries_number_authority_key_and_reasons(pki) -> None:
    crl = x509.load_der_x509_crl(pki.issuing_crl)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    issuing = x509.load_der_x509_certificate(pki.issuing)
    assert crl.issuer == issuing.subject
    assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == (
        issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    entry = crl.get_revoked_certificate_by_serial_number(serial_of(pki.revoked))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(serial_of(pki.sign)) is None
    unspecified = gm.crl(
        signer=pki.issuing_key.sign,
        issuer_der=pki.issuing,
        number=9,
        this_update=pki.now,
        next_update=pki.now + timedelta(days=1),
        revoked=[gm.Revoked(77, pki.now)],
    )
    entry = x509.load_der_x509_crl(unspecified).get_revoked_certificate_by_serial_number(77)
    assert entry is not None and len(entry.extensions) == 0  # "unspecified" is said by leaving the reason out
    assert len(x509.load_der_x509_crl(pki.root_crl)) == 0


def test_ocsp_responses_good_and_revoked_with_sha1_and_sha256_certids_verify(pki) -> None:
    good, revoked = serial_of(pki.sign), serial_of(pki.revoked)
    for label in ("sha1", "sha256"):
        der = pki.ocsp(
            gm.Status(good), gm.Status(revoked, pki.now, "key_compromise"), hash_algorithm=label, nonce=b"n" * 16
        )
        answers = gm.verify_ocsp(der, pki.issuing)
        assert [(a.serial, a.status, a.hash_algorithm, a.reason) for a in answers] == [
            (good, "good", label, None),
            (revoked, "revoked", label, "key_compromise"),
        ]
        assert answers[1].revoked_at == pki.now
        basic = x509.ocsp.load_der_ocsp_response(der)
        issuing = x509.load_der_x509_certificate(pki.issuing)
        ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        assert basic.responder_key_hash == ski  # by key hash: SHA-1 of the issuing CA's key bits
        assert basic.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
        assert basic.certificates == []
        assert basic.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16


def test_a_delegated_responder_signs_ocsp_and_a_responder_the_ca_did_not_issue_is_refused(pki) -> None:
    responder_key = sm2.generate()
    responder = gm.ocsp_responder_certificate(
        issuer_signer=pki.issuing_key.sign,
        issuer_der=pki.issuing,
        public_key_der=responder_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Mobile CA SM2 OCSP"),
        now=pki.now,
    )
    certificate = x509.load_der_x509_certificate(responder)
    assert list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    assert certificate.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK).critical is False
    der = pki.ocsp(gm.Status(serial_of(pki.sign)), signer=responder_key.sign, responder_der=responder)
    assert [a.status for a in gm.verify_ocsp(der, pki.issuing)] == ["good"]
    assert x509.ocsp.load_der_ocsp_response(der).certificates[0] == certificate
    # the same response signed by a key whose certificate names the responder but was issued by someone else
    rogue_key = sm2.generate()
    rogue = gm.ocsp_responder_certificate(
        issuer_signer=rogue_key.sign,
        issuer_der=pki.issuing,  # names the issuing CA, signed with the rogue key
        public_key_der=rogue_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Mobile CA SM2 OCSP"),
        now=pki.now,
    )
    forged = pki.ocsp(gm.Status(serial_of(pki.revoked)), signer=rogue_key.sign, responder_der=rogue)
    with pytest.raises(gm.GmVerifyError):
        gm.verify_ocsp(forged, pki.issuing)
    # an end-entity certificate of ours is no responder either
    signing_key = sm2.generate()
    not_a_responder = pki.entity("sign", key=signing_key)
    with pytest.raises(gm.GmVerifyError, match="OCSP signing"):
        gm.verify_ocsp(pki.ocsp(gm.Status(1), signer=signing_key.sign, responder_der=not_a_responder), pki.issuing)


def test_an_ocsp_response_tampered_with_another_id_or_about_another_issuer_is_refused(pki) -> None:
    good = pki.ocsp(gm.Status(serial_of(pki.revoked)))
    # "good" (a context-specific NULL, 80 00) becomes "unknown" (82 00)
    tampered = good.replace(bytes.fromhex("8000"), bytes.fromhex("8200"), 1)
    assert tampered != good
    with pytest.raises(gm.GmVerifyError):
        gm.verify_ocsp(tampered, pki.issuing)
    with pytest.raises(gm.GmVerifyError):
        gm.verify_ocsp(pki.ocsp(gm.Status(1), signer=lambda tbs: pki.issuing_key.sign(tbs, id=b"ABC")), pki.issuing)
    with pytest.raises(gm.GmVerifyError):
        gm.verify_ocsp(good, pki.root)  # the responder is neither the root nor in the response
    with pytest.raises(gm.GmVerifyError):
        gm.verify_ocsp(b"\x30\x03\x0a\x01\x01", pki.issuing)  # malformedRequest, no response bytes


# --- 4. pkilint and openssl ---------------------------------------------------------------------------------------

# RFC 5480 §3 forbids keyEncipherment and dataEncipherment for id-ecPublicKey *ECDH/ECDSA* keys; pkilint applies it to
# the SM2 encryption key too. GM dual-certificate profiles (GM/T 0015; the SM2 encryption key does SM2 public-key
# encryption of content keys, GM/T 0009) set those bits, so exactly this one finding is expected there, nowhere else.
EC_KEY_USAGE_FINDING = "pkix.key_usage_value_prohibited_for_ec"


def _findings(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.startswith(" ")]


def test_pkilint_finds_the_certificates_crls_and_ocsp_responses_clean(pki, tmp_path: Path) -> None:
    for name in ("root", "issuing", "sign", "revoked"):
        path = write(tmp_path, f"{name}.pem", _pem(getattr(pki, name)))
        assert lint("lint_pkix_cert", path) == [], name
    findings = _findings(lint("lint_pkix_cert", write(tmp_path, "encrypt.pem", _pem(pki.encrypt))))
    assert len(findings) == 1 and findings[0].startswith(EC_KEY_USAGE_FINDING + " (ERROR)")
    assert "dataEncipherment, keyEncipherment" in findings[0]
    for name in ("root_crl", "issuing_crl"):
        assert lint("lint_crl", write(tmp_path, f"{name}.crl", getattr(pki, name)), "-t", "CRL", "-p", "PKIX") == []
    responses = {
        "good-sha1": pki.ocsp(gm.Status(serial_of(pki.sign))),
        "revoked-sha256": pki.ocsp(gm.Status(serial_of(pki.revoked), pki.now, "superseded"), hash_algorithm="sha256"),
    }
    for name, der in responses.items():
        assert lint("lint_ocsp_response", write(tmp_path, f"{name}.ocsp", der), "--document-format", "DER") == [], name


def test_pkilint_would_report_a_broken_certificate(pki, tmp_path: Path) -> None:
    # the lint above can fail: a CA certificate without its key usage is reported
    broken = asn1_x509.Certificate.load(pki.issuing)
    tbs = broken["tbs_certificate"]
    tbs["extensions"] = [e for e in tbs["extensions"] if e["extn_id"].native != "key_usage"]
    der = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": broken["signature_algorithm"], "signature_value": b"x"}
    ).dump()
    assert lint("lint_pkix_cert", write(tmp_path, "broken.pem", _pem(der))) != []


def test_openssl_parses_them_and_names_the_algorithm_sm2_with_sm3(pki, tmp_path: Path) -> None:
    for name in ("root", "issuing", "sign", "encrypt"):
        result = openssl(
            "x509", "-inform", "DER", "-noout", "-text", "-in", write(tmp_path, f"{name}.der", getattr(pki, name))
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("Signature Algorithm: SM2-with-SM3") == 2
        assert "ASN1 OID: SM2" in result.stdout
    result = openssl("x509", "-inform", "DER", "-noout", "-text", "-in", write(tmp_path, "sign.der", pki.sign))
    assert "organizationIdentifier = NTRCN-91360200MA35A1B20J" in result.stdout
    assert "Digital Signature, Non Repudiation" in result.stdout
    result = openssl("x509", "-inform", "DER", "-noout", "-text", "-in", write(tmp_path, "encrypt.der", pki.encrypt))
    assert "Key Encipherment, Data Encipherment, Key Agreement" in result.stdout
    result = openssl("crl", "-inform", "DER", "-noout", "-text", "-in", write(tmp_path, "issuing.crl", pki.issuing_crl))
    assert result.returncode == 0 and "SM2-with-SM3" in result.stdout
    assert f"{serial_of(pki.revoked):X}" in result.stdout.replace(":", "").upper()
    assert "Key Compromise" in result.stdout and "X509v3 CRL Number" in result.stdout
    der = pki.ocsp(gm.Status(serial_of(pki.revoked), pki.now, "key_compromise"), hash_algorithm="sha256")
    result = openssl("ocsp", "-respin", write(tmp_path, "r.ocsp", der), "-noverify", "-resp_text")
    assert result.returncode == 0, result.stderr
    assert "SM2-with-SM3" in result.stdout and "Cert Status: revoked" in result.stdout
    assert "Revocation Reason: keyCompromise" in result.stdout and "Hash Algorithm: sha256" in result.stdout


def test_verifiers_refuse_garbage_and_ecdsa_objects_with_their_own_error(pki) -> None:
    from mobileca.ca.profiles import root_certificate
    from mobileca.core.clock import now

    key = ec.generate_private_key(ec.SECP256R1())
    ecdsa = root_certificate(key=key, public_key=key.public_key(), now=now()).public_bytes(Encoding.DER)
    for junk in (b"", b"\x30\x03junk", b"\x00" * 40, pki.sign[:-5]):
        with pytest.raises(gm.GmVerifyError):
            gm.verify_certificate(junk, pki.issuing)
        with pytest.raises(gm.GmVerifyError):
            gm.verify_certificate(pki.sign, junk)
        with pytest.raises(gm.GmVerifyError):
            gm.verify_crl(junk, pki.issuing)
        with pytest.raises(gm.GmVerifyError):
            gm.verify_ocsp(junk, pki.issuing)
        with pytest.raises(gm.GmVerifyError):
            gm.validate_chain(junk, [pki.issuing], [pki.root])
    with pytest.raises(gm.GmVerifyError, match="SM2-with-SM3"):
        gm.verify_certificate(ecdsa, ecdsa)
    with pytest.raises(gm.GmVerifyError):
        gm.verify_certificate(pki.sign, ecdsa)
