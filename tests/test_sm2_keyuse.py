"""Using an SM2 credential's keys from the platform's side and through a renewal (issue 19): a renewal re-keys with
SM2 (the credential keeps its profile, the new certificates come from the SM2 issuing CA, the old ones are revoked,
a SAD approved for the old key is refused), and the platform opens an SM2 bid envelope with the content key the
service unwraps."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.test import Client

from mobileca.accounts.models import User
from mobileca.ca import facade as ca_facade
from mobileca.ca import gm as gm_pki
from mobileca.ca import sm2
from mobileca.ca.models import Authority, AuthorityRole, IssuedCertificate
from mobileca.cards.models import Card
from mobileca.cmslib import gm
from mobileca.shield import facade
from mobileca.shield.models import Credential, KeyUseAuthorization, OperationRecord
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    Api,
    _device_login,
    _pay,
    _renew,
    _renewal_ticket,
    _scan_and_login,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)

SM3 = "1.2.156.10197.1.401"
SM2_SM3 = "1.2.156.10197.1.501"

pytestmark = pytest.mark.django_db


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_renewing_an_sm2_credential_re_keys_with_sm2_and_revokes_the_old_certificates(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> None:
    credential = activated_credential(registered, key_profile="sm2")
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")  # the platform learns the activation
    registered.refresh_from_db()
    old_serials = (credential.sign_serial, credential.encrypt_serial)
    old_key = ca_facade.public_key_of_certificate(_der(ca_facade.certificate_pem(serial_hex=old_serials[0])))
    # a SAD approved for the old key, not yet used
    api = Api(_device_login(phone_login(LEGAL_REP)))
    e = _b64(hashlib.sha256(b"e").digest())
    status, authorized = api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": 1,
            "hashes": [e],
            "hashAlgorithmOID": SM3,
            "authData": [{"id": "PIN", "value": PIN}],
        },
    )
    assert status == 200

    _pay(_renew(bidder_client, registered), finance)
    ticket = _renewal_ticket(bidder_client, registered)
    phone = Client()
    _scan_and_login(phone, ticket, LEGAL_REP)
    assert phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN}).status_code == 302
    assert "续费成功" in phone.get(f"/h5/claim/{ticket}/").content.decode()

    credential.refresh_from_db()
    assert credential.key_profile == "sm2"
    assert {credential.sign_serial, credential.encrypt_serial}.isdisjoint(old_serials)
    issuing = Authority.objects.get(role=AuthorityRole.SM2_ISSUING, is_active=True)
    for role, serial in (("sign", credential.sign_serial), ("encrypt", credential.encrypt_serial)):
        record = IssuedCertificate.objects.get(serial_hex=serial)
        assert record.authority_id == issuing.pk
        gm_pki.verify_certificate(bytes(record.certificate_der), bytes(issuing.certificate_der))
        certified = ca_facade.public_key_of_certificate(bytes(record.certificate_der))
        key = ca_facade.unwrap_private_key(
            owner_id=f"credential:{credential.service_no}:{role}",
            blob=bytes(credential.sign_key_wrapped if role == "sign" else credential.encrypt_key_wrapped),
        )
        assert isinstance(key, sm2.Sm2PrivateKey) and isinstance(certified, sm2.Sm2PublicKey)
        assert certified.der == key.public_key().der
    assert isinstance(old_key, sm2.Sm2PublicKey) and old_key.der != certified.der
    assert [ca_facade.certificate_info(serial_hex=serial).status for serial in old_serials] == ["revoked"] * 2
    assert ca_facade.certificate_info(serial_hex=credential.sign_serial).status == "good"

    # the SAD approved before the re-key does not sign with the new key; a new one does, with SM2
    body = {"credentialID": credential.service_no, "SAD": authorized["SAD"], "hashes": [e], "signAlgo": SM2_SM3}
    status, refused = api.post("signatures/signHash", body)
    assert status == 400 and "no longer has" in refused["error_description"]
    status, authorized = api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": 1,
            "hashes": [e],
            "authData": [{"id": "PIN", "value": PIN}],
        },
    )
    assert status == 200
    status, signed = api.post("signatures/signHash", {**body, "SAD": authorized["SAD"]})
    assert status == 200
    new_key = ca_facade.public_key_of_certificate(_der(ca_facade.certificate_pem(serial_hex=credential.sign_serial)))
    assert isinstance(new_key, sm2.Sm2PublicKey)
    assert new_key.verify_digest(base64.b64decode(signed["signatures"][0]), base64.b64decode(e))
    assert not old_key.verify_digest(base64.b64decode(signed["signatures"][0]), base64.b64decode(e))


def test_the_platform_opens_an_sm2_bid_envelope_with_the_key_the_service_unwraps(
    registered: Card, ca_ready: None, tmp_path: Path
) -> None:
    """The platform's path (``shield.facade``): the request approved on the phone names the envelope header by its
    SHA-256; the content key opens the SM4-CBC ciphertext against the SM3 the signature states."""
    credential = activated_credential(registered, key_profile="sm2")
    certificates = facade.credential_certificates(service_no=credential.service_no)
    assert certificates.key_profile == "sm2"
    plain = "开标：投标文件\n".encode() * 10_000
    ciphertext = io.BytesIO()
    sealed = gm.seal(io.BytesIO(plain), ciphertext, _der(certificates.encrypt_pem), flavour=gm.GBT35275)
    pending = facade.authorization_request(
        service_no=credential.service_no,
        operation="decrypt",
        hashes=[_b64(hashlib.sha256(sealed.header).digest())],
        purpose="开标解密",
        file_name="投标文件.pdf",
    )
    phone = phone_login(LEGAL_REP, next_page="/h5/authorizations/")
    path = pending.url.removeprefix("http://testserver")
    assert phone.post(path, {"pin": PIN, "decision": "approve"}).status_code == 302
    sad = facade.authorization_sad(handle=pending.handle)
    key = facade.content_key(service_no=credential.service_no, sad=sad, envelope=sealed.header)
    target = tmp_path / "opened.pdf"
    gm.open_with_key(sealed.header, key, io.BytesIO(ciphertext.getvalue()), target, expected_sm3=sealed.plaintext_sm3)
    assert target.read_bytes() == plain
    assert KeyUseAuthorization.objects.get().status == "used"
    assert OperationRecord.objects.filter(action="decrypt", credential=credential).count() == 1
    assert Credential.objects.get().key_profile == "sm2"
