"""Two-party SM2 over the signing service (issue 20, R3.7, R4.5, R5.2), through the phone's JSON endpoints under
``/h5/cosign/`` with the headless phone (``tests/support/cosign.py``): the split credential made during the claim's
PIN step, requests approved on the phone with the PIN, then the rounds. The signatures ``signHash`` returns are
checked by ``sm2``, gmssl-pyx and BouncyCastle (peers nobody here wrote); a ciphertext gmssl-pyx made is opened.

Then the refusals, each asserting that nothing changed: replayed and expired sessions, forged proofs (key generation,
signing, decryption), another claimant's session, wrong PINs at the approval (counted, locked after 5, no rounds),
finished signatures that do not verify or do not cover every digest, the platform before the phone finished, the
whole-key approval paths (``cosign_required``, ``phone_required``), an activation without both halves and a key
generation for a claim that is not split. Last: the service alone cannot sign or decrypt — no table, log line or
key back-end file holds the private scalar d in any representation."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from mobileca.ca import facade as ca_facade
from mobileca.ca import sm2
from mobileca.ca.sm2 import N
from mobileca.ca.sm2_cosign import PhoneShare
from mobileca.cards.models import Card
from mobileca.cmslib import gm as cms_gm
from mobileca.core.clock import clock, now
from mobileca.core.errors import ApplicationError
from mobileca.shield import callers, cosign, cosign_keys, keyuse
from mobileca.shield import facade as shield
from mobileca.shield.claims import claim_activate
from mobileca.shield.models import (
    ClaimSession,
    CosignRound,
    CosignShare,
    Credential,
    KeyUseAuthorization,
    KeyUseStatus,
    OperationRecord,
)
from tests.support.cosign import HeadlessPhone, decrypt_request, expect_ok, post, sign_request, split_credential
from tests.support.cosign_peer import bouncycastle  # noqa: F401 (fixture)
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    ca_ready,
    card,
    claim_at_pin,
    phone_login,
    registered,
)

pytestmark = pytest.mark.django_db(transaction=True)

OTHER = "2088102000000002"
WRONG_PIN = "246801"
SPLIT = {"MOBILECA_KEY_CUSTODY": "split", "MOBILECA_KEY_PROFILE": ca_facade.SM2_SM3.name}


@pytest.fixture
def gmssl() -> ModuleType:
    return pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation) is not installed")


@pytest.fixture
def split(registered: Card, ca_ready: None) -> tuple[Credential, HeadlessPhone]:
    return split_credential(registered)


@pytest.fixture
def split_claim(registered: Card, ca_ready: None) -> Iterator[tuple[ClaimSession, HeadlessPhone]]:
    """A claim at 「设置PIN码」 with ``MOBILECA_KEY_CUSTODY=split`` and its claimant's phone, no halves made yet."""
    claim = claim_at_pin(registered, LEGAL_REP)
    with override_settings(**SPLIT):
        yield claim, HeadlessPhone(client=phone_login(LEGAL_REP))


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every row a two-party step may write: rounds, shares, requests, records, the PIN counters, credentials."""

    def listed(query: Any, *names: str) -> list[tuple[Any, ...]]:
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in query.values_list(*names)]

    return {
        "rounds": listed(CosignRound.objects.order_by("pk"), "pk", "used_at", "outcome", "signature", "message"),
        "shares": listed(CosignShare.objects.order_by("pk"), "pk", "credential", "certified_at", "destroyed_at"),
        "requests": listed(
            KeyUseAuthorization.objects.order_by("pk"), "pk", "status", "authorized_at", "sad_digest", "used_at"
        ),
        "records": listed(OperationRecord.objects.order_by("pk"), "pk", "action"),
        "credentials": listed(Credential.objects.order_by("pk"), "pk", "pin_failures", "locked_until", "key_custody"),
        "claims": listed(ClaimSession.objects.order_by("pk"), "pk", "step", "status"),
    }


def approved(phone: HeadlessPhone, ref: str, pin: str = PIN) -> dict[str, Any]:
    """「确认」 with the PIN only: the rounds the service opens for the request (no round played yet)."""
    return expect_ok(post(phone.client, "approve", {"authorization": ref, "pin": pin}))


def answered(phone: HeadlessPhone, item: dict[str, str]) -> tuple[dict[str, Any], bytes]:
    """One signing round played by the phone: its message and the finished DER signature."""
    share = phone.shares["sign"]
    outgoing, pending = share.sign_message(bytes.fromhex(item["e"]), item["session"])
    answer = expect_ok(post(phone.client, "sign", {"session": item["session"], "message": outgoing}))
    return outgoing, share.sign_finish(pending, answer)


def finish(phone: HeadlessPhone, ref: str, signed: list[tuple[str, bytes]]) -> tuple[int, dict[str, Any]]:
    body = [{"session": session, "signature": base64.b64encode(der).decode()} for session, der in signed]
    return post(phone.client, "sign", {"authorization": ref, "signatures": body})


def refused(answer: tuple[int, dict[str, Any]], status: int, code: str) -> None:
    got_status, body = answer
    assert (got_status, body.get("code")) == (status, code), body
    assert set(body) == {"code", "message"}  # no key material, no partial answer


def _certificate_der(serial_hex: str) -> bytes:
    pem = ca_facade.certificate_pem(serial_hex=serial_hex)
    return bytes(x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER))


def _spki(certificate_der: bytes) -> bytes:
    """The certificate's SubjectPublicKeyInfo (an SM2 key: read with asn1crypto, not ``cryptography``)."""
    return bytes(asn1_x509.Certificate.load(certificate_der)["tbs_certificate"]["subject_public_key_info"].dump())


def envelope_to(credential: Credential, encrypted_key: bytes | None = None) -> bytes:
    """A GB/T 35275 envelope header addressed to the split credential's encryption certificate (its key is P):
    sealed by ``cmslib.gm``, or with ``encrypted_key`` (a peer's SM2Cipher of a content key) put in."""
    pem = ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    sealed = cms_gm.seal(io.BytesIO(b"bid file"), io.BytesIO(), der, mode="gcm")
    if encrypted_key is None:
        return bytes(sealed.header)
    header = cms.ContentInfo.load(sealed.header)
    header["content"]["recipient_infos"][0].chosen["encrypted_key"] = cms.OctetString(encrypted_key)
    return bytes(header.dump(force=True))


# --- the whole walk and the peers ----------------------------------------------------------------------------------


def test_signatures_from_signhash_are_accepted_by_sm2_gmssl_and_bouncycastle(
    split: tuple[Credential, HeadlessPhone], gmssl: ModuleType, bouncycastle: Any
) -> None:
    """R4.5, issue 20: two digests approved on the phone; ``signHash`` returns the phone's finished signatures, each
    an ordinary SM2 signature under P (the certificate's key) for its own message only."""
    credential, phone = split
    share = phone.shares["sign"]
    messages = [b"bid file attributes one", b"bid file attributes two"]
    ref, handle = sign_request(credential, [share.digest(m) for m in messages])
    assert phone.approve(ref)["status"] == "authorized"
    sad = shield.authorization_sad(handle=handle)
    hashes = [base64.b64encode(share.digest(m)).decode() for m in messages]
    signatures = shield.sign_hashes(service_no=credential.service_no, sad=sad, hashes=hashes)
    spki = _spki(_certificate_der(credential.sign_serial))
    checks = []
    for index, (message, signature) in enumerate(zip(messages, signatures, strict=True)):
        assert sm2.Sm2PublicKey.from_point(share.public_point).verify_digest(signature, share.digest(message))
        assert gmssl.sm2_verify(share.public_point[1:], message, signature, signer_id=sm2.DEFAULT_ID)
        assert not gmssl.sm2_verify(share.public_point[1:], message + b"x", signature, signer_id=sm2.DEFAULT_ID)
        checks += [
            f"good{index} verify {spki.hex()} {message.hex()} {signature.hex()}",
            f"other{index} verify {spki.hex()} {(message + b'x').hex()} {signature.hex()}",
        ]
    said = bouncycastle(checks)
    assert said == {"good0": "OK", "other0": "FAIL", "good1": "OK", "other1": "FAIL"}
    assert OperationRecord.objects.filter(credential=credential, action="sign").count() == 1


def test_a_bid_style_signed_data_of_a_split_credential_verifies_with_bouncycastle(
    split: tuple[Credential, HeadlessPhone], bouncycastle: Any
) -> None:
    """R5.2, issue 20: the GB/T 35275 detached SignedData a bid carries, its one hash e = SM3(Z ‖ attributes)
    signed through the phone: the signature over the attributes verifies with BouncyCastle (SM3withSM2) and the
    SignedData with ``cmslib.gm``."""
    credential, phone = split
    content = b"PK bid zip " * 1000
    content_sm3 = _sm3(content)
    signer = _certificate_der(credential.sign_serial)
    attributes = cms_gm.signed_attributes(content_digest=content_sm3, flavour=cms_gm.RFC5652)
    e = cms_gm.attributes_hash(attributes, signer)
    ref, handle = sign_request(
        credential, [e], signed_attributes=attributes, file_sm3=content_sm3, file_size=len(content)
    )
    assert phone.approve(ref)["status"] == "authorized"
    (signature,) = shield.sign_hashes(
        service_no=credential.service_no,
        sad=shield.authorization_sad(handle=handle),
        hashes=[base64.b64encode(e).decode()],
    )
    p7s = cms_gm.detached_signed_data(
        attributes_der=attributes, signature=signature, signer_der=signer, chain_der=[], flavour=cms_gm.RFC5652
    )
    assert cms_gm.verify_detached(p7s, content_sm3) == signer
    spki = _spki(signer)
    said = bouncycastle(
        [
            f"attrs verify {spki.hex()} {attributes.hex()} {signature.hex()}",
            f"tampered verify {spki.hex()} {(attributes[:-1] + bytes([attributes[-1] ^ 1])).hex()} {signature.hex()}",
        ]
    )
    assert said == {"attrs": "OK", "tampered": "FAIL"}


def _sm3(data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def test_a_gmssl_ciphertext_to_p_is_opened_through_the_phone(
    split: tuple[Credential, HeadlessPhone], gmssl: ModuleType
) -> None:
    """R4.5, issue 20: an envelope whose encryptedKey gmssl-pyx made for P; the platform's ``decrypt`` gives the
    content key once the phone sent its checked message, and only then."""
    credential, phone = split
    content_key = secrets.token_bytes(16)
    envelope = envelope_to(credential, gmssl.sm2_encrypt(phone.shares["encrypt"].public_point[1:], content_key))
    ref, handle = decrypt_request(credential, envelope)
    assert phone.approve(ref)["status"] == "authorized"
    sad = shield.authorization_sad(handle=handle)
    assert shield.content_key(service_no=credential.service_no, sad=sad, envelope=envelope) == content_key


# --- key generation refusals ---------------------------------------------------------------------------------------


def _keygen_begin(phone: HeadlessPhone, claim: ClaimSession, usage: str = "sign") -> str:
    return str(expect_ok(post(phone.client, "keygen", {"ticket": claim.ticket, "usage": usage}))["session"])


def test_a_replayed_keygen_session_is_refused_and_changes_nothing(
    split_claim: tuple[ClaimSession, HeadlessPhone],
) -> None:
    """Issue 20: a key generation session is single use: the same message again is ``round_used``."""
    claim, phone = split_claim
    share = PhoneShare()
    session = _keygen_begin(phone, claim)
    message = share.keygen_message(session)
    expect_ok(post(phone.client, "keygen", {"session": session, "message": message}))
    before = rows()
    refused(post(phone.client, "keygen", {"session": session, "message": message}), 403, "round_used")
    assert rows() == before


def test_an_expired_keygen_session_is_refused_and_changes_nothing(
    split_claim: tuple[ClaimSession, HeadlessPhone],
) -> None:
    """Issue 20: a session lives 2 minutes; after that it is ``round_expired`` and no share is made."""
    claim, phone = split_claim
    session = _keygen_begin(phone, claim)
    before = rows()
    clock.set(now() + cosign.ROUND_LIFETIME + timedelta(seconds=1))
    try:
        answer = post(phone.client, "keygen", {"session": session, "message": PhoneShare().keygen_message(session)})
    finally:
        clock.reset()
    refused(answer, 403, "round_expired")
    assert rows() == before and not CosignShare.objects.exists()


def test_a_forged_keygen_proof_is_refused_and_no_share_is_kept(
    split_claim: tuple[ClaimSession, HeadlessPhone],
) -> None:
    """Issue 20: P1 with a proof of knowledge that does not hold (z + 1), or one made for another session, is
    ``bad_proof``; the round is spent and no share exists."""
    claim, phone = split_claim
    share = PhoneShare()
    session = _keygen_begin(phone, claim)
    message = share.keygen_message(session)
    message["proof"]["z"] = ((int(message["proof"]["z"], 16) + 1) % N).to_bytes(32, "big").hex()
    refused(post(phone.client, "keygen", {"session": session, "message": message}), 400, "bad_proof")
    other = _keygen_begin(phone, claim)
    stolen = share.keygen_message(session)  # a valid proof, but bound to the first session
    refused(post(phone.client, "keygen", {"session": other, "message": stolen}), 400, "bad_proof")
    assert not CosignShare.objects.exists()
    assert set(CosignRound.objects.values_list("outcome", flat=True)) == {"bad_proof"}
    assert CosignRound.objects.filter(used_at__isnull=True).count() == 0


def test_a_second_phone_cannot_use_the_claimants_keygen_session(
    split_claim: tuple[ClaimSession, HeadlessPhone],
) -> None:
    """Issue 20: another account's phone sending a message for the claimant's session finds no such session, and
    cannot open one for the claimant's ticket either."""
    claim, phone = split_claim
    session = _keygen_begin(phone, claim)
    before = rows()
    stranger = phone_login(OTHER)
    answer = post(stranger, "keygen", {"session": session, "message": PhoneShare().keygen_message(session)})
    refused(answer, 404, "round_unknown")
    status, body = post(stranger, "keygen", {"ticket": claim.ticket, "usage": "sign"})
    assert status in (403, 404) and "session" not in body, body
    assert rows() == before


def test_keygen_is_refused_for_a_claim_whose_keys_are_not_split(registered: Card, ca_ready: None) -> None:
    """Issue 20: with ``MOBILECA_KEY_CUSTODY=service`` the claim's keys are the service's: ``not_split``."""
    claim = claim_at_pin(registered, LEGAL_REP)
    phone = phone_login(LEGAL_REP)
    before = rows()
    with override_settings(MOBILECA_KEY_CUSTODY="service"):
        refused(post(phone, "keygen", {"ticket": claim.ticket, "usage": "sign"}), 409, "not_split")
    assert rows() == before and not CosignRound.objects.exists()


def test_activation_without_both_halves_is_refused_cosign_keys_missing(
    split_claim: tuple[ClaimSession, HeadlessPhone],
) -> None:
    """Issue 20, R3.7: the PIN form after only the signing half: ``cosign_keys_missing``, no credential, the claim
    still at its PIN step."""
    claim, phone = split_claim
    phone.keygen(claim.ticket, "sign")
    before = rows()
    with pytest.raises(ApplicationError) as caught:
        claim_activate(ticket=claim.ticket, account=LEGAL_REP, pin=PIN, pin_again=PIN)
    assert caught.value.code == "cosign_keys_missing"
    answer = phone.client.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": PIN, "pin_again": PIN})
    assert answer.status_code == 409 and "手机尚未生成协同密钥" in answer.content.decode()
    assert not Credential.objects.exists()
    assert rows() == before


# --- approval and signing refusals ---------------------------------------------------------------------------------


def test_wrong_pins_at_approve_are_counted_lock_and_open_no_rounds(split: tuple[Credential, HeadlessPhone]) -> None:
    """R4.5, issue 20: the PIN at the phone's approval is counted like any PIN; after 5 wrong ones the key is
    locked (even the right PIN is then refused); no round is opened and the request stays pending."""
    credential, phone = split
    ref, handle = sign_request(credential, [phone.shares["sign"].digest(b"x")])
    codes = []
    for attempt in range(1, 6):
        status, body = post(phone.client, "approve", {"authorization": ref, "pin": WRONG_PIN})
        assert 400 <= status < 500 and set(body) == {"code", "message"}, body
        codes.append(body["code"])
        credential.refresh_from_db()
        assert credential.pin_failures == attempt
    assert codes[-1] == "credential_locked" and len(set(codes[:4])) == 1 and codes[0] != "credential_locked"
    assert credential.locked_until is not None
    status, body = post(phone.client, "approve", {"authorization": ref, "pin": PIN})
    assert (status, body["code"]) == (423, "credential_locked") and "rounds" not in body
    assert not CosignRound.objects.filter(kind="sign").exists()
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == KeyUseStatus.PENDING
    assert shield.authorization_sad(handle=handle) == ""


def test_the_platform_gets_no_sad_before_the_phone_finished(split: tuple[Credential, HeadlessPhone]) -> None:
    """R4.5, issue 20: after the PIN and even after every round was answered, the request is pending (no SAD, so no
    ``signHash``) until the phone sends the finished signatures; likewise a decryption until its message."""
    credential, phone = split
    share = phone.shares["sign"]
    ref, handle = sign_request(credential, [share.digest(b"a")])
    (item,) = approved(phone, ref)["rounds"]
    assert shield.authorization_sad(handle=handle) == ""
    answered(phone, item)
    assert shield.authorization_sad(handle=handle) == ""
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == KeyUseStatus.PENDING
    assert not OperationRecord.objects.filter(action="sign").exists()

    envelope = envelope_to(credential)
    ref, handle = decrypt_request(credential, envelope)
    assert approved(phone, ref)["operation"] == "decrypt"
    assert shield.authorization_sad(handle=handle) == ""
    with pytest.raises(ApplicationError):
        shield.content_key(service_no=credential.service_no, sad="not-a-sad", envelope=envelope)
    assert not OperationRecord.objects.filter(action="decrypt").exists()


def test_a_replayed_sign_session_is_refused_and_changes_nothing(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20: a signing round answers once: the same message again is ``round_used``."""
    credential, phone = split
    ref, _ = sign_request(credential, [phone.shares["sign"].digest(b"a")])
    (item,) = approved(phone, ref)["rounds"]
    outgoing, _ = answered(phone, item)
    before = rows()
    refused(post(phone.client, "sign", {"session": item["session"], "message": outgoing}), 403, "round_used")
    assert rows() == before


def test_an_expired_sign_session_is_refused_and_changes_nothing(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20: a signing round older than 2 minutes is ``round_expired``: no answer."""
    credential, phone = split
    share = phone.shares["sign"]
    ref, _ = sign_request(credential, [share.digest(b"a")])
    (item,) = approved(phone, ref)["rounds"]
    outgoing, _ = share.sign_message(bytes.fromhex(item["e"]), item["session"])
    before = rows()
    clock.set(now() + cosign.ROUND_LIFETIME + timedelta(seconds=1))
    try:
        answer = post(phone.client, "sign", {"session": item["session"], "message": outgoing})
    finally:
        clock.reset()
    refused(answer, 403, "round_expired")
    assert rows() == before


@pytest.mark.parametrize("forgery", ["z", "other_digest", "other_session"])
def test_a_forged_sign_proof_is_refused_recorded_and_nothing_is_signed(
    split: tuple[Credential, HeadlessPhone], forgery: str
) -> None:
    """Issue 20: Q1's proof must hold and be bound to this round's session and digest: a changed z, a proof for
    another digest or for another round is ``bad_proof``; the round is spent, 「签名失败」 recorded, nothing
    authorised."""
    credential, phone = split
    share = phone.shares["sign"]
    ref, handle = sign_request(credential, [share.digest(b"a"), share.digest(b"b")])
    first, second = approved(phone, ref)["rounds"]
    if forgery == "z":
        outgoing, _ = share.sign_message(bytes.fromhex(first["e"]), first["session"])
        outgoing["proof"]["z"] = ((int(outgoing["proof"]["z"], 16) + 1) % N).to_bytes(32, "big").hex()
    elif forgery == "other_digest":
        outgoing, _ = share.sign_message(bytes.fromhex(second["e"]), first["session"])
    else:
        outgoing, _ = share.sign_message(bytes.fromhex(first["e"]), second["session"])
    refused(post(phone.client, "sign", {"session": first["session"], "message": outgoing}), 400, "bad_proof")
    failed = OperationRecord.objects.get(credential=credential, action="sign_failed")
    assert failed.audit_event.data["failure"] == "bad_proof"
    assert CosignRound.objects.get(session=first["session"]).used_at is not None  # spent: no second try
    assert not OperationRecord.objects.filter(action="sign").exists()
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == KeyUseStatus.PENDING
    assert shield.authorization_sad(handle=handle) == ""


def test_a_second_phone_cannot_use_the_claimants_sign_session(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20: another account's phone finds no such round, cannot approve the request nor finish it."""
    credential, phone = split
    share = phone.shares["sign"]
    ref, _ = sign_request(credential, [share.digest(b"a")])
    (item,) = approved(phone, ref)["rounds"]
    outgoing, _ = share.sign_message(bytes.fromhex(item["e"]), item["session"])
    before = rows()
    stranger = HeadlessPhone(client=phone_login(OTHER))
    refused(post(stranger.client, "sign", {"session": item["session"], "message": outgoing}), 404, "round_unknown")
    status, body = post(stranger.client, "approve", {"authorization": ref, "pin": PIN})
    assert status in (403, 404) and "rounds" not in body, body
    assert rows() == before


def test_finished_signatures_that_do_not_verify_are_refused_and_the_request_stays_pending(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20: the phone's finished signature must verify under P for its round's digest: another digest's
    signature (swapped) is ``bad_signature``, recorded; the request stays pending and the phone may start again."""
    credential, phone = split
    share = phone.shares["sign"]
    ref, handle = sign_request(credential, [share.digest(b"a"), share.digest(b"b")])
    first, second = approved(phone, ref)["rounds"]
    _, one = answered(phone, first)
    _, two = answered(phone, second)
    refused(finish(phone, ref, [(first["session"], two), (second["session"], one)]), 400, "bad_signature")
    assert OperationRecord.objects.get(action="sign_failed").audit_event.data["failure"] == "bad_signature"
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == KeyUseStatus.PENDING
    assert shield.authorization_sad(handle=handle) == ""
    assert not CosignRound.objects.filter(signature__isnull=False).exists()
    # the refused rounds are spent; the phone starts again (PIN, new rounds) and then the request is approved
    refused(finish(phone, ref, [(first["session"], one), (second["session"], two)]), 400, "signatures_incomplete")
    assert phone.approve(ref)["status"] == "authorized"
    assert shield.authorization_sad(handle=handle) != ""


def test_finished_signatures_not_covering_every_digest_are_refused_and_change_nothing(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20: one signature for a two-digest request, the same one twice, or one from an unknown session is
    ``signatures_incomplete``; nothing changes."""
    credential, phone = split
    share = phone.shares["sign"]
    ref, handle = sign_request(credential, [share.digest(b"a"), share.digest(b"b")])
    first, second = approved(phone, ref)["rounds"]
    _, one = answered(phone, first)
    before = rows()
    refused(finish(phone, ref, [(first["session"], one)]), 400, "signatures_incomplete")
    refused(finish(phone, ref, [(first["session"], one), ("no-such-session", one)]), 400, "signatures_incomplete")
    refused(finish(phone, ref, [(first["session"], one), (second["session"], one)]), 400, "signatures_incomplete")
    assert rows() == before
    assert shield.authorization_sad(handle=handle) == ""


# --- decryption refusals -------------------------------------------------------------------------------------------


def test_a_forged_decrypt_proof_is_refused_and_nothing_is_decrypted(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20: T1 with a DLEQ proof that does not hold is ``bad_proof``: 「解密失败」 recorded, the round
    spent (a replay is ``round_used`` and changes nothing), no SAD."""
    credential, phone = split
    envelope = envelope_to(credential)
    ref, handle = decrypt_request(credential, envelope)
    approval = approved(phone, ref)
    message = phone.shares["encrypt"].decrypt_message(base64.b64decode(approval["ciphertext"]), approval["session"])
    message["proof"]["z"] = ((int(message["proof"]["z"], 16) + 1) % N).to_bytes(32, "big").hex()
    refused(post(phone.client, "decrypt", {"session": approval["session"], "message": message}), 400, "bad_proof")
    assert OperationRecord.objects.get(action="decrypt_failed").audit_event.data["failure"] == "bad_proof"
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == KeyUseStatus.PENDING
    assert shield.authorization_sad(handle=handle) == ""
    before = rows()
    genuine = phone.shares["encrypt"].decrypt_message(base64.b64decode(approval["ciphertext"]), approval["session"])
    refused(post(phone.client, "decrypt", {"session": approval["session"], "message": genuine}), 403, "round_used")
    assert rows() == before


def test_an_expired_or_another_phones_decrypt_session_is_refused_and_changes_nothing(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20: the decryption round is the claimant's and lives 2 minutes: a second phone's message for it is
    ``round_unknown``, a late one ``round_expired``; neither changes anything nor gives a SAD."""
    credential, phone = split
    envelope = envelope_to(credential)
    ref, handle = decrypt_request(credential, envelope)
    approval = approved(phone, ref)
    message = phone.shares["encrypt"].decrypt_message(base64.b64decode(approval["ciphertext"]), approval["session"])
    before = rows()
    stranger = phone_login(OTHER)
    refused(post(stranger, "decrypt", {"session": approval["session"], "message": message}), 404, "round_unknown")
    clock.set(now() + cosign.ROUND_LIFETIME + timedelta(seconds=1))
    try:
        late = post(phone.client, "decrypt", {"session": approval["session"], "message": message})
    finally:
        clock.reset()
    refused(late, 403, "round_expired")
    assert rows() == before and shield.authorization_sad(handle=handle) == ""


# --- the whole-key paths are closed to a split credential -----------------------------------------------------------


def test_the_whole_key_form_approval_is_refused_cosign_required(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20: the phone page's plain PIN form for a split credential's request is refused (``cosign_required``):
    the PIN is not even counted and nothing is authorised."""
    credential, phone = split
    ref, handle = sign_request(credential, [phone.shares["sign"].digest(b"a")])
    before = rows()
    with pytest.raises(ApplicationError) as caught:
        keyuse.approve_on_phone(public_ref=ref, account=LEGAL_REP, pin=PIN, address=None)
    assert caught.value.code == "cosign_required"
    page = phone.client.post(f"/h5/authorizations/{ref}/", {"pin": PIN})
    assert page.status_code == 409 and "e签盾" in page.content.decode()
    assert rows() == before and shield.authorization_sad(handle=handle) == ""


def _token_for(account: str) -> str:
    start = callers.device_start(client_name="test")
    callers.device_decide(user_code=start.user_code, account=account, allow=True)
    token, _ = callers.device_token(device_code=start.device_code)
    return str(token)


def test_a_pin_in_credentials_authorize_is_refused_phone_required(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20, R4.5: the claimant's own tool sending the PIN for a split credential is refused (``phone_required``)
    before anything is stored; without the PIN it gets a request for the phone (202)."""
    credential, phone = split
    tool = Client(headers={"Authorization": f"Bearer {_token_for(LEGAL_REP)}"})
    request = {
        "credentialID": credential.service_no,
        "numSignatures": 1,
        "hashes": [base64.b64encode(phone.shares["sign"].digest(b"a")).decode()],
        "hashAlgorithmOID": ca_facade.SM2_SM3.hash_oid,
        "authData": [{"id": "PIN", "value": PIN}],
    }
    before = rows()
    answer = tool.post("/csc/v2/credentials/authorize", json.dumps(request), content_type="application/json")
    assert answer.status_code == 403 and answer.json()["error"] == "phone_required", answer.json()
    assert rows() == before
    del request["authData"]
    waiting = tool.post("/csc/v2/credentials/authorize", json.dumps(request), content_type="application/json")
    assert waiting.status_code == 202 and "SAD" not in waiting.json(), waiting.json()


# --- the pepper ----------------------------------------------------------------------------------------------------


def test_the_pepper_comes_only_with_the_pin_and_wrong_pins_lock(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20: the pepper of the phone's storage is released after a counted PIN check only (the same value the
    key generation gave); 5 wrong PINs lock; neither pepper nor PIN lands in a record."""
    credential, phone = split
    body = {"service_no": credential.service_no, "usage": "sign"}
    released = expect_ok(post(phone.client, "pepper", {**body, "pin": PIN}))["pepper"]
    assert released == phone.peppers["sign"]
    for attempt in range(1, 6):
        status, answer = post(phone.client, "pepper", {**body, "pin": WRONG_PIN})
        assert 400 <= status < 500 and "pepper" not in answer
        credential.refresh_from_db()
        assert credential.pin_failures == attempt
    assert credential.locked_until is not None
    status, answer = post(phone.client, "pepper", {**body, "pin": PIN})
    assert (status, answer["code"]) == (423, "credential_locked") and "pepper" not in answer
    dump = json.dumps(list(OperationRecord.objects.values_list("audit_event__data", flat=True)), default=str)
    assert released not in dump and PIN not in dump


# --- the service alone cannot sign or decrypt ----------------------------------------------------------------------


def _representations(value: int) -> list[bytes]:
    raw = value.to_bytes(32, "big")
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        str(value).encode(),
    ]


def _database_dump() -> bytes:
    dump = bytearray()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from the schema
            for row in cursor.fetchall():
                for value in row:
                    dump += bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                    dump += b"\n"
    return bytes(dump)


def test_no_table_log_or_key_file_holds_d_after_a_whole_walk(
    split: tuple[Credential, HeadlessPhone], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20, R3.7: after key generation, a signature and a decryption, the whole private scalar d of either key
    (d = (d1·d2)⁻¹ − 1, computed here from the test phone's d1 and the service's d2 unwrapped in the test), nor
    d1·d2 or 1 + d, nor the phone's d1, is in any table, in the logs written during the walk or in the key
    back-end's files — as raw bytes, hex, base64 or decimal."""
    caplog.set_level(logging.DEBUG)
    credential, phone = split
    share = phone.shares["sign"]
    ref, handle = sign_request(credential, [share.digest(b"walk")])
    phone.approve(ref)
    shield.sign_hashes(
        service_no=credential.service_no,
        sad=shield.authorization_sad(handle=handle),
        hashes=[base64.b64encode(share.digest(b"walk")).decode()],
    )
    envelope = envelope_to(credential)
    ref, handle = decrypt_request(credential, envelope)
    phone.approve(ref)
    shield.content_key(service_no=credential.service_no, sad=shield.authorization_sad(handle=handle), envelope=envelope)

    needles: list[bytes] = []
    for usage in ("sign", "encrypt"):
        stored = cosign_keys.live_share(credential, usage)
        assert stored is not None
        d2 = int.from_bytes(cosign_keys.server_share(stored).d2, "big")
        d1 = phone.shares[usage].d1
        d = (pow(d1 * d2 % N, -1, N) - 1) % N
        assert sm2.point_mul(d) == phone.shares[usage].public_point  # the d searched for is the real one
        for secret in (d, d1 * d2 % N, (d + 1) % N, d1):
            needles += _representations(secret)
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records).encode()
    key_files = b"".join(
        path.read_bytes() for path in Path(settings.MOBILECA_CA["key_dir"]).rglob("*") if path.is_file()
    )
    dump = _database_dump()
    assert b"cosign" in dump and len(key_files) > 0  # the search looks at real data
    for needle in needles:
        assert needle not in dump
        assert needle not in logged
        assert needle not in key_files
