"""Two-party SM2 over the signing service (issue 20): key generation, signing and decryption rounds and the pepper,
through the phone's JSON endpoints with the reference phone half (``PhoneShare``) as the phone. Signatures are
checked as ordinary SM2 signatures by ``sm2`` and by gmssl-pyx (GmSSL, written by nobody here); the ciphertext
decrypted is one gmssl-pyx made for the public key. Then the refusals: replayed and expired sessions, a forged
proof, another claimant's session, wrong PINs for the pepper (counted; locked after 5), and no stored value holding
the private key."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from django.db import connection
from django.test import Client

from mobileca.ca import facade as ca_facade
from mobileca.ca import sm2
from mobileca.ca.sm2 import N
from mobileca.ca.sm2_cosign import PhoneShare
from mobileca.cards.models import Card
from mobileca.cmslib import gm as cms_gm
from mobileca.core.clock import clock, now
from mobileca.shield import cosign
from mobileca.shield.models import (
    CosignRound,
    CosignShare,
    Credential,
    KeyUseAuthorization,
    KeyUseStatus,
    OperationRecord,
)
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)

OTHER = "2088102000000002"


@pytest.fixture
def gmssl() -> ModuleType:
    return pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation) is not installed")


@pytest.fixture
def credential(registered: Card, ca_ready: None) -> Credential:
    return activated_credential(registered, key_profile=ca_facade.SM2_SM3.name)


@pytest.fixture
def phone(transactional_db: None) -> Client:
    return phone_login(LEGAL_REP)


def post(client: Client, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(f"/h5/cosign/{name}/", json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def keygen(phone: Client, credential: Credential, usage: str = "sign") -> PhoneShare:
    share = PhoneShare()
    status, begun = post(phone, "keygen", {"service_no": credential.service_no, "usage": usage})
    assert status == 200, begun
    status, answer = post(
        phone, "keygen", {"session": begun["session"], "message": share.keygen_message(begun["session"])}
    )
    assert status == 200, answer
    share.accept_public_key(answer)
    return share


def authorized(credential: Credential, operation: str, hashes: list[bytes]) -> KeyUseAuthorization:
    """An authorisation the claimant approved with the PIN (what ``keyuse.approve_on_phone`` leaves behind)."""
    moment = now()
    return KeyUseAuthorization.objects.create(
        credential=credential,
        operation=operation,
        hashes=[base64.b64encode(value).decode() for value in hashes],
        platform="bidding",
        requested_by=f"token:{credential.account}",
        public_ref=secrets.token_urlsafe(12),
        handle_digest=secrets.token_hex(32),
        sad_digest=secrets.token_hex(32),
        status=KeyUseStatus.AUTHORIZED,
        created_at=moment,
        request_expires_at=moment + timedelta(minutes=5),
        authorized_at=moment,
        expires_at=moment + timedelta(minutes=5),
        key_serial=credential.sign_serial if operation == "sign" else credential.encrypt_serial,
    )


def sign_rounds(phone: Client, authorization: KeyUseAuthorization) -> list[dict[str, str]]:
    status, begun = post(phone, "sign", {"authorization": authorization.public_ref})
    assert status == 200, begun
    return list(begun["rounds"])


def rows_snapshot() -> list[tuple[Any, ...]]:
    return list(CosignRound.objects.order_by("pk").values_list("pk", "used_at", "outcome")) + list(
        OperationRecord.objects.order_by("pk").values_list("pk", "action")
    )


# --- the whole walk ------------------------------------------------------------------------------------------------


def test_keygen_then_sign_gives_signatures_sm2_and_gmssl_accept(
    phone: Client, credential: Credential, gmssl: ModuleType
) -> None:
    share = keygen(phone, credential)
    stored = CosignShare.objects.get(credential=credential, usage="sign", destroyed_at__isnull=True)
    assert stored.public_key == share.public_point.hex() and stored.p1 == share.p1.hex()
    messages = [b"bid file attributes one", b"bid file attributes two"]
    authorization = authorized(credential, "sign", [share.digest(m) for m in messages])
    rounds = sign_rounds(phone, authorization)
    authorization.refresh_from_db()
    assert authorization.status == KeyUseStatus.USED
    for item, message in zip(rounds, messages, strict=True):
        e = share.digest(message)  # the phone computes e itself from what it shows
        assert item["e"] == e.hex()
        outgoing, pending = share.sign_message(e, item["session"])
        status, answer = post(phone, "sign", {"session": item["session"], "message": outgoing})
        assert status == 200, answer
        signature = share.sign_finish(pending, answer)
        assert sm2.Sm2PublicKey.from_point(share.public_point).verify_digest(signature, e)
        assert gmssl.sm2_verify(share.public_point[1:], message, signature, signer_id=sm2.DEFAULT_ID)
        assert not gmssl.sm2_verify(share.public_point[1:], message + b"x", signature, signer_id=sm2.DEFAULT_ID)
    assert (
        list(OperationRecord.objects.filter(credential=credential).values_list("action", flat=True)).count("sign") == 1
    )


def test_a_second_live_share_is_refused(phone: Client, credential: Credential) -> None:
    keygen(phone, credential)
    before = list(CosignShare.objects.values_list("pk", "public_key"))
    status, body = post(phone, "keygen", {"service_no": credential.service_no, "usage": "sign"})
    assert (status, body["code"]) == (409, "share_exists")
    assert list(CosignShare.objects.values_list("pk", "public_key")) == before


def _envelope_to(credential: Credential, ciphertext: bytes) -> bytes:
    """A GB/T 35275 envelope header addressed to the credential's encryption certificate whose encryptedKey is
    ``ciphertext`` (the certificate holds today's one-party key; the two-party key's certificate is a later step)."""
    certificate = ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    sealed = cms_gm.Sealer(io.BytesIO(), x509.load_pem_x509_certificate(certificate.encode()))
    sealed.update(b"bid")
    header = cms.ContentInfo.load(sealed.finish().header)
    header["content"]["recipient_infos"][0].chosen["encrypted_key"] = cms.OctetString(ciphertext)
    return bytes(header.dump(force=True))


def test_decrypt_of_a_gmssl_ciphertext_for_p(phone: Client, credential: Credential, gmssl: ModuleType) -> None:
    share = keygen(phone, credential, "encrypt")
    content_key = secrets.token_bytes(16)
    envelope = _envelope_to(credential, gmssl.sm2_encrypt(share.public_point[1:], content_key))
    authorization = authorized(credential, "decrypt", [hashlib.sha256(envelope).digest()])
    begun = cosign.decrypt_begin(authorization=authorization, envelope=envelope, account=LEGAL_REP)
    message = share.decrypt_message(begun.ciphertext, begun.session)
    assert cosign.decrypt_round(session=begun.session, message=message, account=LEGAL_REP) == content_key
    # and over HTTP, with a fresh authorisation
    authorization = authorized(credential, "decrypt", [hashlib.sha256(envelope).digest()])
    status, body = post(
        phone, "decrypt", {"authorization": authorization.public_ref, "envelope": base64.b64encode(envelope).decode()}
    )
    assert status == 200, body
    ciphertext = base64.b64decode(body["ciphertext"])
    status, done = post(
        phone, "decrypt", {"session": body["session"], "message": share.decrypt_message(ciphertext, body["session"])}
    )
    assert (status, done) == (200, {"decrypted": True})
    assert OperationRecord.objects.filter(credential=credential, action="decrypt").count() == 2


# --- refusals ------------------------------------------------------------------------------------------------------


def test_a_replayed_session_is_refused_and_changes_nothing(phone: Client, credential: Credential) -> None:
    share = keygen(phone, credential)
    e = share.digest(b"attributes")
    (item,) = sign_rounds(phone, authorized(credential, "sign", [e]))
    outgoing, _ = share.sign_message(e, item["session"])
    assert post(phone, "sign", {"session": item["session"], "message": outgoing})[0] == 200
    before = rows_snapshot()
    status, body = post(phone, "sign", {"session": item["session"], "message": outgoing})
    assert (status, body["code"]) == (403, "round_used")
    assert rows_snapshot() == before


def test_an_expired_session_is_refused_and_changes_nothing(phone: Client, credential: Credential) -> None:
    share = keygen(phone, credential)
    e = share.digest(b"attributes")
    (item,) = sign_rounds(phone, authorized(credential, "sign", [e]))
    outgoing, _ = share.sign_message(e, item["session"])
    before = rows_snapshot()
    clock.set(now() + cosign.ROUND_LIFETIME + timedelta(seconds=1))
    try:
        status, body = post(phone, "sign", {"session": item["session"], "message": outgoing})
    finally:
        clock.reset()
    assert (status, body["code"]) == (403, "round_expired")
    assert rows_snapshot() == before


def test_a_forged_proof_is_refused_recorded_and_nothing_is_signed(phone: Client, credential: Credential) -> None:
    share = keygen(phone, credential)
    e = share.digest(b"attributes")
    (item,) = sign_rounds(phone, authorized(credential, "sign", [e]))
    outgoing, _ = share.sign_message(e, item["session"])
    z = (int(outgoing["proof"]["z"], 16) + 1) % N
    outgoing["proof"]["z"] = z.to_bytes(32, "big").hex()
    status, body = post(phone, "sign", {"session": item["session"], "message": outgoing})
    assert (status, body["code"]) == (400, "bad_proof")
    assert set(body) == {"code", "message"}
    failed = OperationRecord.objects.get(credential=credential, action="sign_failed")
    assert failed.audit_event.data["failure"] == "bad_proof"
    assert not OperationRecord.objects.filter(credential=credential, action="sign").exists()
    assert CosignRound.objects.get(session=item["session"]).used_at is not None  # spent: no second try


def test_another_claimants_session_is_not_found_and_changes_nothing(
    phone: Client, credential: Credential, registered: Card
) -> None:
    share = keygen(phone, credential)
    e = share.digest(b"attributes")
    (item,) = sign_rounds(phone, authorized(credential, "sign", [e]))
    outgoing, _ = share.sign_message(e, item["session"])
    before = rows_snapshot()
    status, body = post(phone_login(OTHER), "sign", {"session": item["session"], "message": outgoing})
    assert (status, body["code"]) == (404, "round_unknown")
    assert rows_snapshot() == before


def test_the_pepper_comes_only_with_the_pin_and_wrong_pins_lock(phone: Client, credential: Credential) -> None:
    keygen(phone, credential)
    status, body = post(phone, "pepper", {"service_no": credential.service_no, "pin": PIN})
    assert status == 200 and len(bytes.fromhex(body["pepper"])) == 32
    again = post(phone, "pepper", {"service_no": credential.service_no, "pin": PIN})[1]["pepper"]
    assert again == body["pepper"]  # the same value each time: it decrypts the phone's storage
    for attempt in range(1, 6):
        status, refused = post(phone, "pepper", {"service_no": credential.service_no, "pin": "246801"})
        expected = (423, "credential_locked") if attempt == 5 else (400, "invalid_authentication_data")
        assert (status, refused["code"]) == expected and "pepper" not in refused
        credential.refresh_from_db()
        assert credential.pin_failures == attempt
    assert credential.locked_until is not None
    status, refused = post(phone, "pepper", {"service_no": credential.service_no, "pin": PIN})
    assert (status, refused["code"]) == (
        423,
        "credential_locked",
    ) and "pepper" not in refused  # locked: even the right PIN releases nothing
    dump = json.dumps(list(OperationRecord.objects.values_list("audit_event__data", flat=True)), default=str)
    assert body["pepper"] not in dump and PIN not in dump


def test_no_code_path_signs_without_the_phone_and_no_row_holds_d(phone: Client, credential: Credential) -> None:
    share = keygen(phone, credential)
    e = share.digest(b"attributes")
    (item,) = sign_rounds(phone, authorized(credential, "sign", [e]))
    for message in (None, {}, {"e": e.hex()}):
        status, body = post(phone, "sign", {"session": item["session"], "message": message})
        assert status in (400, 403) and set(body) == {"code", "message"}
    assert not OperationRecord.objects.filter(credential=credential, action="sign").exists()
    stored = CosignShare.objects.get(credential=credential, usage="sign")
    d2 = int.from_bytes(
        ca_facade.key_backend().unwrap(cosign.owner_id(credential, "sign"), bytes(stored.d2_wrapped)), "big"
    )
    one_plus_d = pow(share.d1 * d2, -1, N)
    d = (one_plus_d - 1) % N
    assert sm2.point_mul(d) == share.public_point  # the d searched for is the real one
    with connection.cursor() as cursor:
        dump = b""
        for table in (CosignShare._meta.db_table, CosignRound._meta.db_table, OperationRecord._meta.db_table):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (our own table names)
            for row in cursor.fetchall():
                for value in row:
                    dump += bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
    for secret in (d, one_plus_d, share.d1 * d2 % N):
        raw = secret.to_bytes(32, "big")
        for needle in (raw, raw.hex().encode(), raw.hex().upper().encode()):
            assert needle not in dump


def test_keygen_is_for_sm2_credentials_only(phone: Client, registered: Card, ca_ready: None) -> None:
    ecdsa = activated_credential(registered)  # the default profile
    assert ca_facade.key_profile(ecdsa.key_profile).family != "sm2"
    status, body = post(phone, "keygen", {"service_no": ecdsa.service_no, "usage": "sign"})
    assert (status, body["code"]) == (409, "not_sm2")
    assert not CosignRound.objects.exists() and not CosignShare.objects.exists()
