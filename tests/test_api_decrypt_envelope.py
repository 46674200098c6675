"""A decryption through the remote-signing API with the envelope in ``credentials/authorize`` (issue 21, R4.5,
R5.2): the claimant's own tool (PIN) or the phone approves a decryption of an envelope sealed before a renewal, the
authorisation is for the archived key the envelope names and ``credentials/decrypt`` opens it with that key (the
operation record and the audit log say so), on the ECDSA and the SM2 profile; a split-key credential (issue 20) is
decrypted through the API with the envelope and refused without it; and an envelope that does not fit the request
(another hash, a signing request, bad base64, another credential's) is refused with nothing stored."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.ca import facade as ca_facade
from mobileca.cards.models import Card
from mobileca.cmslib import enveloped, gm
from mobileca.shield.models import ArchivedEncryptionKey, Credential, KeyUseAuthorization, OperationRecord
from tests.support.cosign import HeadlessPhone, split_credential
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    Api,
    _device_login,
    activated_credential,
    ca_ready,
    card,
    paid_card,
    phone_login,
    registered,
)
from tests.test_renewal_archive import _renewed

PLAIN = "投标报价 1,234,567.89 元\n".encode() * 2000


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _sha256(raw: bytes) -> str:
    return _b64(hashlib.sha256(raw).digest())


def _encryption_certificate(credential: Credential) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ca_facade.certificate_pem(serial_hex=credential.encrypt_serial).encode())


def _seal(credential: Credential, plain: bytes = PLAIN) -> tuple[bytes, bytes]:
    """An envelope for the credential's encryption certificate as it is now, sealed as the tool seals a bid (RFC 5652
    AuthEnvelopedData, or GB/T 35275 SM4-GCM for an SM2 credential): its header and the detached ciphertext."""
    recipient = _encryption_certificate(credential)
    ciphertext = io.BytesIO()
    if credential.key_profile == ca_facade.SM2_SM3.name:
        header = gm.seal(
            io.BytesIO(plain), ciphertext, recipient.public_bytes(serialization.Encoding.DER), mode="gcm"
        ).header
    else:
        header = enveloped.seal(io.BytesIO(plain), ciphertext, recipient).header
    return header, ciphertext.getvalue()


def _opened(credential: Credential, header: bytes, content_key: bytes, ciphertext: bytes, tmp_path: Path) -> bytes:
    """The plaintext the content key opens (the GCM tag checked), as the claimant's tool opens it."""
    target = tmp_path / "opened.pdf"
    if credential.key_profile == ca_facade.SM2_SM3.name:
        gm.open_with_key(header, content_key, io.BytesIO(ciphertext), target)
    else:
        enveloped.open_to_file(header, content_key, io.BytesIO(ciphertext), target)
    return target.read_bytes()


def _authorize(api: Api, credential: Credential, header: bytes, **overrides: Any) -> tuple[int, dict[str, Any]]:
    """``credentials/authorize`` for decrypting ``header``, the envelope sent along (unless overridden)."""
    body: dict[str, Any] = {
        "credentialID": credential.service_no,
        "numSignatures": 1,
        "hashes": [_sha256(header)],
        "operation": "decrypt",
        "envelope": _b64(header),
        "description": "开标",
        "fileName": "投标文件.pdf",
    }
    body.update(overrides)
    return api.post("credentials/authorize", {key: value for key, value in body.items() if value is not None})


def _decrypt(api: Api, credential: Credential, sad: str, header: bytes) -> tuple[int, dict[str, Any]]:
    return api.post(
        "credentials/decrypt", {"credentialID": credential.service_no, "SAD": sad, "envelope": _b64(header)}
    )


def _stored() -> tuple[int, int, int]:
    """What a request may leave behind: authorisations, operation records, audit events."""
    return KeyUseAuthorization.objects.count(), OperationRecord.objects.count(), AuditEvent.objects.count()


# --- an envelope sealed before a renewal: the archived key, through the API ------------------------------------


def _sealed_then_renewed(
    bidder_client: Client, card: Card, finance: User, key_profile: str
) -> tuple[Api, Credential, str, bytes, bytes]:
    """A credential of ``key_profile``, an envelope sealed for it, then its renewal (re-key: the old encryption key
    archived); returns the claimant's tool, the renewed credential, the old encryption serial, the envelope header
    and its ciphertext."""
    old = activated_credential(card, key_profile=key_profile)
    bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/")  # the platform learns the activation
    card.refresh_from_db()
    header, ciphertext = _seal(old)
    _renewed(bidder_client, card, finance)
    renewed = Credential.objects.get(pk=old.pk)
    assert renewed.encrypt_serial != old.encrypt_serial
    assert ArchivedEncryptionKey.objects.get(credential=renewed).serial == old.encrypt_serial
    return Api(_device_login(phone_login(LEGAL_REP))), renewed, old.encrypt_serial, header, ciphertext


def _says_archived(credential: Credential, serial: str) -> None:
    """The decryption's record and the audit log name the archived key (issue 21, R4.4)."""
    authorization = KeyUseAuthorization.objects.get(operation="decrypt")
    assert (authorization.key_serial, authorization.status) == (serial, "used")
    record = OperationRecord.objects.get(action="decrypt", credential=credential)
    assert (record.audit_event.data["key"], record.audit_event.data["key_serial"]) == ("archived", serial)
    assert f"续费前的加密证书 {serial}" in record.purpose
    used = AuditEvent.objects.get(action="credential.archived_key_used")
    assert (used.data["serial"], used.data["failure"]) == (serial, "")
    assert not OperationRecord.objects.filter(action="decrypt_failed").exists()


@pytest.mark.parametrize("key_profile", ["ec-p256", "sm2"])
def test_the_tool_opens_an_envelope_sealed_before_the_renewal_with_the_pin(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User, tmp_path: Path, key_profile: str
) -> None:
    """Issue 21, R4.5, R5.2: the claimant's own tool sends the envelope with the PIN; the SAD is for the archived
    key it is sealed for, and credentials/decrypt gives the content key that opens the ciphertext (RFC 5652 for
    ECDSA, GB/T 35275 for SM2); the record and the audit log say the archived key was used."""
    assert ca_facade.key_profile(key_profile).name == key_profile
    api, credential, old_serial, header, ciphertext = _sealed_then_renewed(
        bidder_client, registered, finance, key_profile
    )
    status, authorized = _authorize(api, credential, header, authData=[{"id": "PIN", "value": PIN}])
    assert status == 200 and authorized["SAD"], authorized
    assert KeyUseAuthorization.objects.get().key_serial == old_serial

    status, opened = _decrypt(api, credential, authorized["SAD"], header)
    assert status == 200, opened
    assert _opened(credential, header, base64.b64decode(opened["contentKey"]), ciphertext, tmp_path) == PLAIN
    _says_archived(credential, old_serial)


def test_the_phone_approves_the_decryption_of_an_envelope_sealed_before_the_renewal(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User, tmp_path: Path
) -> None:
    """Issue 21, R4.5: without the PIN the request waits for the phone (202, a handle); the phone page says a key
    kept from before the renewal will open it; once approved with the PIN, authorizeCheck gives the SAD and
    credentials/decrypt opens the envelope with the archived key."""
    api, credential, old_serial, header, ciphertext = _sealed_then_renewed(
        bidder_client, registered, finance, "ec-p256"
    )
    status, pending = _authorize(api, credential, header)
    assert status == 202 and pending["handle"], pending
    assert api.post("credentials/authorizeCheck", {"handle": pending["handle"]})[0] == 202

    phone = phone_login(LEGAL_REP, "/h5/authorizations/")
    page_path = pending["authorizationURL"].removeprefix("http://testserver")
    assert f"续费前的加密证书（序列号 {old_serial}）" in phone.get(page_path).content.decode()
    assert phone.post(page_path, {"pin": PIN, "decision": "approve"}).status_code == 302

    status, authorized = api.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert status == 200 and authorized["SAD"], authorized
    status, opened = _decrypt(api, credential, authorized["SAD"], header)
    assert status == 200, opened
    assert _opened(credential, header, base64.b64decode(opened["contentKey"]), ciphertext, tmp_path) == PLAIN
    _says_archived(credential, old_serial)


def test_a_hash_only_request_for_an_envelope_sealed_before_the_renewal_is_told_to_send_it(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User, tmp_path: Path
) -> None:
    """Issue 21: without the envelope the request is taken for the current key; credentials/decrypt of an envelope
    sealed for the archived key then answers 400 envelope_needed and leaves the SAD unspent; sent with the envelope,
    the same file opens with the archived key."""
    api, credential, old_serial, header, ciphertext = _sealed_then_renewed(
        bidder_client, registered, finance, "ec-p256"
    )
    status, authorized = _authorize(api, credential, header, envelope=None, authData=[{"id": "PIN", "value": PIN}])
    assert status == 200, authorized
    status, refused = _decrypt(api, credential, authorized["SAD"], header)
    assert (status, refused["error"]) == (400, "envelope_needed"), refused
    assert KeyUseAuthorization.objects.get().status == "authorized"
    assert not AuditEvent.objects.filter(action="credential.archived_key_used").exists()
    KeyUseAuthorization.objects.all().delete()
    status, authorized = _authorize(api, credential, header, authData=[{"id": "PIN", "value": PIN}])
    assert status == 200, authorized
    status, opened = _decrypt(api, credential, authorized["SAD"], header)
    assert status == 200, opened
    assert _opened(credential, header, base64.b64decode(opened["contentKey"]), ciphertext, tmp_path) == PLAIN
    _says_archived(credential, old_serial)


# --- a split-key credential (issue 20): the phone needs the envelope ------------------------------------------


@pytest.fixture
def split(registered: Card, ca_ready: None) -> tuple[Credential, HeadlessPhone, Api]:
    """A two-party SM2 credential, its claimant's (headless) phone and the claimant's own tool."""
    credential, phone = split_credential(registered)
    return credential, phone, Api(_device_login(phone.client))


def test_a_split_key_credential_decrypts_through_the_api_with_the_envelope(
    split: tuple[Credential, HeadlessPhone, Api], tmp_path: Path
) -> None:
    """Issue 20/21, R4.5, R5.2: the tool sends the envelope (no PIN: only the phone approves a split key), 202; the
    phone approves and sends its decryption message for the envelope's C1; authorizeCheck gives the SAD and
    credentials/decrypt the content key that opens the ciphertext, with the current key."""
    credential, phone, api = split
    header, ciphertext = _seal(credential)
    status, pending = _authorize(api, credential, header)
    assert status == 202 and pending["handle"], pending
    assert phone.approve(pending["authorizationURL"].rstrip("/").rsplit("/", 1)[-1])["status"] == "authorized"

    status, authorized = api.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert status == 200 and authorized["SAD"], authorized
    status, opened = _decrypt(api, credential, authorized["SAD"], header)
    assert status == 200, opened
    assert _opened(credential, header, base64.b64decode(opened["contentKey"]), ciphertext, tmp_path) == PLAIN
    authorization = KeyUseAuthorization.objects.get()
    assert (authorization.key_serial, authorization.status) == (credential.encrypt_serial, "used")
    record = OperationRecord.objects.get(action="decrypt", credential=credential)
    assert "key" not in record.audit_event.data  # the current key, not an archived one
    assert not AuditEvent.objects.filter(action="credential.archived_key_used").exists()


def test_a_split_key_decryption_without_the_envelope_is_refused_and_nothing_is_stored(
    split: tuple[Credential, HeadlessPhone, Api],
) -> None:
    """Issue 20: a split key's phone needs the envelope's C1, so a hash-only decryption request is refused (400
    envelope_needed) before anything is stored: no request, no record, no audit event."""
    credential, _, api = split
    header, _ = _seal(credential)
    before = _stored()
    status, refused = _authorize(api, credential, header, envelope=None)
    assert (status, refused["error"]) == (400, "envelope_needed"), refused
    assert "SAD" not in refused and "handle" not in refused
    assert _stored() == before


# --- refusals that change nothing -------------------------------------------------------------------------------


@pytest.fixture
def claimant(registered: Card, ca_ready: None) -> tuple[Api, Credential]:
    """An activated ECDSA credential and its claimant's own tool."""
    credential = activated_credential(registered)
    return Api(_device_login(phone_login(LEGAL_REP))), credential


def _refused_and_nothing_stored(
    api: Api, credential: Credential, header: bytes, error: str, **overrides: Any
) -> dict[str, Any]:
    before = _stored()
    status, refused = _authorize(api, credential, header, authData=[{"id": "PIN", "value": PIN}], **overrides)
    assert (status, refused["error"]) == (400, error), refused
    assert "SAD" not in refused
    assert _stored() == before
    assert Credential.objects.get(pk=credential.pk).pin_failures == 0
    return refused


def test_an_envelope_whose_sha256_is_not_the_hash_is_refused(claimant: tuple[Api, Credential]) -> None:
    """Issue 21, R4.5 (SCAL2): the envelope sent must be the one the hash names; another is refused, nothing
    stored, and the same request with the matching hash is then accepted."""
    api, credential = claimant
    header, _ = _seal(credential)
    other, _ = _seal(credential, b"another bid")
    _refused_and_nothing_stored(api, credential, header, "invalid_request", hashes=[_sha256(other)])
    status, authorized = _authorize(api, credential, header, authData=[{"id": "PIN", "value": PIN}])
    assert status == 200 and authorized["SAD"]


def test_an_envelope_with_a_signing_request_is_refused(claimant: tuple[Api, Credential]) -> None:
    """Issue 21, R4.5: the envelope is for a decryption only; with operation sign the request is refused (400
    invalid_request, naming the parameter), nothing stored."""
    api, credential = claimant
    header, _ = _seal(credential)
    refused = _refused_and_nothing_stored(api, credential, header, "invalid_request", operation="sign")
    assert refused["error_description"].startswith("Invalid parameter envelope")


def test_an_envelope_that_is_not_base64_is_refused(claimant: tuple[Api, Credential]) -> None:
    """Issue 21: the envelope must be base64 (400 invalid_request), nothing stored; an empty one is refused too."""
    api, credential = claimant
    header, _ = _seal(credential)
    refused = _refused_and_nothing_stored(api, credential, header, "invalid_request", envelope="not base64!")
    assert refused["error_description"].startswith("Invalid parameter envelope")
    _refused_and_nothing_stored(api, credential, header, "invalid_request", envelope="")


def test_an_envelope_for_another_credential_is_refused(
    claimant: tuple[Api, Credential], bidder: User, finance: User
) -> None:
    """Issue 21, R4.5: an envelope sealed for another credential's encryption certificate (the claimant's second
    card) is not addressed to this one: refused at the request (not_a_recipient), nothing stored."""
    api, credential = claimant
    second = activated_credential(paid_card(bidder, finance, "tok-2"))
    assert second.encrypt_serial != credential.encrypt_serial
    header, _ = _seal(second)
    _refused_and_nothing_stored(api, credential, header, "not_a_recipient")
    status, authorized = _authorize(api, second, header, authData=[{"id": "PIN", "value": PIN}])
    assert status == 200 and authorized["SAD"]  # the same envelope is the second credential's


def test_a_split_key_request_with_another_credentials_envelope_is_refused_before_anything_is_stored(
    split: tuple[Credential, HeadlessPhone, Api], bidder: User, finance: User
) -> None:
    """Issue 20/21, R4.5: an envelope not addressed to the split credential (nor to a key it keeps) is refused at
    credentials/authorize (not_a_recipient), as for whole keys: no pending request waits for the phone."""
    credential, _, api = split
    other = activated_credential(paid_card(bidder, finance, "tok-3"), key_profile="sm2")
    header, _ = _seal(other)
    before = _stored()
    status, refused = _authorize(api, credential, header)
    assert (status, refused["error"]) == (400, "not_a_recipient"), refused
    assert _stored() == before


def test_an_envelope_over_64_kib_is_refused_before_anything_is_stored(claimant: tuple[Api, Credential]) -> None:
    """Issue 21: authorize keeps the envelope with the request, so it takes a header (content detached) of at most
    64 KiB; a larger one is refused (400), nothing stored."""
    api, credential = claimant
    header, _ = _seal(credential)
    before = _stored()
    status, refused = _authorize(
        api, credential, header, envelope=_b64(b"\x30" * 70_000), authData=[{"id": "PIN", "value": PIN}]
    )
    assert status == 400 and "SAD" not in refused, refused
    assert _stored() == before
