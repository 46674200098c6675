"""Two-party SM2 end to end over the service (issue 20, R3.7, R4.5, R5.2): a split-key credential activated from the
phone's halves; the platform's sign and decrypt requests approved on the (headless) phone with the PIN; ``signHash``
returns the phone's finished signatures, ``decrypt`` the content key computed from the phone's message."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mobileca.ca import facade as ca_facade
from mobileca.ca import sm2
from mobileca.cards.models import Card
from mobileca.cmslib import gm as cms_gm
from mobileca.shield import facade as shield
from mobileca.shield.models import CosignRound, CosignShare
from tests.support.cosign import split_credential
from tests.support.shield import ca_ready, card, registered  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_split_credential_signs_and_decrypts_only_through_the_phone(
    registered: Card, ca_ready: None, tmp_path: Path
) -> None:
    credential, phone = split_credential(registered)
    assert credential.key_custody == "split"
    assert bytes(credential.sign_key_wrapped) == b"" and bytes(credential.encrypt_key_wrapped) == b""
    live = CosignShare.objects.get(credential=credential, usage="sign", certified_at__isnull=False)
    assert live.public_key == phone.shares["sign"].public_point.hex()

    e = phone.shares["sign"].digest(b"signed attributes")
    pending = shield.authorization_request(
        service_no=credential.service_no,
        operation="sign",
        hashes=[base64.b64encode(e).decode()],
        purpose="test",
        file_name="bid.pdf",
    )
    ref = pending.url.rstrip("/").rsplit("/", 1)[-1]
    assert phone.approve(ref)["status"] == "authorized"
    sad = shield.authorization_sad(handle=pending.handle)
    (signature,) = shield.sign_hashes(service_no=credential.service_no, sad=sad, hashes=[base64.b64encode(e).decode()])
    assert sm2.Sm2PublicKey.from_point(phone.shares["sign"].public_point).verify_digest(signature, e)

    encryption = ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    der = x509.load_pem_x509_certificate(encryption.encode()).public_bytes(serialization.Encoding.DER)
    plaintext = b"bid file " * 1000
    ciphertext = io.BytesIO()
    sealed = cms_gm.seal(io.BytesIO(plaintext), ciphertext, der, mode="gcm")
    header = sealed.header
    pending = shield.authorization_request(
        service_no=credential.service_no,
        operation="decrypt",
        hashes=[base64.b64encode(hashlib.sha256(header).digest()).decode()],
        purpose="opening",
        file_name="bid.pdf",
        envelope=header,
    )
    ref = pending.url.rstrip("/").rsplit("/", 1)[-1]
    assert phone.approve(ref)["status"] == "authorized"
    sad = shield.authorization_sad(handle=pending.handle)
    key = shield.content_key(service_no=credential.service_no, sad=sad, envelope=header)
    target = tmp_path / "opened"
    ciphertext.seek(0)
    cms_gm.open_with_key(header, key, ciphertext, target)
    assert target.read_bytes() == plaintext
    # the phone's message served its one opening and is gone
    assert not CosignRound.objects.filter(kind="decrypt", message__isnull=False).exists()
