"""A split-key (协同签名) card's renewal keeps its old encryption key for the bids sealed before it (issue 21, R4.1,
R5.2, issue 20): the old encryption share is archived, not destroyed — the service keeps its d2, the phone its half
filed under the old public key — so the claimant's phone still opens what was sealed for the old certificate, with
the PIN, and says so. The old signing share is destroyed. A lost phone's re-key and a key compromise destroy the
archived share too. Checked against gmssl-pyx's SM2 where a ciphertext is made by a peer."""

from __future__ import annotations

import base64
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
from mobileca.ca.models import IssuedCertificate
from mobileca.cards.models import Card
from mobileca.cmslib import gm as cms_gm
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError
from mobileca.shield import cosign_keys
from mobileca.shield import facade as shield
from mobileca.shield.models import (
    ArchivedEncryptionKey,
    CosignShare,
    Credential,
    KeyUseAuthorization,
    OperationRecord,
)
from mobileca.shield.revocation import credential_revoke_key_compromise
from tests.support.cosign import HeadlessPhone, decrypt_request, post, split_credential
from tests.support.cosign_rekey import passed_face_check, rekey_keygen, rekey_phone, reset_path
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    _pay,
    _renew,
    _renewal_ticket,
    _scan_and_login,
    ca_ready,
    card,
    registered,
)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PIN = "975310"
old_keys: dict[str, str] = {}  # the public keys of the halves made at the claim, by usage (set by ``renewed``)


def before_key(_credential: Credential, usage: str) -> str:
    return old_keys[usage]


def _seal(credential: Credential, plaintext: bytes) -> tuple[bytes, bytes]:
    """A GB/T 35275 envelope (SM2 key transport, SM4-GCM) for the credential's current encryption certificate: its
    header and the detached ciphertext."""
    pem = ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    ciphertext = io.BytesIO()
    sealed = cms_gm.seal(io.BytesIO(plaintext), ciphertext, der, mode="gcm")
    return sealed.header, ciphertext.getvalue()


def _opened(credential: Credential, handle: str, header: bytes, ciphertext: bytes, tmp_path: Path) -> bytes:
    sad = shield.authorization_sad(handle=handle)
    opened = shield.content_key_opened(service_no=credential.service_no, sad=sad, envelope=header)
    target = tmp_path / "opened"
    cms_gm.open_with_key(header, opened.key, io.BytesIO(ciphertext), target)
    return target.read_bytes()


def _renewed(bidder_client: Client, card: Card, finance: User, phone: HeadlessPhone) -> Credential:
    """「确认续费」 on the phone page that holds the halves: new halves made with the renewal's ticket, the PIN."""
    bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/")  # the platform learns the activation
    card.refresh_from_db()
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    _scan_and_login(phone.client, ticket, LEGAL_REP)
    for usage in ("sign", "encrypt"):
        phone.keygen(ticket, usage)
    done = phone.client.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN, "bids_confirmed": "yes"})
    assert done.status_code in (200, 302), done.content.decode()
    return Credential.objects.get(service_no=card.service_no)


@pytest.fixture
def renewed(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> tuple[Credential, Credential, HeadlessPhone, tuple[bytes, bytes], bytes]:
    """A split credential with a bid file sealed for it, then renewed on the same phone page: the credential before
    and after, the phone, the envelope (header, ciphertext) and the plaintext."""
    before, phone = split_credential(registered)
    old_keys.clear()
    old_keys.update(cosign_keys.live_public_keys(before))  # where the phone page filed the halves
    plaintext = b"%PDF-1.7 sealed before the renewal " * 500
    sealed = _seal(before, plaintext)
    after = _renewed(bidder_client, registered, finance, phone)
    return before, after, phone, sealed, plaintext


def test_the_renewal_archives_the_encryption_share_and_destroys_the_signing_share(renewed: Any) -> None:
    """Issue 21: the old encryption share is kept (archived, its d2 and pepper still wrapped, no longer live), the
    old signing share is destroyed; both old certificates are revoked as superseded; the live shares are new."""
    before, after, phone, _sealed, _ = renewed
    assert after.encrypt_serial != before.encrypt_serial and after.key_custody == "split"
    old_encrypt = CosignShare.objects.get(public_key=before_key(before, "encrypt"))
    assert old_encrypt.archived_at is not None and old_encrypt.destroyed_at is None
    assert bytes(old_encrypt.d2_wrapped) and bytes(old_encrypt.pepper_wrapped)
    archived = ArchivedEncryptionKey.objects.get(credential=after)
    assert (archived.serial, archived.cosign_share_id, bytes(archived.key_wrapped)) == (
        before.encrypt_serial,
        old_encrypt.pk,
        b"",
    )
    old_sign = CosignShare.objects.get(public_key=before_key(before, "sign"))
    assert old_sign.destroyed_at is not None and bytes(old_sign.d2_wrapped) == b""
    assert not ArchivedEncryptionKey.objects.filter(serial=before.sign_serial).exists()  # signing keys never kept
    for serial in (before.sign_serial, before.encrypt_serial):
        assert IssuedCertificate.objects.get(serial_hex=serial).revocation_reason == "superseded"
    live = cosign_keys.live_public_keys(after)
    assert live == {
        "sign": phone.shares["sign"].public_point.hex(),
        "encrypt": phone.shares["encrypt"].public_point.hex(),
    }
    assert cosign_keys.archived_public_keys(after) == [old_encrypt.public_key]


def test_the_old_half_opens_the_bid_sealed_before_the_renewal(renewed: Any, tmp_path: Path) -> None:
    """Issue 21, R5.2: a decryption request for the old envelope is for the archived key; the phone is asked for the
    half filed under the old public key, approves with the PIN, and the content key opens the file; the records
    and the audit log say the archived key was used. The new envelope still opens with the new halves."""
    before, after, phone, (header, ciphertext), plaintext = renewed
    ref, handle = decrypt_request(after, header)
    assert KeyUseAuthorization.objects.get(public_ref=ref).key_serial == before.encrypt_serial
    status, approval = post(phone.client, "approve", {"authorization": ref, "pin": PIN})
    assert status == 200 and approval["public_key"] == before_key(before, "encrypt")
    assert approval["public_key"] != phone.shares["encrypt"].public_point.hex()
    message = phone.filed[approval["public_key"]].decrypt_message(
        base64.b64decode(approval["ciphertext"]), approval["session"]
    )
    answer = post(phone.client, "decrypt", {"session": approval["session"], "message": message})
    assert answer[0] == 200, answer
    assert _opened(after, handle, header, ciphertext, tmp_path) == plaintext
    used = AuditEvent.objects.get(action="credential.archived_key_used")
    assert used.data["serial"] == before.encrypt_serial and used.data["failure"] == ""
    record = OperationRecord.objects.filter(action="decrypt").get()
    assert f"续费前的加密证书 {before.encrypt_serial}" in record.purpose
    readiness = shield.key_readiness(
        service_no=after.service_no, recipient_serial=before.encrypt_serial, opening_at=now()
    )
    assert (readiness.problem, readiness.key) == ("", "archived")

    fresh = b"sealed after the renewal"
    new_header, new_ciphertext = _seal(after, fresh)
    ref, handle = decrypt_request(after, new_header)
    assert KeyUseAuthorization.objects.get(public_ref=ref).key_serial == after.encrypt_serial
    assert phone.approve(ref)["status"] == "authorized"
    assert _opened(after, handle, new_header, new_ciphertext, tmp_path) == fresh


def test_a_phone_without_the_old_half_opens_nothing_sealed_before(renewed: Any) -> None:
    """Issue 21 / issue 20: the archived share alone is useless — a phone page holding only the new halves (its
    message made with the new half) is refused, recorded as a failed decryption, and the request stays pending."""
    _before, after, phone, (header, _ciphertext), _ = renewed
    ref, _handle = decrypt_request(after, header)
    status, approval = post(phone.client, "approve", {"authorization": ref, "pin": PIN})
    assert status == 200
    wrong = phone.shares["encrypt"].decrypt_message(base64.b64decode(approval["ciphertext"]), approval["session"])
    status, answer = post(phone.client, "decrypt", {"session": approval["session"], "message": wrong})
    assert status >= 400 and answer["code"] in ("bad_proof", "bad_message"), answer
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == "pending"
    failed = OperationRecord.objects.get(action="decrypt_failed")
    assert failed.audit_event.data["failure"] == answer["code"]


def test_the_pin_change_can_seal_the_kept_half_again(renewed: Any) -> None:
    """Issue 21 / R4.3: 我的证书 names the kept half's public key for the PIN change, and its pepper is released for
    the PIN like the live halves' (a wrong PIN is counted and releases nothing; a key that is not this credential's
    is refused)."""
    before, after, phone, _sealed, _ = renewed
    old_key = before_key(before, "encrypt")
    page = phone.client.get("/h5/credentials/").content.decode()
    assert f'data-archived-keys="{old_key}"' in page
    body = {"service_no": after.service_no, "usage": "encrypt", "public_key": old_key}
    status, answer = post(phone.client, "pepper", {**body, "pin": "000000"})
    assert status >= 400 and "pepper" not in answer
    assert Credential.objects.get(pk=after.pk).pin_failures == 1
    status, answer = post(phone.client, "pepper", {**body, "pin": PIN})
    assert status == 200 and answer["pepper"] == cosign_keys.pepper(CosignShare.objects.get(public_key=old_key)).hex()
    assert answer["pepper"] != phone.peppers["encrypt"]  # the old share's own pepper, not the new one's
    status, answer = post(phone.client, "pepper", {**body, "public_key": "04" + "ab" * 64, "pin": PIN})
    assert status >= 400 and answer["code"] == "no_share"


def test_key_compromise_destroys_the_archived_share(renewed: Any) -> None:
    """Issue 21: a revocation for key compromise erases the archived share's d2 and pepper with the live ones, and
    the bid sealed before the renewal can no longer be asked for."""
    before, after, _phone, (header, _ciphertext), _ = renewed
    destroyed = credential_revoke_key_compromise(after)
    assert destroyed == [before.encrypt_serial]
    for share in CosignShare.objects.filter(credential=after):
        assert share.destroyed_at is not None and bytes(share.d2_wrapped) == b"" == bytes(share.pepper_wrapped)
    assert ArchivedEncryptionKey.objects.get(credential=after).destroyed_at is not None
    with pytest.raises(ApplicationError):
        decrypt_request(after, header)
    assert not KeyUseAuthorization.objects.filter(operation="decrypt").exists()


def test_a_lost_phones_rekey_destroys_the_archived_share(renewed: Any) -> None:
    """Issue 21 / R4.3: 「更换密钥」 after a face check (a lost phone, a forgotten PIN) cannot keep the old half —
    it was in the lost phone or sealed under the forgotten PIN — so the archived share is destroyed with the live
    ones and recorded; the old envelope is then addressed to no key of the card."""
    before, after, phone, (header, _ciphertext), _ = renewed
    check_id = passed_face_check(phone.client, after)
    new_phone = rekey_phone(phone.client)
    for usage in ("sign", "encrypt"):
        rekey_keygen(new_phone, after, usage)
    done = phone.client.post(
        reset_path(after), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN, "bids_confirmed": "yes"}
    )
    assert done.status_code == 200 and "已更换密钥" in done.content.decode()
    old = CosignShare.objects.get(public_key=before_key(before, "encrypt"))
    assert old.destroyed_at is not None and bytes(old.d2_wrapped) == b""
    assert ArchivedEncryptionKey.objects.get(credential=after).destroyed_at is not None
    assert AuditEvent.objects.get(action="credential.rekeyed").data["archived_destroyed"] == [before.encrypt_serial]
    with pytest.raises(ApplicationError) as refused:
        decrypt_request(after, header)
    assert refused.value.code == "not_a_recipient"


def test_the_renewal_pages_say_the_sealed_bids_stay_readable_on_the_phone_that_holds_the_old_half(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> None:
    """Issue 21, R4.2: a split card's renewal lists the sealed, unopened bids and says they stay readable with the
    certificate from before, on the phone browser that keeps the old half (the platform's claim page and the phone's
    「确认续费」 alike); nothing says they will be lost."""
    from datetime import datetime

    from mobileca.shield import renewal

    credential, phone = split_credential(registered)
    bid = renewal.PendingBid(
        "JDZ-2026-078", "瓷都大道照明", datetime(2026, 12, 21, 9, 30, tzinfo=now().tzinfo), "技术标.pdf"
    )

    def provider(found: Credential) -> list[renewal.PendingBid]:
        return [bid] if found.service_no == credential.service_no else []

    renewal.register_pending_bids_provider(provider)
    try:
        bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
        registered.refresh_from_db()
        _pay(_renew(bidder_client, registered), finance)
        ticket = _renewal_ticket(bidder_client, registered)
        card_page = bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/").content.decode()
        phone_page = _scan_and_login(phone.client, ticket, LEGAL_REP).content.decode()  # type: ignore[attr-defined]
    finally:
        renewal._providers.remove(provider)
    assert (
        "JDZ-2026-078" in card_page and f"续费后使用原加密证书（序列号 {credential.encrypt_serial}）解密" in card_page
    )
    assert "须在保存原密钥的手机浏览器上授权" in card_page
    assert "JDZ-2026-078" in phone_page and "续费后这些文件仍可解密" in phone_page
    assert credential.encrypt_serial in phone_page and "请勿清除该浏览器数据" in phone_page
    for page in (card_page, phone_page):
        assert "将无法解密" not in page.replace("否则这些文件将无法解密", "")


def test_key_compromise_during_a_renewal_destroys_its_new_halves_and_no_more_are_made(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> None:
    """Issue 21 / issue 20: the new shares a renewal made (not yet confirmed, so not the credential's yet) are
    destroyed by a revocation for key compromise too, and the renewal can make no new ones."""
    from mobileca.shield.models import ClaimSession

    credential, phone = split_credential(registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    _pay(_renew(bidder_client, registered), finance)
    ticket = _renewal_ticket(bidder_client, registered)
    _scan_and_login(phone.client, ticket, LEGAL_REP)
    for usage in ("sign", "encrypt"):
        phone.keygen(ticket, usage)
    renewal = ClaimSession.objects.get(ticket=ticket)
    assert CosignShare.objects.filter(claim=renewal, destroyed_at__isnull=True).count() == 2
    credential_revoke_key_compromise(credential)
    for share in CosignShare.objects.filter(claim=renewal):
        assert share.destroyed_at is not None and bytes(share.d2_wrapped) == b"" == bytes(share.pepper_wrapped)
    status, answer = post(phone.client, "keygen", {"ticket": ticket, "usage": "sign"})
    assert status == 403 and answer["code"] == "credential_revoked", answer
    assert CosignShare.objects.filter(claim=renewal, destroyed_at__isnull=True).count() == 0
