"""The certificate authority, with both key back-ends (R3.7, R4.2, R4.5, §8)."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from django.db import connection
from django.test import Client

from mobileca.ca import gm
from mobileca.ca.backends import UnwrapError
from mobileca.ca.backends.factory import backend
from mobileca.ca.channel import channel_check
from mobileca.ca.keys import RSA_2048, generate_user_key, key_profile, unwrap_private_key, wrap_private_key
from mobileca.ca.models import Authority, IssuedCertificate
from mobileca.ca.profiles import entity_certificate
from mobileca.ca.services import (
    authority,
    ca_init,
    certificate_of,
    certificate_revoke,
    credential_issue,
    credential_rekey,
    crl_latest,
)
from mobileca.core.clock import clock, now
from tests.support.ca import SUBJECT, foreign_ca
from tests.support.ca import lint as _lint
from tests.support.ca import openssl as _openssl
from tests.support.ca import pem as _pem
from tests.support.ca import write as _write


def _issue(owner: str = "cred-1", algorithm: str = "ec-p256"):
    return credential_issue(
        owner_id=owner,
        subject=SUBJECT,
        sign_public_key=generate_user_key(key_profile(algorithm)).public_key(),  # type: ignore[arg-type]
        encrypt_public_key=generate_user_key(key_profile(algorithm)).public_key(),
        valid_days=365,  # type: ignore[arg-type]
    )


def test_ca_init_creates_root_and_issuing_ca_once(ca) -> None:
    root, issuing = ca
    assert (root.role, issuing.role) == ("root", "issuing")
    assert ca_init(key_backend=backend()) == (root, issuing)  # idempotent
    root_cert, issuing_cert = certificate_of(root), certificate_of(issuing)
    assert isinstance(root_cert.public_key(), ec.EllipticCurvePublicKey)
    assert root_cert.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    assert issuing_cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    issuing_cert.verify_directly_issued_by(root_cert)
    assert issuing_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_issued_dual_certificates_verify_with_openssl_and_carry_the_profile(ca, tmp_path: Path, algorithm: str) -> None:
    # R3.7: a signing and an encryption certificate per credential
    root, issuing = ca
    pair = _issue(algorithm=algorithm)
    chain = _write(tmp_path, "issuing.pem", _pem(certificate_of(issuing)))
    anchor = _write(tmp_path, "root.pem", _pem(certificate_of(root)))
    for record, usage in ((pair.sign, "sign"), (pair.encrypt, "encrypt")):
        certificate = certificate_of(record)
        leaf = _write(tmp_path, f"{usage}.pem", _pem(certificate))
        result = _openssl("verify", "-CAfile", anchor, "-untrusted", chain, leaf)
        assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stderr
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if usage == "sign":
            assert key_usage.digital_signature and key_usage.content_commitment and not key_usage.key_agreement
        elif algorithm == "rsa-2048":
            assert key_usage.key_encipherment and not key_usage.digital_signature
        else:
            assert key_usage.key_agreement and not key_usage.digital_signature
        subject = certificate.subject
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == f"NTRCN-{SUBJECT.uscc}"
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SUBJECT.enterprise_name
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert {description.access_location.value for description in aia} == {
            "http://pki.mobileca.test/pki/ocsp",
            f"http://pki.mobileca.test/pki/ca/{issuing.serial_hex}.crt",
        }


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_the_channel_check_names_the_key_profile_of_the_certificate(ca, algorithm: str) -> None:
    pair = _issue(algorithm=algorithm)
    for record, usage in ((pair.sign, "sign"), (pair.encrypt, "encrypt")):
        verdict = channel_check(certificate_of(record), usage=usage)
        assert (verdict.accepted, verdict.code, verdict.key_profile) == (True, "ok", algorithm)


def test_a_key_of_no_issued_profile_has_no_profile_and_gets_no_certificate(ca) -> None:
    from mobileca.ca.keys import UnknownKeyProfile, profile_of_public_key

    assert profile_of_public_key(generate_user_key(RSA_2048).public_key()) is RSA_2048
    for foreign in (ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(65537, 3072)):
        with pytest.raises(UnknownKeyProfile):
            profile_of_public_key(foreign.public_key())
        with pytest.raises(UnknownKeyProfile):
            credential_issue(
                owner_id="cred-x", subject=SUBJECT, sign_public_key=foreign.public_key(),
                encrypt_public_key=foreign.public_key(), valid_days=30,
            )  # fmt: skip
    assert not IssuedCertificate.objects.filter(owner_id="cred-x").exists()


def test_every_profile_lints_clean_under_pkilint(ca, tmp_path: Path) -> None:
    root, issuing = ca
    pair = _issue()
    rsa_pair = _issue(owner="cred-rsa", algorithm="rsa-2048")
    for name, record in [
        ("root", root),
        ("issuing", issuing),
        ("sign", pair.sign),
        ("encrypt", pair.encrypt),
        ("rsa-encrypt", rsa_pair.encrypt),
    ]:
        path = _write(tmp_path, f"{name}.pem", _pem(certificate_of(record)))
        assert _lint("lint_pkix_cert", path) == [], name
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    certificate_revoke(serial_hex=rsa_pair.encrypt.serial_hex, reason=x509.ReasonFlags.unspecified)
    crl = crl_latest("issuing")
    assert len(x509.load_der_x509_crl(bytes(crl.der))) == 2  # a CRL with entries, reason codes included
    crl_path = _write(tmp_path, "issuing.crl", bytes(crl.der))
    assert _lint("lint_crl", crl_path, "-t", "CRL", "-p", "PKIX") == []


def test_revocation_is_in_the_served_crl_and_openssl_parses_it(ca, tmp_path: Path) -> None:
    # R4.2: revoked certificates are published at the URL written in the certificates
    pair = _issue()
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    response = Client().get("/pki/issuing.crl")
    assert response.status_code == 200 and response["Content-Type"] == "application/pkix-crl"
    result = _openssl("crl", "-inform", "DER", "-noout", "-text", "-in", _write(tmp_path, "c.crl", response.content))
    assert result.returncode == 0
    assert pair.sign.serial_hex.upper() in result.stdout.replace(":", "").upper()
    assert pair.encrypt.serial_hex.upper() not in result.stdout.replace(":", "").upper()
    crl = x509.load_der_x509_crl(response.content)
    assert crl.is_signature_valid(certificate_of(ca[1]).public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(int(pair.sign.serial_hex, 16)) is not None


def test_rekey_issues_new_certificates_and_revokes_the_old_as_superseded(ca) -> None:
    # R4.2
    old = _issue()
    new = credential_rekey(
        owner_id="cred-1",
        subject=SUBJECT,
        sign_public_key=generate_user_key().public_key(),
        encrypt_public_key=generate_user_key().public_key(),
        not_after=now() + timedelta(days=730),
    )
    statuses = dict(IssuedCertificate.objects.values_list("serial_hex", "status"))
    assert statuses[old.sign.serial_hex] == statuses[old.encrypt.serial_hex] == "revoked"
    assert statuses[new.sign.serial_hex] == statuses[new.encrypt.serial_hex] == "good"
    assert IssuedCertificate.objects.get(serial_hex=old.sign.serial_hex).revocation_reason == "superseded"
    crl = x509.load_der_x509_crl(bytes(crl_latest("issuing").der))
    entry = crl.get_revoked_certificate_by_serial_number(int(old.encrypt.serial_hex, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded


def _ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
    return request.public_bytes(serialization.Encoding.DER)


def test_a_revoked_certificate_cannot_be_revoked_again_and_keeps_its_first_revocation(ca) -> None:
    # issue 13: revocation is final; the one writer refuses a second one and changes nothing
    from mobileca.core.errors import Conflict

    pair = _issue()
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    first = IssuedCertificate.objects.get(serial_hex=pair.sign.serial_hex)
    with pytest.raises(Conflict) as refused:
        certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.superseded)
    assert refused.value.code == "already_revoked"
    again = IssuedCertificate.objects.get(serial_hex=pair.sign.serial_hex)
    assert (again.status, again.revoked_at, again.revocation_reason) == (
        "revoked",
        first.revoked_at,
        "key_compromise",
    )


def test_ocsp_answers_good_revoked_and_unknown_over_get_and_post(ca) -> None:
    _root, issuing = ca
    issuer = certificate_of(issuing)
    pair = _issue()
    leaf = certificate_of(pair.sign)
    client = Client()

    def ask(der: bytes, method: str) -> ocsp.OCSPResponse:
        if method == "POST":
            response = client.post("/pki/ocsp", der, content_type="application/ocsp-request")
        else:
            response = client.get("/pki/ocsp/" + base64.b64encode(der).decode())
        assert response.status_code == 200 and response["Content-Type"] == "application/ocsp-response"
        answer = ocsp.load_der_ocsp_response(response.content)
        assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        issuer.public_key().verify(
            answer.signature, answer.tbs_response_bytes, ec.ECDSA(answer.signature_hash_algorithm)
        )  # type: ignore[union-attr, arg-type, call-arg]
        return answer

    for method in ("GET", "POST"):
        assert ask(_ocsp_request(leaf, issuer), method).certificate_status == ocsp.OCSPCertStatus.GOOD
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    for method in ("GET", "POST"):
        answer = ask(_ocsp_request(leaf, issuer), method)
        assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason == x509.ReasonFlags.key_compromise
    # a certificate we never issued (same issuer names, our key, unknown serial): unknown
    stranger = entity_certificate(
        issuer_key=backend().signing_key(issuing.key_label),
        issuer=issuer,
        subject=SUBJECT,
        usage="sign",
        public_key=generate_user_key().public_key(),
        not_before=now(),  # type: ignore[arg-type]
        not_after=now() + timedelta(days=1),
    )
    assert ask(_ocsp_request(stranger, issuer), "POST").certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_malformed_ocsp_requests_get_an_ocsp_error_not_a_500(ca) -> None:
    response = Client().post("/pki/ocsp", b"\x30\x03garbage", content_type="application/ocsp-request")
    assert response.status_code == 200
    assert ocsp.load_der_ocsp_response(response.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    issuer = certificate_of(ca[1])
    leaf = certificate_of(_issue().sign)
    good = _ocsp_request(leaf, issuer)
    sha256_oid = bytes.fromhex("0609608648016503040201")
    assert sha256_oid in good
    long_nonce = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"n" * 5000), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    ders = [
        good.replace(sha256_oid, sha256_oid[:-1] + b"\x0f", 1),  # a hash algorithm nobody knows
        good.replace(bytes([0x04, 0x20]), bytes([0x04, 0x14]), 1),  # "SHA-256" hashes of the wrong length
        long_nonce,  # a nonce over 32 octets (RFC 8954)
    ]
    for der in ders:
        answer = Client().post("/pki/ocsp", der, content_type="application/ocsp-request")
        assert answer.status_code == 200
        status = ocsp.load_der_ocsp_response(answer.content).response_status
        assert status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST, status
    answer = Client().get("/pki/ocsp/%%%not-base64")
    assert answer.status_code == 200
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert Client().post("/pki/ocsp", b"x", content_type="text/plain").status_code == 400


def test_ca_certificates_and_chain_are_downloadable(ca) -> None:
    root, issuing = ca
    assert Client().get("/pki/root.crt").content == bytes(root.certificate_der)
    assert Client().get("/pki/issuing.crt").content == bytes(issuing.certificate_der)
    chain = x509.load_pem_x509_certificates(Client().get("/pki/chain.pem").content)
    assert [certificate.serial_number for certificate in chain] == [
        certificate_of(issuing).serial_number,
        certificate_of(root).serial_number,
    ]


def test_channel_check_accepts_ours_and_refuses_look_alike_expired_revoked_and_policy_less(ca, settings) -> None:
    # R4.5: only certificates bought and claimed through this platform
    root, issuing = ca
    pair = _issue()
    ours = certificate_of(pair.sign)
    verdict = channel_check(ours)
    assert (verdict.accepted, verdict.owner_id) == (True, "cred-1")
    assert channel_check(ours.public_bytes(serialization.Encoding.PEM)) == verdict
    encryption = certificate_of(pair.encrypt)
    accepted = channel_check(encryption, usage="encrypt")
    assert (accepted.accepted, accepted.code, accepted.owner_id) == (True, "ok", "cred-1")
    assert channel_check(encryption).code == "wrong_usage"  # an encryption certificate cannot sign
    assert channel_check(ours, usage="encrypt").code == "wrong_usage"

    # a look-alike CA: same names, another key
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = (
        x509.CertificateBuilder()
        .subject_name(certificate_of(issuing).subject)
        .issuer_name(certificate_of(root).subject)
        .public_key(impostor_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(impostor_key.public_key()), critical=False)
        .sign(impostor_key, hashes.SHA256())
    )
    look_alike = entity_certificate(
        issuer_key=impostor_key,
        issuer=impostor,
        subject=SUBJECT,
        usage="sign",
        public_key=generate_user_key().public_key(),
        not_before=now(),  # type: ignore[arg-type]
        not_after=now() + timedelta(days=30),
    )
    refused = channel_check(look_alike)
    assert (refused.accepted, refused.code) == (False, "not_ours") and "不是通过本平台购买和申领" in refused.message

    # ours, but without the platform's policy
    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "policy_oid": "1.3.6.1.4.1.61337.9.9"}
    no_policy = channel_check(ours)
    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "policy_oid": "1.3.6.1.4.1.61337.1.1"}
    assert (no_policy.accepted, no_policy.code) == (False, "no_policy")

    # expired
    with clock.frozen(now() + timedelta(days=400)):
        expired = channel_check(ours)
    assert (expired.accepted, expired.code) == (False, "expired")

    # revoked
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.superseded)
    revoked = channel_check(ours)
    assert (revoked.accepted, revoked.code) == (False, "revoked")
    assert channel_check(b"not a certificate").code == "malformed"


def test_user_keys_wrap_under_the_master_key_bound_to_their_owner(ca) -> None:
    key = generate_user_key()
    blob = wrap_private_key(owner_id="cred-1", key=key)
    restored = unwrap_private_key(owner_id="cred-1", blob=blob)
    assert restored.private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    with pytest.raises(UnwrapError):
        unwrap_private_key(owner_id="cred-2", blob=blob)  # AAD = owner id
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(UnwrapError):
        unwrap_private_key(owner_id="cred-1", blob=tampered)


def _encodings(secret: bytes) -> list[bytes]:
    """Every way a secret could sit in a column: raw, hex (both cases), base64 at each byte alignment."""
    found = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for offset in range(3):
        encoded = base64.b64encode(secret[offset:])
        found.append(encoded[4 : 4 + 24])  # a stretch away from the padded edges
    return found


def test_no_private_key_material_in_the_database(ca, ca_backend: str, settings) -> None:
    # §8: after issuing, dump every table and search for any encoding of private key material and secrets
    user_keys = [generate_user_key(), generate_user_key(RSA_2048)]
    credential_issue(
        owner_id="cred-0",
        subject=SUBJECT,
        sign_public_key=user_keys[0].public_key(),  # type: ignore[arg-type]
        encrypt_public_key=user_keys[1].public_key(),  # type: ignore[arg-type]
        valid_days=30,
    )
    wrap_private_key(owner_id="cred-0", key=user_keys[0])
    secrets_to_find: list[bytes] = []
    for key in user_keys:
        numbers = key.private_numbers()
        parts = (
            [numbers.private_value]  # type: ignore[union-attr]
            if isinstance(key, ec.EllipticCurvePrivateKey)
            else [numbers.d, numbers.p, numbers.q]  # type: ignore[union-attr]
        )
        secrets_to_find += [value.to_bytes((value.bit_length() + 7) // 8, "big")[:24] for value in parts]
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        secrets_to_find.append(der)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        secrets_to_find.append(b"".join(pem.splitlines()[1:-1])[10:60])
    if ca_backend == "keyfile":
        keys = backend()
        ca_key = keys.signing_key(Authority.objects.get(role="issuing").key_label)
        secrets_to_find.append(ca_key.private_numbers().private_value.to_bytes(32, "big")[:24])
        secrets_to_find.append(keys._master_key())  # type: ignore[attr-defined]
        secrets_to_find.append(settings.MOBILECA_CA["passphrase"].encode())
    else:
        secrets_to_find.append(settings.MOBILECA_CA["pkcs11_pin_secret"].encode())
    dump = bytearray()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from the schema
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        dump += bytes(value)
                    elif value is not None:
                        dump += str(value).encode()
    assert len(dump) > 1000  # the dump holds the certificates, the audit log…
    for secret in secrets_to_find:
        for encoding in _encodings(secret):
            assert encoding not in dump


def test_softhsm_session_lost_is_reopened_on_the_next_use(ca, ca_backend: str) -> None:
    # An HSM restart drops the session: the next signature reopens it instead of failing until a process restart
    if ca_backend != "softhsm":
        pytest.skip("PKCS#11 only")
    keys = backend()
    keys.session().close()  # type: ignore[attr-defined]
    pair = _issue()
    assert certificate_of(pair.sign).verify_directly_issued_by(certificate_of(ca[1])) is None
    blob = wrap_private_key(owner_id="cred-x", key=generate_user_key())
    keys.session().close()  # type: ignore[attr-defined]
    assert unwrap_private_key(owner_id="cred-x", blob=blob)


@pytest.mark.django_db(transaction=True)
def test_openssl_ocsp_against_the_running_responder_gets_good_then_revoked(ca, live_server, tmp_path: Path) -> None:
    # Issue 4: `openssl ocsp` (a real RFC 6960 client) over HTTP against the responder
    root, issuing = ca
    pair = _issue()
    files = {
        "issuer": _write(tmp_path, "issuing.pem", _pem(certificate_of(issuing))),
        "anchor": _write(tmp_path, "root.pem", _pem(certificate_of(root))),
        "leaf": _write(tmp_path, "leaf.pem", _pem(certificate_of(pair.sign))),
    }

    def ask() -> str:
        result = _openssl(
            "ocsp",
            "-issuer",
            files["issuer"],
            "-cert",
            files["leaf"],
            "-url",
            f"{live_server.url}/pki/ocsp",
            "-CAfile",
            files["anchor"],
            "-resp_text",
        )
        assert result.returncode == 0, result.stderr
        assert "Response verify OK" in result.stderr + result.stdout
        return result.stdout

    assert f"{files['leaf']}: good" in ask()
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    answer = ask()
    assert f"{files['leaf']}: revoked" in answer and "Reason: keyCompromise" in answer


def test_crls_are_refreshed_before_half_their_life_by_the_periodic_job(ca) -> None:
    from datetime import datetime

    from huey.contrib.djhuey import HUEY

    from mobileca.ca.services import crls_refresh
    from mobileca.ca.tasks import refresh_crls

    first = crl_latest("issuing").number
    assert crls_refresh() == 0  # fresh CRLs: nothing to do
    with clock.frozen(now() + timedelta(hours=13)):
        assert crls_refresh() == 4  # the root and issuing CA of both hierarchies, ECDSA and SM2 (issue 19)
        latest = crl_latest("issuing")
        sm2_latest = crl_latest("sm2_issuing")
    assert sm2_latest.number == 2  # the first one by ca_init, this one by the job
    gm.verify_crl(bytes(sm2_latest.der), bytes(authority("sm2_issuing").certificate_der))
    assert latest.number == first + 1
    assert x509.load_der_x509_crl(bytes(latest.der)).extensions.get_extension_for_class(
        x509.CRLNumber
    ).value.crl_number == (first + 1)
    assert "refresh_crls" in [task.name for task in HUEY.read_periodic(datetime(2026, 1, 1, 3, 7))]
    assert "refresh_crls" not in [task.name for task in HUEY.read_periodic(datetime(2026, 1, 1, 3, 8))]
    assert refresh_crls.call_local() == 0


def test_ca_init_command_is_idempotent(ca_backend: str, db: None, capsys) -> None:
    from django.core.management import call_command

    call_command("ca_init")
    call_command("ca_init")
    roles = sorted(Authority.objects.filter(is_active=True).values_list("role", flat=True))
    assert roles == ["issuing", "root", "sm2_issuing", "sm2_root"]
    assert "CA ready" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_openssl_ocsp_gets_unauthorized_for_an_issuer_this_responder_does_not_serve(ca, live_server, tmp_path) -> None:
    # Issue 16, RFC 6960 §2.3: a certificate of another CA is answered "unauthorized", which openssl reads as such
    other = foreign_ca(7)
    result = _openssl(
        "ocsp",
        "-issuer",
        _write(tmp_path, "other.pem", _pem(other)),
        "-serial",
        "0x1234",
        "-url",
        f"{live_server.url}/pki/ocsp",
        "-CAfile",
        _write(tmp_path, "other-root.pem", _pem(other)),
    )
    assert "unauthorized" in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    assert "signer certificate not found" not in result.stderr


# --- the SM2 hierarchy beside the ECDSA one (issue 19) ----------------------------------------------------------


def test_ca_init_creates_the_sm2_hierarchy_beside_the_ecdsa_one_once(ca, tmp_path: Path) -> None:
    from mobileca.ca.models import AuthorityProfile
    from mobileca.ca.services import sm2_hierarchy_ensure

    root, issuing = authority("sm2_root"), authority("sm2_issuing")
    assert (root.key_profile, issuing.key_profile) == (AuthorityProfile.SM2, AuthorityProfile.SM2)
    assert (ca[0].key_profile, ca[1].key_profile) == (AuthorityProfile.ECDSA, AuthorityProfile.ECDSA)
    assert authority("root") == ca[0] and authority("issuing") == ca[1]  # "the" root and issuing CA: ECDSA's
    assert sm2_hierarchy_ensure(key_backend=backend()) == (root, issuing)  # idempotent
    assert ca_init(key_backend=backend()) == ca
    assert Authority.objects.count() == 4
    root_der, issuing_der = bytes(root.certificate_der), bytes(issuing.certificate_der)
    gm.verify_certificate(root_der, root_der)
    gm.verify_certificate(issuing_der, root_der)
    root_crl, issuing_crl = bytes(crl_latest("sm2_root").der), bytes(crl_latest("sm2_issuing").der)
    gm.verify_crl(root_crl, root_der)
    gm.verify_crl(issuing_crl, issuing_der)
    gm.validate_chain(issuing_der, [], [root_der], [root_crl])
    certificate = x509.load_der_x509_certificate(issuing_der)
    assert certificate.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    assert certificate.subject.rfc4514_string() == issuing.subject
    assert "SM2 Issuing CA" in issuing.subject and ca[1].subject.replace("Issuing", "SM2 Issuing") == issuing.subject
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    url = points[0].full_name[0].value  # type: ignore[index]
    assert url == f"http://pki.mobileca.test/pki/ca/{root.serial_hex}.crl"
    served = Client().get(url.removeprefix("http://pki.mobileca.test"))
    assert served.status_code == 200 and served.content == root_crl
    served = Client().get(f"/pki/ca/{issuing.serial_hex}.crt")
    assert served.status_code == 200
    for record in (root, issuing):
        assert _lint("lint_pkix_cert", _write(tmp_path, f"{record.role}.pem", _pem(certificate_of(record)))) == []
    assert _lint("lint_crl", _write(tmp_path, "sm2_root.crl", root_crl), "-t", "CRL", "-p", "PKIX") == []


def test_the_sm2_ca_keys_are_sealed_under_the_master_key_for_their_label_only(ca) -> None:
    from mobileca.ca.keys import unwrap_sm2_private_key

    for role in ("sm2_root", "sm2_issuing"):
        record = authority(role)
        blob = bytes(record.wrapped_key)
        key = unwrap_sm2_private_key(owner_id=record.key_label, blob=blob, key_backend=backend())
        assert key.der not in blob and key.der[-32:] not in blob  # no plaintext PKCS#8, no bare scalar
        spki = asn1_x509.Certificate.load(bytes(record.certificate_der))["tbs_certificate"]["subject_public_key_info"]
        assert key.public_key().der == spki.dump()
        with pytest.raises(UnwrapError):
            unwrap_sm2_private_key(owner_id=authority("sm2_root" if role != "sm2_root" else "sm2_issuing").key_label,
                                   blob=blob, key_backend=backend())  # fmt: skip
    assert authority("root").wrapped_key is None  # ECDSA keys stay in the back-end by label


def test_an_sm2_authoritys_crl_lists_its_revoked_certificates_with_reasons(ca) -> None:
    from mobileca.ca import sm2
    from mobileca.ca.services import crl_publish

    issuing = authority("sm2_issuing")
    der = gm.entity_certificate(
        issuer_signer=sm2.generate().sign,  # the signature does not matter to the CRL
        issuer_der=bytes(issuing.certificate_der),
        subject=gm.entity_name(enterprise_name=SUBJECT.enterprise_name, uscc=SUBJECT.uscc,
                               claimant_name=SUBJECT.claimant_name),
        usage="sign",
        public_key_der=sm2.generate().public_key().der,
        locations=gm.Locations(crl="http://pki.mobileca.test/c.crl", ca_issuers="http://pki.mobileca.test/c.crt"),
        policy_oid="1.2.3.4",
        not_before=now(),
        not_after=now() + timedelta(days=30),
    )  # fmt: skip
    serial = gm.serial_of(der)
    IssuedCertificate.objects.create(
        authority=issuing, serial_hex=f"{serial:x}", owner_id="cred-sm2", usage="sign", subject_cn="x",
        certificate_der=der, not_before=now(), not_after=now() + timedelta(days=30), status="revoked",
        revoked_at=now(), revocation_reason="key_compromise", created_at=now(),
    )  # fmt: skip
    before = crl_latest("sm2_issuing").number
    crl = crl_publish(authority_id=issuing.pk, key_backend=backend())
    assert crl.number == before + 1
    gm.verify_crl(bytes(crl.der), bytes(issuing.certificate_der))
    parsed = x509.load_der_x509_crl(bytes(crl.der))
    assert parsed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == before + 1
    entry = parsed.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl_latest("issuing").number == 1  # the ECDSA issuing CA's CRL did not move


def test_the_channel_check_accepts_a_retired_issuing_cas_certificates_after_a_rotation(ca) -> None:
    # R4.5 with a CA rotation: a rotation must not lock out the credentials the retired CA certified (they stay
    # valid, answered by OCSP and listed in its CRL); a revoked one is still refused, and a certificate of a
    # look-alike "retired" CA (our names, another key) is not ours.
    from django.core.management import call_command

    _root, old = ca
    before = _issue("cred-before")
    call_command("ca_rotate_issuing", stdout=__import__("io").StringIO())
    assert not Authority.objects.get(pk=old.pk).is_active
    after = _issue("cred-after")
    assert after.sign.authority_id != old.pk
    for pair, owner in ((before, "cred-before"), (after, "cred-after")):
        verdict = channel_check(certificate_of(pair.sign))
        assert (verdict.accepted, verdict.code, verdict.owner_id) == (True, "ok", owner)
        assert channel_check(certificate_of(pair.encrypt), usage="encrypt").accepted
    certificate_revoke(serial_hex=before.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    assert channel_check(certificate_of(before.sign)).code == "revoked"
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate_of(before.encrypt)
    forged = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(leaf.public_key())  # type: ignore[arg-type]
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .sign(impostor_key, hashes.SHA256())
    )
    assert channel_check(forged, usage="encrypt").code == "not_ours"


def test_the_channel_check_as_of_a_signing_time_ignores_a_later_superseding_but_never_a_key_compromise(ca) -> None:
    # R4.5, issue 21: a bid signed before its card's renewal is judged as of its signing time — the renewal's
    # superseding revocation came later and leaves the signature valid; now the certificate is refused; a key
    # compromise refuses it whenever it was signed; before its validity it is not yet valid.
    signed = _issue("cred-signed")
    certificate = certificate_of(signed.sign)
    signing_time = now()
    with clock.frozen(signing_time + timedelta(hours=1)):
        certificate_revoke(serial_hex=signed.sign.serial_hex, reason=x509.ReasonFlags.superseded)
        assert channel_check(certificate).code == "revoked"
        assert channel_check(certificate, at=signing_time).accepted
        assert channel_check(certificate, at=now()).code == "revoked"
        assert channel_check(certificate, at=certificate.not_valid_before_utc - timedelta(days=1)).code == (
            "not_yet_valid"
        )
    compromised = _issue("cred-compromised")
    certificate = certificate_of(compromised.sign)
    signing_time = now()
    with clock.frozen(signing_time + timedelta(hours=1)):
        certificate_revoke(serial_hex=compromised.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
        assert channel_check(certificate, at=signing_time).code == "revoked"
