"""Renewal keeps the old encryption key for the old bids (issue 21; R4.1 renewal, R4.2 the warning, R4.5 the
authorisation, R5.2 the opening): the re-key archives the old encryption key (not the signing key), the opening of a
bid sealed before the renewal decrypts with it and says so, key compromise destroys it, and a claimant removed from
the enterprise alone may still open what was sealed for them, with the PIN."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.bidding.models import Bid, BidStatus
from mobileca.bidding.storage import plaintext_path
from mobileca.ca import facade as ca_facade
from mobileca.ca.models import IssuedCertificate
from mobileca.cards.models import Card
from mobileca.cmslib import enveloped
from mobileca.core.clock import clock
from mobileca.core.errors import ApplicationError
from mobileca.shield import facade as shield
from mobileca.shield import keyuse
from mobileca.shield.credential_keys import archived_owner
from mobileca.shield.models import ArchivedEncryptionKey, Credential, KeyUseAuthorization, Membership, OperationRecord
from mobileca.shield.revocation import credential_revoke_key_compromise
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.shield import (  # noqa: F401 (fixtures)
    _activated,
    _pay,
    _renew,
    _renewal_ticket,
    _scan_and_login,
    ca_ready,
    card,
    claim_past_face,
    paid_card,
    phone_login,
    registered,
)

PIN = "135790"
CLAIMANT, EMPLOYEE = "2088102000000001", "2088102000000004"  # 王建国 (the admin), 刘晓梅


@pytest.fixture
def claimant(
    bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path
) -> tuple[Client, Card]:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    phone, _ = _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    return phone, registered


def _phone(user_id: str = CLAIMANT) -> Client:
    """The claimant signs in on the phone again (a phone login lasts one sitting)."""
    phone = Client()
    start = phone.get("/h5/login/?next=/h5/authorizations/")
    back = phone.post(start["Location"].removeprefix("http://testserver"), {"user_id": user_id})
    phone.get(back["Location"].removeprefix("http://testserver"))
    return phone


def _approve(phone: Client, url: str) -> Any:
    return phone.post(url.removeprefix("http://testserver"), {"pin": PIN, "decision": "approve"})


def _ask_opening(bidder_client: Client, bid: Bid) -> Bid:
    clock.set(bid.tender.opening_at + timedelta(minutes=1))
    bidder_client.post(f"/bidding/bids/{bid.pk}/open/")
    bid.refresh_from_db()
    return bid


def _open(bidder_client: Client, bid: Bid, user_id: str = CLAIMANT) -> Bid:
    """At the opening time the bidder asks; the claimant, signed in on the phone again, enters the PIN (the phone
    page says when a key kept from before a renewal will open it)."""
    bid = _ask_opening(bidder_client, bid)
    assert bid.status == "opening", (bid.failure_code, bid.failure_message)
    phone = _phone(user_id)
    shown = phone.get(bid.authorization_url.removeprefix("http://testserver")).content.decode()
    archived = Credential.objects.get(service_no=bid.service_no).encrypt_serial != bid.recipient_serial
    assert (f"续费前的加密证书（序列号 {bid.recipient_serial}）" in shown) == archived
    _approve(phone, bid.authorization_url)
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    return bid


def _renewed(bidder_client: Client, card: Card, finance: User) -> str:
    """The card renewed by its claimant, having read the list of sealed bids; returns the renewal page's text."""
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    renewal_phone = Client()
    page = _scan_and_login(renewal_phone, ticket, CLAIMANT).content.decode()  # type: ignore[attr-defined]
    renewal_phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN, "bids_confirmed": "yes"})
    return page


def test_renewal_archives_the_encryption_key_and_the_opening_decrypts_with_it(
    bidder_client: Client, claimant: tuple[Client, Card], finance: User
) -> None:
    """Issue 21, R4.1, R5.2: a bid sealed before the renewal is opened after it with the archived key, by the
    claimant with the PIN; the result and the records say which key opened it."""
    _, card = claimant
    tender = tender_open_for_bids()
    content = b"%PDF-1.7 sealed before renewal " * 3000
    bid = sealed_bid(tender=tender, service_no=card.service_no, content=content)
    old = Credential.objects.get()
    old_sign_serial, old_sign_wrapped = old.sign_serial, bytes(old.sign_key_wrapped)
    assert bid.recipient_serial.lower() == old.encrypt_serial.lower()

    page = _renewed(bidder_client, card, finance)
    assert tender.project_no in page and "续费后这些文件仍可解密" in page and old.encrypt_serial in page

    renewed = Credential.objects.get()
    assert renewed.encrypt_serial != old.encrypt_serial
    archived = ArchivedEncryptionKey.objects.get()
    assert (archived.serial, archived.destroyed_at, archived.credential_id) == (old.encrypt_serial, None, renewed.pk)
    # the wrap names the archived key: the old owner id no longer opens it
    assert ca_facade.unwrap_private_key(owner_id=archived_owner(renewed, archived.serial), blob=archived.key_wrapped)
    with pytest.raises(Exception):  # noqa: B017 (the key back-end's authentication failure, whatever its type)
        ca_facade.unwrap_private_key(
            owner_id=f"credential:{renewed.service_no}:encrypt", blob=bytes(archived.key_wrapped)
        )
    # the old certificates are revoked as superseded, the archived one included
    assert ca_facade.certificate_info(serial_hex=old.encrypt_serial).status == "revoked"
    assert IssuedCertificate.objects.get(serial_hex=old_sign_serial).revocation_reason == "superseded"

    opened = _open(bidder_client, bid)
    # decrypted, and signed before the renewal superseded the signing certificate: the signature stays valid
    assert opened.status == BidStatus.OPENED and opened.plaintext_name, opened.failure_message
    assert plaintext_path(opened).read_bytes() == content
    assert opened.signature_valid is True and opened.failure_message == ""
    assert opened.opened_with_serial == old.encrypt_serial
    note = f"使用续费前的加密证书（序列号 {old.encrypt_serial}）解密"
    assert note in bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    authorization = KeyUseAuthorization.objects.get(operation="decrypt")
    assert authorization.key_serial == old.encrypt_serial and authorization.status == "used"
    record = OperationRecord.objects.filter(action="decrypt").get()
    assert f"续费前的加密证书 {old.encrypt_serial}" in record.purpose
    assert record.audit_event.data["key"] == "archived"
    assert record.audit_event.data["key_serial"] == old.encrypt_serial
    used = AuditEvent.objects.get(action="credential.archived_key_used")
    assert used.data["serial"] == old.encrypt_serial and used.data["failure"] == ""
    assert AuditEvent.objects.get(action="bid.opened").data["key"] == "archived"
    assert bytes(Credential.objects.get().sign_key_wrapped) != old_sign_wrapped


def test_the_signing_key_is_not_kept(bidder_client: Client, claimant: tuple[Client, Card], finance: User) -> None:
    """Issue 21: signing keys are never archived — no archived row for the old signing certificate, and its wrapped
    key is nowhere in the database any more."""
    _, card = claimant
    sealed_bid(tender=tender_open_for_bids(), service_no=card.service_no, content=b"bid")
    old = Credential.objects.get()
    old_sign_serial, old_sign_wrapped = old.sign_serial, bytes(old.sign_key_wrapped)
    _renewed(bidder_client, card, finance)
    assert not ArchivedEncryptionKey.objects.filter(serial=old_sign_serial).exists()
    assert list(ArchivedEncryptionKey.objects.values_list("serial", flat=True)) == [old.encrypt_serial]
    assert not Credential.objects.filter(sign_key_wrapped=old_sign_wrapped).exists()
    assert not ArchivedEncryptionKey.objects.filter(key_wrapped=old_sign_wrapped).exists()


def test_key_readiness_says_archived_for_an_envelope_sealed_before_the_renewal(
    bidder_client: Client, claimant: tuple[Client, Card], finance: User
) -> None:
    """Issue 21: key_readiness — an envelope sealed for an archived key is ready (key "archived"), not
    "key_replaced"; an unknown serial still is "key_replaced"; the card's expiry still counts."""
    _, card = claimant
    tender = tender_open_for_bids()
    bid = sealed_bid(tender=tender, service_no=card.service_no, content=b"bid")
    before = shield.key_readiness(
        service_no=card.service_no, recipient_serial=bid.recipient_serial, opening_at=tender.opening_at
    )
    assert (before.problem, before.key) == ("", "current")
    _renewed(bidder_client, card, finance)
    after = shield.key_readiness(
        service_no=card.service_no, recipient_serial=bid.recipient_serial, opening_at=tender.opening_at
    )
    assert (after.problem, after.key) == ("", "archived")
    unknown = shield.key_readiness(service_no=card.service_no, recipient_serial="0abc", opening_at=tender.opening_at)
    assert unknown.problem == "key_replaced"
    late = Credential.objects.get().expires_at + timedelta(days=1)
    expiring = shield.key_readiness(service_no=card.service_no, recipient_serial=bid.recipient_serial, opening_at=late)
    assert (expiring.problem, expiring.key) == ("expires_before_opening", "archived")


def test_revocation_for_key_compromise_destroys_the_archived_keys(
    bidder_client: Client, claimant: tuple[Client, Card], finance: User
) -> None:
    """Issue 21: credential_revoke_key_compromise revokes the certificates (keyCompromise) and destroys the
    archived encryption keys; the bid sealed for the old key can no longer be opened and no plaintext is kept."""
    _, card = claimant
    tender = tender_open_for_bids()
    bid = sealed_bid(tender=tender, service_no=card.service_no, content=b"sealed before renewal")
    _renewed(bidder_client, card, finance)
    credential = Credential.objects.get()
    assert ArchivedEncryptionKey.objects.get().destroyed_at is None

    destroyed = credential_revoke_key_compromise(credential)

    archived = ArchivedEncryptionKey.objects.get()
    assert destroyed == [archived.serial] and archived.destroyed_at is not None and bytes(archived.key_wrapped) == b""
    for serial in (credential.sign_serial, credential.encrypt_serial):
        assert IssuedCertificate.objects.get(serial_hex=serial).revocation_reason == "key_compromise"
    assert Credential.objects.get().revoked_reason == "key_compromise"
    assert AuditEvent.objects.filter(action="credential.revoked_key_compromise").count() == 1
    readiness = shield.key_readiness(
        service_no=card.service_no, recipient_serial=bid.recipient_serial, opening_at=tender.opening_at
    )
    assert readiness.problem == "credential_revoked"
    asked = _ask_opening(bidder_client, bid)
    assert asked.status != BidStatus.OPENED and not asked.plaintext_name
    assert not KeyUseAuthorization.objects.filter(operation="decrypt", status="used").exists()
    assert not OperationRecord.objects.filter(action="decrypt").exists()


@pytest.fixture
def employee_bid(bidder: User, finance: User, claimant: tuple[Client, Card], bidder_client: Client) -> Bid:
    """刘晓梅, a member approved by the admin, claimed a second card of the enterprise and sealed a bid with it."""
    second = paid_card(bidder, finance, "tok-2")
    claim = claim_past_face(second, EMPLOYEE)
    phone = phone_login(EMPLOYEE, f"/h5/claim/{claim.ticket}/")
    phone.post(f"/h5/claim/{claim.ticket}/approval/")
    admin = phone_login(CLAIMANT, "/h5/members/")
    membership = Membership.objects.get(status="requested")
    admin.post(f"/h5/members/{membership.pk}/approve/")
    phone.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": PIN, "pin_again": PIN})
    credential = Credential.objects.get(account=EMPLOYEE)
    bidder_client.get(f"/ca/cards/{second.cert_id}/claim/status/")
    return sealed_bid(
        tender=tender_open_for_bids(project_no="JDZ-2026-042"), service_no=credential.service_no, content=b"hers"
    )


def test_a_removed_claimant_alone_may_still_open_the_sealed_bid_with_the_pin(
    bidder_client: Client, employee_bid: Bid
) -> None:
    """Issue 21 (谁申领谁使用): a claimant removed from the enterprise leaves the sealed bid behind; their
    certificates are revoked (affiliation changed), but at the opening they alone, with the PIN, may decrypt it —
    the admin's phone cannot approve it, and the removed claimant can no longer sign."""
    membership = Membership.objects.get(account=EMPLOYEE)
    phone_login(CLAIMANT, "/h5/members/").post(f"/h5/members/{membership.pk}/remove/")
    credential = Credential.objects.get(account=EMPLOYEE)
    assert credential.revoked_reason == "affiliation_changed"
    assert ca_facade.certificate_info(serial_hex=credential.encrypt_serial).status == "revoked"

    bid = _ask_opening(bidder_client, employee_bid)
    assert bid.status == "opening"
    _approve(_phone(CLAIMANT), bid.authorization_url)  # the admin is not the claimant: refused, nothing changes
    bid.refresh_from_db()
    assert bid.status == "opening" and KeyUseAuthorization.objects.get(operation="decrypt").status == "pending"

    _approve(_phone(EMPLOYEE), bid.authorization_url)
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert bid.status == BidStatus.OPENED and plaintext_path(bid).read_bytes() == b"hers"

    with pytest.raises(ApplicationError) as refused:  # decryption only: no signing after the removal
        keyuse.refuse_unless_usable(credential, operation="sign")
    assert refused.value.code == "credential_revoked"


def test_after_key_compromise_a_removed_claimant_cannot_open_either(bidder_client: Client, employee_bid: Bid) -> None:
    """Issue 21: the removed claimant's exception ends with a key compromise: the opening is refused, and the
    certificates revoked before as affiliationChanged now say keyCompromise (RFC 5280 §5.3.1) in the CA's records,
    the CRL and the OCSP answers, so what they signed is no longer trusted either."""
    membership = Membership.objects.get(account=EMPLOYEE)
    phone_login(CLAIMANT, "/h5/members/").post(f"/h5/members/{membership.pk}/remove/")
    credential = Credential.objects.get(account=EMPLOYEE)
    serials = (credential.sign_serial, credential.encrypt_serial)
    reasons = set(IssuedCertificate.objects.filter(serial_hex__in=serials).values_list("revocation_reason", flat=True))
    assert reasons == {"affiliation_changed"}
    credential_revoke_key_compromise(credential)
    reasons = set(IssuedCertificate.objects.filter(serial_hex__in=serials).values_list("revocation_reason", flat=True))
    assert reasons == {"key_compromise"}
    changed = AuditEvent.objects.filter(action="ca.certificate_revocation_reason_changed")
    assert sorted(event.data["from"] for event in changed) == ["affiliation_changed"] * 2
    assert ca_facade.certificate_info(serial_hex=credential.sign_serial).status == "revoked"
    bid = _ask_opening(bidder_client, employee_bid)
    assert bid.status != BidStatus.OPENED and not bid.plaintext_name
    assert not KeyUseAuthorization.objects.filter(operation="decrypt", status="used").exists()


def test_a_hash_only_request_for_an_envelope_sealed_before_the_renewal_is_told_to_send_the_envelope(
    bidder_client: Client, claimant: tuple[Client, Card], finance: User
) -> None:
    """Issue 21: a decryption authorised with the hash only (a CSC client without the envelope) is taken for the
    current key; an envelope sealed for the archived key is then refused with ``envelope_needed`` — send the
    envelope with the request — and the SAD is left as it was (not spent), nothing decrypted or recorded."""
    _, card = claimant
    old = Credential.objects.get()
    certificate = x509.load_pem_x509_certificate(ca_facade.certificate_pem(serial_hex=old.encrypt_serial).encode())
    envelope = enveloped.seal(io.BytesIO(b"sealed before"), io.BytesIO(), certificate).header
    _renewed(bidder_client, card, finance)
    pending = shield.authorization_request(
        service_no=card.service_no,
        operation="decrypt",
        hashes=[base64.b64encode(hashlib.sha256(envelope).digest()).decode()],
        purpose="hash only",
        file_name="bid.pdf",
    )
    _approve(_phone(), pending.url)
    sad = shield.authorization_sad(handle=pending.handle)
    authorization = KeyUseAuthorization.objects.get(operation="decrypt")
    assert authorization.key_serial == Credential.objects.get().encrypt_serial != old.encrypt_serial
    with pytest.raises(ApplicationError) as refused:
        shield.content_key_opened(service_no=card.service_no, sad=sad, envelope=envelope)
    assert refused.value.code == "envelope_needed" and "附带数字信封" in str(refused.value)
    authorization.refresh_from_db()
    assert authorization.status == "authorized" and authorization.used_at is None
    assert not OperationRecord.objects.filter(action__in=("decrypt", "decrypt_failed")).exists()
    assert not AuditEvent.objects.filter(action="credential.archived_key_used").exists()


def test_a_hash_only_request_approved_before_the_renewal_is_for_the_replaced_key(
    bidder_client: Client, claimant: tuple[Client, Card], finance: User
) -> None:
    """Issue 21 / issue 17: a hash-only decryption approved before the renewal was for the key then current; an
    envelope sealed for the new key is refused ``sad_key_replaced`` (not told to send the envelope), unspent."""
    _, card = claimant
    pending = shield.authorization_request(
        service_no=card.service_no,
        operation="decrypt",
        hashes=[base64.b64encode(hashlib.sha256(b"placeholder").digest()).decode()],
        purpose="hash only",
        file_name="bid.pdf",
    )
    _approve(_phone(), pending.url)
    sad = shield.authorization_sad(handle=pending.handle)
    _renewed(bidder_client, card, finance)
    renewed = Credential.objects.get()
    certificate = x509.load_pem_x509_certificate(ca_facade.certificate_pem(serial_hex=renewed.encrypt_serial).encode())
    envelope = enveloped.seal(io.BytesIO(b"sealed after"), io.BytesIO(), certificate).header
    KeyUseAuthorization.objects.filter(operation="decrypt").update(
        hashes=[base64.b64encode(hashlib.sha256(envelope).digest()).decode()]
    )  # as if that envelope's hash had been approved
    with pytest.raises(ApplicationError) as refused:
        shield.content_key_opened(service_no=card.service_no, sad=sad, envelope=envelope)
    assert refused.value.code == "sad_key_replaced"
    assert KeyUseAuthorization.objects.get(operation="decrypt").status == "authorized"
