"""The remote-signing API serves SM2 credentials (issue 19): ``info`` and ``credentials/info`` describe them
(SM3withSM2, the SM2 curve, the SM2 chain), ``signHash`` signs e = SM3(Z ‖ M) — checked by gmssl-pyx (GmSSL) and,
assembled into a GB/T 35275 SignedData, by BouncyCastle against the SM2 chain — the other profiles' algorithms are
refused without spending the SAD, and ``credentials/decrypt`` opens GB/T 35275 envelopes (SM2 key transport, SM4).
Also: the SM3 binding of the platform's requests (issue 18 on the national profile), the algorithm on the phone's
certificate blocks, and the renewal of an SM2 credential."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.test import Client

from mobileca.ca import facade as ca_facade
from mobileca.ca import gm as gm_pki
from mobileca.ca import sm2
from mobileca.cards.models import Card
from mobileca.cmslib import gm
from mobileca.core.errors import InvalidInput
from mobileca.shield import facade
from mobileca.shield.models import Credential, KeyUseAuthorization, OperationRecord
from tests.support import gm as gm_fixtures
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    Api,
    _device_login,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)

SM2_SM3 = "1.2.156.10197.1.501"
SM2_1 = "1.2.156.10197.1.301.1"
SM3 = "1.2.156.10197.1.401"
SM2_CURVE = "1.2.156.10197.1.301"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SHA256 = "2.16.840.1.101.3.4.2.1"
SM4_CBC = "1.2.156.10197.1.104.2"
SM4_GCM = "1.2.156.10197.1.104.8"
JAVA = Path(__file__).resolve().parent / "java"
JARS = [Path("/usr/share/java") / name for name in ("bcprov.jar", "bcpkix.jar", "bcutil.jar")]

pytestmark = pytest.mark.django_db


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


@pytest.fixture
def sm2_claimant(registered: Card, ca_ready: None) -> tuple[Client, Api, Credential]:
    """An activated SM2 credential and its claimant signed in on the phone and in the tool."""
    credential = activated_credential(registered, key_profile="sm2")
    phone = phone_login(LEGAL_REP)
    return phone, Api(_device_login(phone)), credential


def _signing_key(credential: Credential) -> sm2.Sm2PublicKey:
    key = ca_facade.public_key_of_certificate(_der(ca_facade.certificate_pem(serial_hex=credential.sign_serial)))
    assert isinstance(key, sm2.Sm2PublicKey)
    return key


def _authorize(api: Api, credential: Credential, hashes: list[str], **more: Any) -> tuple[int, dict[str, Any]]:
    return api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": len(hashes),
            "hashes": hashes,
            "authData": [{"id": "PIN", "value": PIN}],
            "description": "测试",
            **more,
        },
    )


def _sign_hash(api: Api, credential: Credential, e_values: list[bytes], **more: Any) -> tuple[int, dict[str, Any]]:
    """Authorise these e values with the PIN (hash algorithm SM3) and sign them (signAlgo 501 unless given)."""
    hashes = [_b64(e) for e in e_values]
    status, authorized = _authorize(api, credential, hashes, hashAlgorithmOID=SM3)
    assert status == 200, authorized
    body = {"credentialID": credential.service_no, "SAD": authorized["SAD"], "hashes": hashes, "signAlgo": SM2_SM3}
    return api.post("signatures/signHash", {**body, **more})


# --- info, credentials/info -----------------------------------------------------------------------------------


def test_info_and_credentials_info_describe_the_sm2_credential_and_its_sm2_chain(
    sm2_claimant: tuple[Client, Api, Credential],
) -> None:
    _, api, credential = sm2_claimant
    assert set(Api().post("info", {})[1]["signAlgorithms"]["algos"]) == {ECDSA_SHA256, SM2_SM3}
    status, info = api.post(
        "credentials/info", {"credentialID": credential.service_no, "certificates": "chain", "certInfo": True}
    )
    assert status == 200
    assert (info["key"]["algo"], info["key"]["len"], info["key"]["curve"]) == ([SM2_SM3], 256, SM2_CURVE)
    chain = [base64.b64decode(body) for body in info["cert"]["certificates"]]
    assert chain[0] == _der(ca_facade.certificate_pem(serial_hex=credential.sign_serial))
    assert chain[1:] == [_der(pem) for pem in ca_facade.chain_pems("sm2")]
    # each certificate is signed by the next with SM3withSM2 (ID 1234567812345678), the root by itself
    for subject, issuer in zip(chain, [*chain[1:], chain[-1]], strict=True):
        gm_pki.verify_certificate(subject, issuer)
    assert base64.b64decode(info["cert"]["encryptionCertificate"]) == _der(
        ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    )


# --- signHash ---------------------------------------------------------------------------------------------------


@pytest.fixture
def gmssl() -> ModuleType:
    return pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation) is not installed")


def test_sign_hash_signs_e_which_gmssl_verifies_over_the_message_with_its_own_z(
    sm2_claimant: tuple[Client, Api, Credential], gmssl: ModuleType
) -> None:
    """The client computes e = SM3(Z ‖ M) with the ID 1234567812345678 (GM/T 0009); GmSSL, given M and the
    certificate's key, computes Z itself and verifies each signature; with another ID or message it does not."""
    _, api, credential = sm2_claimant
    public = _signing_key(credential)
    messages = [f"投标文件 {index}".encode() * 50 for index in range(3)]
    status, signed = _sign_hash(api, credential, [public.digest(message) for message in messages])
    assert status == 200, signed
    signatures = [base64.b64decode(value) for value in signed["signatures"]]
    their_public = public.point[1:]  # GmSSL takes x ‖ y
    for message, signature in zip(messages, signatures, strict=True):
        assert gmssl.sm2_verify(their_public, message, signature, signer_id=sm2.DEFAULT_ID)
        assert not gmssl.sm2_verify(their_public, message, signature, signer_id=b"ALICE123@YAHOO.COM")
        assert not gmssl.sm2_verify(their_public, message + b".", signature, signer_id=sm2.DEFAULT_ID)
    assert OperationRecord.objects.filter(action="sign", credential=credential).count() == 1


@pytest.mark.parametrize(
    "more", [{}, {"hashAlgorithmOID": SM3}, {"hashAlgo": SM3}, {"signAlgo": SM2_1}], ids=["none", "sm3", "v1", "sm2-1"]
)
def test_sign_hash_takes_sm3_or_no_hash_algorithm(
    sm2_claimant: tuple[Client, Api, Credential], more: dict[str, str]
) -> None:
    _, api, credential = sm2_claimant
    public = _signing_key(credential)
    e = public.digest(b"bid")
    status, signed = _sign_hash(api, credential, [e], **more)
    assert status == 200, signed
    assert public.verify_digest(base64.b64decode(signed["signatures"][0]), e)


@pytest.mark.parametrize(
    "wrong",
    [
        {"signAlgo": ECDSA_SHA256},
        {"signAlgo": "1.2.840.113549.1.1.11"},
        {"hashAlgorithmOID": SHA256},
        {"signAlgoParams": "BQA="},
    ],
    ids=["ecdsa", "rsa", "sha256", "params"],
)
def test_other_profiles_algorithms_are_refused_for_an_sm2_credential_without_spending_the_sad(
    sm2_claimant: tuple[Client, Api, Credential], wrong: dict[str, str]
) -> None:
    _, api, credential = sm2_claimant
    e = _signing_key(credential).digest(b"bid")
    status, refused = _sign_hash(api, credential, [e], **wrong)
    assert (status, refused["error"]) == (400, "invalid_request")
    authorization = KeyUseAuthorization.objects.get()
    assert authorization.status == "authorized" and authorization.used_at is None  # the SAD is still good
    assert not OperationRecord.objects.filter(action__in=("sign", "sign_failed")).exists()


def test_authorize_refuses_sha256_for_an_sm2_credential_and_stores_nothing(
    sm2_claimant: tuple[Client, Api, Credential],
) -> None:
    _, api, credential = sm2_claimant
    status, refused = _authorize(api, credential, [_b64(bytes(32))], hashAlgorithmOID=SHA256)
    assert (status, refused["error"]) == (400, "invalid_request") and SM3 in refused["error_description"]
    assert not KeyUseAuthorization.objects.exists()


def test_an_ecdsa_credential_refuses_sm2_algorithms_without_spending_the_sad(registered: Card, ca_ready: None) -> None:
    credential = activated_credential(registered)
    api = Api(_device_login(phone_login(LEGAL_REP)))
    digest = _b64(hashlib.sha256(b"bid").digest())
    status, refused = _authorize(api, credential, [digest], hashAlgorithmOID=SM3)
    assert (status, refused["error"]) == (400, "invalid_request") and not KeyUseAuthorization.objects.exists()
    status, authorized = _authorize(api, credential, [digest])
    body = {"credentialID": credential.service_no, "SAD": authorized["SAD"], "hashes": [digest]}
    for wrong in ({"signAlgo": SM2_SM3}, {"signAlgo": SM2_1}, {"signAlgo": ECDSA_SHA256, "hashAlgorithmOID": SM3}):
        status, refused = api.post("signatures/signHash", {**body, **wrong})
        assert (status, refused["error"]) == (400, "invalid_request"), wrong
    assert KeyUseAuthorization.objects.get().status == "authorized"
    assert api.post("signatures/signHash", {**body, "signAlgo": ECDSA_SHA256})[0] == 200


# --- BouncyCastle: a GB/T 35275 SignedData made with signHash, against the SM2 chain ---------------------------


def _bouncycastle_missing() -> str:
    absent = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    return ", ".join(absent + [str(jar) for jar in JARS if not jar.exists()])


@pytest.fixture(scope="module")
def bouncycastle(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Both Java checkers compiled against Debian's BouncyCastle: the class path to run them with."""
    if _bouncycastle_missing():
        pytest.skip(f"BouncyCastle peer unavailable (missing: {_bouncycastle_missing()}); CI installs it")
    classes = tmp_path_factory.mktemp("gm-java")
    classpath = ":".join(str(jar) for jar in JARS)
    for source in ("GmCheck.java", "GmCmsCheck.java"):
        done = subprocess.run(  # noqa: S603
            ["javac", "-Xlint:-options", "-d", str(classes), "-cp", classpath, str(JAVA / source)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return f"{classpath}:{classes}"


def _java(classpath: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["java", "-cp", classpath, *map(str, args)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("flavour", [gm.RFC5652, gm.GBT35275], ids=lambda flavour: flavour.name)
def test_bouncycastle_verifies_a_signed_data_made_with_sign_hash_and_its_sm2_chain(
    sm2_claimant: tuple[Client, Api, Credential], bouncycastle: str, tmp_path: Path, flavour: gm.Flavour
) -> None:
    _, api, credential = sm2_claimant
    sign_der = _der(ca_facade.certificate_pem(serial_hex=credential.sign_serial))
    chain_der = [_der(pem) for pem in ca_facade.chain_pems("sm2")]
    content = tmp_path / "投标文件.pdf"
    content.write_bytes(b"%PDF-1.7 sealed bid " * 5000)
    attributes = gm.signed_attributes(content_digest=gm.sm3_of_file(content), flavour=flavour)
    status, signed = _sign_hash(api, credential, [gm.attributes_hash(attributes, sign_der)])
    assert status == 200, signed
    p7s = tmp_path / "bid.p7s"
    p7s.write_bytes(
        gm.detached_signed_data(
            attributes_der=attributes,
            signature=base64.b64decode(signed["signatures"][0]),
            signer_der=sign_der,
            chain_der=chain_der,
            flavour=flavour,
        )
    )

    verified = _java(bouncycastle, "GmCmsCheck", "verify", p7s, content)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.split() == ["verified", flavour.data, SM2_SM3]
    files = {}
    for name, der in (("leaf", sign_der), ("issuing", chain_der[0]), ("root", chain_der[1])):
        files[name] = tmp_path / f"{name}.der"
        files[name].write_bytes(der)
    checks = {
        "leaf": f"cert:{files['leaf']},{files['issuing']}",
        "issuing": f"cert:{files['issuing']},{files['root']}",
        "root": f"cert:{files['root']},{files['root']}",
    }
    chained = _java(bouncycastle, "GmCheck", *(f"{label}={check}" for label, check in checks.items()))
    assert chained.returncode == 0, chained.stderr
    said = dict(line.split(" ", 1) for line in chained.stdout.splitlines())
    assert set(said) == set(checks) and all(line.startswith("OK") and SM2_SM3 in line for line in said.values()), said

    # the same file changed by one byte: BouncyCastle refuses it
    data = bytearray(content.read_bytes())
    data[100] ^= 1
    content.write_bytes(bytes(data))
    changed = _java(bouncycastle, "GmCmsCheck", "verify", p7s, content)
    assert changed.returncode != 0 and "verified" not in changed.stdout


# --- credentials/decrypt: GB/T 35275 envelopes -------------------------------------------------------------------


def _sealed(
    credential: Credential, plain: bytes, mode: str = "cbc", flavour: gm.Flavour = gm.RFC5652
) -> tuple[gm.Sealed, bytes]:
    recipient = _der(ca_facade.certificate_pem(serial_hex=credential.encrypt_serial))
    ciphertext = io.BytesIO()
    sealed = gm.seal(io.BytesIO(plain), ciphertext, recipient, mode=mode, flavour=flavour)
    return sealed, ciphertext.getvalue()


def _authorize_decrypt(api: Api, credential: Credential, header: bytes) -> str:
    status, authorized = _authorize(
        api, credential, [_b64(hashlib.sha256(header).digest())], operation="decrypt", numSignatures=1
    )
    assert status == 200, authorized
    return str(authorized["SAD"])


def _decrypt(api: Api, credential: Credential, sad: str, header: bytes) -> tuple[int, dict[str, Any]]:
    return api.post(
        "credentials/decrypt", {"credentialID": credential.service_no, "SAD": sad, "envelope": _b64(header)}
    )


@pytest.mark.parametrize(
    ("mode", "flavour", "algorithm"),
    [("cbc", gm.RFC5652, SM4_CBC), ("cbc", gm.GMSSL, SM4_CBC), ("gcm", gm.RFC5652, SM4_GCM)],
    ids=["sm4-cbc", "sm4-cbc-gmssl", "sm4-gcm"],
)
def test_decrypt_gives_the_sm4_key_of_an_envelope_to_the_sm2_credential(
    sm2_claimant: tuple[Client, Api, Credential], tmp_path: Path, mode: str, flavour: gm.Flavour, algorithm: str
) -> None:
    _, api, credential = sm2_claimant
    plain = "投标报价 1,234,567.89 元\n".encode() * 3000
    sealed, ciphertext = _sealed(credential, plain, mode, flavour)
    status, opened = _decrypt(api, credential, _authorize_decrypt(api, credential, sealed.header), sealed.header)
    assert status == 200, opened
    assert opened["contentEncryptionAlgorithmOID"] == algorithm
    key = base64.b64decode(opened["contentKey"])
    target = tmp_path / "bid.pdf"
    size, _ = gm.open_with_key(sealed.header, key, io.BytesIO(ciphertext), target, expected_sm3=sealed.plaintext_sm3)
    assert (size, target.read_bytes()) == (len(plain), plain)
    assert OperationRecord.objects.filter(action="decrypt", credential=credential).count() == 1


def test_an_envelope_for_another_sm2_key_is_refused_before_the_sad_is_spent(
    sm2_claimant: tuple[Client, Api, Credential],
) -> None:
    _, api, credential = sm2_claimant
    other = gm_fixtures.encipherer(gm_fixtures.root())
    ciphertext = io.BytesIO()
    header = gm.seal(io.BytesIO(b"bid"), ciphertext, other.certificate).header
    sad = _authorize_decrypt(api, credential, header)
    status, refused = _decrypt(api, credential, sad, header)
    assert (status, refused["error"]) == (400, "not_a_recipient") and "contentKey" not in refused
    assert KeyUseAuthorization.objects.get().status == "authorized"  # not spent
    assert not OperationRecord.objects.filter(action__in=("decrypt", "decrypt_failed")).exists()
    status, refused = _decrypt(api, credential, sad, b"\x30\x03\x02\x01\x00")
    assert (status, refused["error"]) == (400, "bad_envelope") and "contentKey" not in refused
    assert KeyUseAuthorization.objects.get().status == "authorized"


def test_a_tampered_encrypted_key_is_refused_recorded_and_nothing_leaks(
    sm2_claimant: tuple[Client, Api, Credential],
) -> None:
    _, api, credential = sm2_claimant
    sealed, _ = _sealed(credential, b"sealed bid")
    recipient = cms.ContentInfo.load(sealed.header)["content"]["recipient_infos"][0].chosen
    encrypted_key = recipient["encrypted_key"].native
    assert sealed.header.count(encrypted_key) == 1
    # the last byte of C2 (the SM2Cipher's last field) flipped: still DER, still addressed to us, C3 fails
    tampered = sealed.header.replace(encrypted_key, encrypted_key[:-1] + bytes([encrypted_key[-1] ^ 1]))
    assert gm.addressed_to(tampered, _der(ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)))
    status, refused = _decrypt(api, credential, _authorize_decrypt(api, credential, tampered), tampered)
    assert (status, refused["error"]) == (400, "unwrap_failed") and set(refused) == {"error", "error_description"}
    assert KeyUseAuthorization.objects.get().status == "used"
    record = OperationRecord.objects.get(action="decrypt_failed")
    assert record.credential_id == credential.pk and record.audit_event.data["failure"] == "unwrap_failed"
    assert not OperationRecord.objects.filter(action="decrypt").exists()


# --- the SM3 binding of the platform's requests (issue 18 on the national profile) -------------------------------

CONTENT = b"%PDF-1.7 bid for the street lights " * 36_000


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"#{element_id} not on the page"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(2)).split())


def _request(credential: Credential, **overrides: Any) -> facade.PendingAuthorization:
    attributes = gm.signed_attributes(content_digest=sm2.sm3(CONTENT))
    if "hashes" not in overrides:
        sign_der = _der(facade.credential_certificates(service_no=credential.service_no).sign_pem)
        overrides["hashes"] = [_b64(gm.attributes_hash(attributes, sign_der))]
    arguments: dict[str, Any] = {
        "service_no": credential.service_no,
        "operation": "sign",
        "purpose": "投标文件签名：JDZ-2026-088",
        "file_name": "投标文件.pdf",
        "file_size": len(CONTENT),
        "file_sm3": sm2.sm3(CONTENT),
        "signed_attributes": attributes,
        "tender_no": "JDZ-2026-088",
        "tender_name": "瓷都大道路灯采购",
    }
    return facade.authorization_request(**{**arguments, **overrides})


def test_the_phone_shows_the_files_sm3_and_the_approved_signature_is_a_gbt_35275_signature_of_the_file(
    registered: Card, ca_ready: None
) -> None:
    credential = activated_credential(registered, key_profile="sm2")
    pending = _request(credential)
    stored = KeyUseAuthorization.objects.get()
    assert stored.file_sha256 == sm2.sm3(CONTENT).hex()

    phone = phone_login(LEGAL_REP, next_page="/h5/authorizations/")
    path = pending.url.removeprefix("http://testserver")
    page = phone.get(path).content.decode()
    grouped = " ".join(sm2.sm3(CONTENT).hex()[i : i + 4] for i in range(0, 64, 4))
    assert _text(page, "file-digest") == grouped
    assert _text(page, "file-digest-label") == "文件摘要（SM3）" and "SHA-256" not in page
    assert phone.post(path, {"pin": PIN, "decision": "approve"}).status_code == 302

    sad = facade.authorization_sad(handle=pending.handle)
    (signature,) = facade.sign_hashes(service_no=credential.service_no, sad=sad, hashes=stored.hashes)
    certificates = facade.credential_certificates(service_no=credential.service_no)
    p7s = gm.detached_signed_data(
        attributes_der=bytes(stored.signed_attributes),
        signature=signature,
        signer_der=_der(certificates.sign_pem),
        chain_der=[_der(pem) for pem in certificates.chain_pems],
    )
    assert gm.verify_detached(p7s, sm2.sm3(CONTENT)) == _der(certificates.sign_pem)


def _refused(credential: Credential, **overrides: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        _request(credential, **overrides)
    return refused.value


@pytest.mark.parametrize(
    "lie",
    ["another file's SM3", "SHA-256 of the attributes", "e under another ID", "SHA-256 shown", "no attributes"],
)
def test_an_sm2_request_whose_shown_sm3_is_not_what_is_signed_is_refused_and_recorded(
    registered: Card, ca_ready: None, lie: str
) -> None:
    credential = activated_credential(registered, key_profile="sm2")
    sign_der = _der(facade.credential_certificates(service_no=credential.service_no).sign_pem)
    attributes = gm.signed_attributes(content_digest=sm2.sm3(CONTENT))
    overrides: dict[str, Any] = {
        "another file's SM3": {"file_sm3": sm2.sm3(b"another file")},
        "SHA-256 of the attributes": {"hashes": [_b64(hashlib.sha256(attributes).digest())]},
        "e under another ID": {"hashes": [_b64(gm.attributes_hash(attributes, sign_der, id=b"ALICE123@YAHOO.COM"))]},
        "SHA-256 shown": {"file_sm3": b"", "file_sha256": hashlib.sha256(CONTENT).digest()},
        "no attributes": {"signed_attributes": b""},
    }[lie]
    if lie != "SHA-256 of the attributes" and lie != "e under another ID":
        overrides.setdefault("hashes", [_b64(gm.attributes_hash(attributes, sign_der))])
    overrides.setdefault("signed_attributes", attributes)
    refusal = _refused(credential, **overrides)
    assert refusal.code == "digest_mismatch"
    assert not KeyUseAuthorization.objects.exists()
    record = OperationRecord.objects.get(action="sign_failed")
    assert record.credential_id == credential.pk and record.audit_event.data["failure"] == "digest_mismatch"


def test_an_ecdsa_request_showing_an_sm3_is_refused(registered: Card, ca_ready: None) -> None:
    from mobileca.cmslib import signed

    credential = activated_credential(registered)
    sign_der = _der(facade.credential_certificates(service_no=credential.service_no).sign_pem)
    attributes = signed.signed_attributes(content_digest=hashlib.sha256(CONTENT).digest(), signer_der=sign_der)
    refusal = _refused(
        credential, hashes=[_b64(hashlib.sha256(attributes).digest())], signed_attributes=attributes
    )  # file_sm3 shown for an ECDSA credential
    assert refusal.code == "digest_mismatch" and not KeyUseAuthorization.objects.exists()


# --- the phone's certificate blocks, renewal ---------------------------------------------------------------------


def test_my_certificates_name_the_algorithm_in_plain_words(registered: Card, ca_ready: None) -> None:
    credential = activated_credential(registered, key_profile="sm2")
    page = phone_login(LEGAL_REP).get("/h5/credentials/").content.decode()
    shown = re.findall(r'<span class="cert-algorithm">([^<]*)</span>', page)
    assert shown == ["国密 SM2", "国密 SM2"] and credential.sign_serial in page
    assert "ECDSA" not in page


def test_my_certificates_say_ecdsa_for_an_ecdsa_credential(registered: Card, ca_ready: None) -> None:
    activated_credential(registered)
    page = phone_login(LEGAL_REP).get("/h5/credentials/").content.decode()
    assert re.findall(r'<span class="cert-algorithm">([^<]*)</span>', page) == ["ECDSA P-256", "ECDSA P-256"]
    assert "国密" not in page
