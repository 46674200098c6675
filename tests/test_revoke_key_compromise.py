"""Revocation for key compromise (issue 21, R4.x, R6.1): by customer service in the back office on a confirmation
page, and by the claimant on the phone after a fresh face check of their own. Both revoke the two certificates
with the reason keyCompromise (the OCSP answer says so), destroy the archived encryption keys and a split
credential's shares, refuse decryption afterwards, tell the claimant and leave 「证书吊销」 in the 操作记录. Every
refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.bidding.models import Bid, BidStatus
from mobileca.ca.models import IssuedCertificate
from mobileca.ca.ocsp import answer
from mobileca.ca.services import certificate_of
from mobileca.cards.models import Card
from mobileca.core.clock import clock
from mobileca.core.errors import ApplicationError
from mobileca.notices.models import Notice
from mobileca.shield import facade as shield
from mobileca.shield import keyuse
from mobileca.shield.credential_keys import archived_key_live
from mobileca.shield.models import ArchivedEncryptionKey, CosignShare, Credential, FaceCheck, OperationRecord
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.cosign import split_credential
from tests.support.platform import actor_of, login, operator
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
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

OTHER = "2088102000000004"  # 刘晓梅, not the claimant
CLAIMANT_PHONE = "13907980001"  # 王建国's number in the identity sandbox


@pytest.fixture
def active(bidder_client: Client, registered: Card, ca_ready: None) -> tuple[Card, Credential]:
    """王建国's activated card, as the platform's card list knows it (服务编号 set)."""
    credential = activated_credential(registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    assert registered.service_no == credential.service_no and registered.status == "active"
    return registered, credential


@pytest.fixture
def support() -> Client:
    return login(Client(), operator("kefu", group="客服"))


def _revoke_url(card: Card) -> str:
    return f"/backoffice/support/{card.enterprise_id}/cards/{card.pk}/revoke/"


def _sms_to(phone: str) -> list[str]:
    from mobileca.sandboxes.sms.models import Message

    return list(Message.objects.filter(phone=phone).order_by("pk").values_list("text", flat=True))


def _ocsp(serial: str) -> ocsp.OCSPResponse:
    """The CA's OCSP answer for one certificate, as a relying party would ask for it (RFC 6960)."""
    record = IssuedCertificate.objects.select_related("authority").get(serial_hex=serial)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate_of(record), certificate_of(record.authority), hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    served = answer(
        method="POST",
        encoded=None,
        body=request,
        content_type="application/ocsp-request",
        if_none_match="",
        client="192.0.2.1",
    )
    parsed = ocsp.load_der_ocsp_response(served.body)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return parsed


def _certificates_state(credential: Credential) -> list[tuple[str, str]]:
    return [
        (record.status, record.revocation_reason or "")
        for record in IssuedCertificate.objects.filter(
            serial_hex__in=[credential.sign_serial, credential.encrypt_serial]
        )
    ]


def _snapshot(credential: Credential) -> dict[str, object]:
    """Everything a revocation would change."""
    return {
        "certificates": _certificates_state(credential),
        "revoked_reason": Credential.objects.get(pk=credential.pk).revoked_reason,
        "archived": list(ArchivedEncryptionKey.objects.values_list("destroyed_at", flat=True)),
        "shares": list(CosignShare.objects.filter(credential=credential).values_list("destroyed_at", flat=True)),
        "events": AuditEvent.objects.filter(action="credential.revoked_key_compromise").count(),
        "records": OperationRecord.objects.filter(action="revoke").count(),
        "notices": Notice.objects.filter(kind="credential_revoked").count(),
        "sms": len(_sms_to(CLAIMANT_PHONE)),
        "checks_used": FaceCheck.objects.filter(consumed_at__isnull=False).count(),
    }


def _renewed(bidder_client: Client, card: Card, finance: User) -> None:
    """The card renewed by its claimant (the current encryption key is archived, issue 21)."""
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    phone = Client()
    _scan_and_login(phone, ticket, LEGAL_REP)
    phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN, "bids_confirmed": "yes"})
    assert ArchivedEncryptionKey.objects.filter(destroyed_at__isnull=True).count() == 1


def _ask_opening(bidder_client: Client, bid: Bid) -> Bid:
    clock.set(bid.tender.opening_at + timedelta(minutes=1))
    bidder_client.post(f"/bidding/bids/{bid.pk}/open/")
    bid.refresh_from_db()
    return bid


# --- customer service (R6.1) ------------------------------------------------------------------------------------


def test_support_revokes_after_the_confirmation_page(
    bidder_client: Client,
    active: tuple[Card, Credential],
    support: Client,
    finance: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Issue 21, R6.1, R4.4: the enterprise page offers 「吊销证书（密钥泄露）」; its page shows the card, the
    serials and how many sealed bids become unreadable; the confirmed POST with a reason revokes both certificates
    (keyCompromise in the OCSP answer), destroys the archived key, refuses decryption, tells the claimant (SMS and
    message centre), records 「证书吊销」, and audits the operator and the reason."""
    card, credential = active
    tender = tender_open_for_bids()
    old_bid = sealed_bid(tender=tender, service_no=card.service_no, content=b"sealed before renewal")
    _renewed(bidder_client, card, finance)
    credential.refresh_from_db()
    old_serial = old_bid.recipient_serial
    assert old_serial != credential.encrypt_serial and archived_key_live(credential, old_serial) is not None
    sealed_bid(tender=tender_open_for_bids(project_no="JDZ-2026-050"), service_no=card.service_no, content=b"new")

    listing = support.get(f"/backoffice/support/{card.enterprise_id}/").content.decode()
    assert "吊销证书（密钥泄露）" in listing and _revoke_url(card) in listing

    page = support.get(_revoke_url(card))
    text = page.content.decode()
    assert page.status_code == 200
    for fact in (card.service_no, credential.sign_serial, credential.encrypt_serial, "王*国", "2 份"):
        assert fact in text, fact
    assert 'name="confirm" value="yes"' in text and "王建国" not in text

    before = _snapshot(credential)
    assert support.post(_revoke_url(card), {"reason": "工单 8812"}).status_code == 200  # no confirm: a look only
    missing = support.post(_revoke_url(card), {"confirm": "yes", "reason": "  "})
    assert missing.status_code == 400 and "请填写吊销原因" in missing.content.decode()
    too_long = support.post(_revoke_url(card), {"confirm": "yes", "reason": "长" * 201})
    assert too_long.status_code == 400
    assert _snapshot(credential) == before

    with django_capture_on_commit_callbacks(execute=True):
        done = support.post(_revoke_url(card), {"confirm": "yes", "reason": "工单 8812：手机丢失"})
    assert done.status_code == 302 and done["Location"] == f"/backoffice/support/{card.enterprise_id}/"

    for serial in (credential.sign_serial, credential.encrypt_serial):
        record = IssuedCertificate.objects.get(serial_hex=serial)
        assert record.revocation_reason == "key_compromise"
        status = _ocsp(serial)
        assert status.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert status.revocation_reason == x509.ReasonFlags.key_compromise
    assert Credential.objects.get().revoked_reason == "key_compromise"
    assert ArchivedEncryptionKey.objects.get().destroyed_at is not None
    assert archived_key_live(credential, old_serial) is None
    readiness = shield.key_readiness(
        service_no=card.service_no, recipient_serial=old_serial, opening_at=tender.opening_at
    )
    assert readiness.problem == "credential_revoked"
    with pytest.raises(ApplicationError) as refused:
        keyuse.refuse_unless_usable(Credential.objects.get(), operation="decrypt")
    assert refused.value.code == "credential_revoked"
    opening = _ask_opening(bidder_client, old_bid)
    assert opening.status != BidStatus.OPENED and not opening.plaintext_name

    event = AuditEvent.objects.get(action="credential.revoked_key_compromise")
    assert (
        event.actor
        == str(actor_of(User.objects.get(username="kefu")))
        == f"operator:{User.objects.get(username='kefu').pk}"
    )
    assert event.data["reason_text"] == "工单 8812：手机丢失" and event.data["by"] == "support"
    record = OperationRecord.objects.get(action="revoke")
    assert record.credential_id == credential.pk and record.account == LEGAL_REP
    assert "证书吊销" in phone_login(LEGAL_REP, "/h5/records/").get("/h5/records/").content.decode()
    assert any("因密钥泄露吊销" in message for message in _sms_to(CLAIMANT_PHONE))
    notice = Notice.objects.get(kind="credential_revoked")
    assert notice.enterprise_id == card.enterprise_id and card.service_no in notice.title

    after = support.get(f"/backoffice/support/{card.enterprise_id}/").content.decode()
    assert "已吊销（密钥泄露）" in after and _revoke_url(card) not in after


def test_support_refuses_an_already_revoked_card_and_changes_nothing(
    active: tuple[Card, Credential], support: Client
) -> None:
    """Issue 21, R6.1: a card already revoked for key compromise is refused with its code and a clear message."""
    card, credential = active
    assert support.post(_revoke_url(card), {"confirm": "yes", "reason": "工单 1"}).status_code == 302
    before = _snapshot(credential)
    shown = support.get(_revoke_url(card))
    assert shown.status_code == 409 and "已因密钥泄露吊销" in shown.content.decode()
    assert 'data-code="already_revoked"' in shown.content.decode() and 'name="confirm"' not in shown.content.decode()
    again = support.post(_revoke_url(card), {"confirm": "yes", "reason": "工单 2"})
    assert again.status_code == 409 and 'data-code="already_revoked"' in again.content.decode()
    assert _snapshot(credential) == before
    with pytest.raises(ApplicationError) as refused:
        shield.revoke_for_key_compromise(
            service_no=card.service_no, actor=actor_of(User.objects.get(username="kefu")), reason="x"
        )
    assert refused.value.code == "already_revoked"
    assert _snapshot(credential) == before


def test_only_support_may_revoke(active: tuple[Card, Credential], bidder_client: Client, finance: User) -> None:
    """R6.1: the page is customer service's: finance staff and platform users get 403, nothing changes."""
    card, credential = active
    before = _snapshot(credential)
    for client in (login(Client(), finance), bidder_client):
        assert client.get(_revoke_url(card)).status_code == 403
        assert client.post(_revoke_url(card), {"confirm": "yes", "reason": "工单"}).status_code == 403
    assert _snapshot(credential) == before


def test_support_cannot_reach_a_card_through_another_enterprise(
    active: tuple[Card, Credential], support: Client
) -> None:
    """R6.1: the card is looked up within the enterprise of the address; another enterprise's id is a 404."""
    from tests.factories import EnterpriseFactory

    card, credential = active
    other = EnterpriseFactory()
    before = _snapshot(credential)
    url = f"/backoffice/support/{other.pk}/cards/{card.pk}/revoke/"
    assert support.post(url, {"confirm": "yes", "reason": "工单"}).status_code == 404
    assert _snapshot(credential) == before


# --- the claimant on the phone ----------------------------------------------------------------------------------


def _face(phone: Client, service_no: str, action: str = "pass") -> str:
    """「开始人脸识别」 on the revocation page, played at the liveness sandbox; returns the check's id. The provider
    sends the phone to /h5/face/return/; the revocation page records the result when opened with the check."""
    to_provider = phone.post(f"/h5/credentials/{service_no}/revoke/")
    assert to_provider.status_code == 302 and "/sandbox/liveness/check/" in to_provider["Location"]
    back = phone.post(to_provider["Location"].removeprefix("http://testserver"), {"action": action})
    assert back["Location"].startswith("http://testserver/h5/face/return/?check_id=")
    return parse_qs(urlparse(back["Location"]).query)["check_id"][0]


def test_the_claimant_revokes_after_a_fresh_face_check(
    active: tuple[Card, Credential], bidder_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue 21, R4.3 (a fresh face check), R4.4 (the record): 我的证书 links to 「吊销证书」; the page lists the
    sealed unopened bids; after a passed face check and
    the list confirmed, the POST revokes (keyCompromise in the OCSP answer), spends the check, tells the claimant
    and records 「证书吊销」 with the phone as actor."""
    card, credential = active
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=card.service_no, content=b"sealed")
    phone = phone_login(LEGAL_REP)
    url = f"/h5/credentials/{card.service_no}/revoke/"
    assert url in phone.get("/h5/credentials/").content.decode()
    page = phone.get(url).content.decode()
    assert "吊销证书" in page and bid.file_name in page and "开始人脸识别" in page

    check_id = _face(phone, card.service_no)
    form = phone.get(f"{url}?check_id={check_id}").content.decode()
    assert "人脸识别已通过" in form and 'name="bids_confirmed"' in form and bid.file_name in form

    before = _snapshot(credential)
    unconfirmed = phone.post(url, {"check_id": check_id})
    assert unconfirmed.status_code == 400 and "请确认" in unconfirmed.content.decode()
    assert _snapshot(credential) == before

    with django_capture_on_commit_callbacks(execute=True):
        done = phone.post(url, {"check_id": check_id, "bids_confirmed": "yes"})
    assert done.status_code == 200 and "证书已吊销（密钥泄露）" in done.content.decode()
    for serial in (credential.sign_serial, credential.encrypt_serial):
        status = _ocsp(serial)
        assert status.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert status.revocation_reason == x509.ReasonFlags.key_compromise
    assert Credential.objects.get().revoked_reason == "key_compromise"
    assert FaceCheck.objects.get(check_id=check_id).consumed_at is not None
    with pytest.raises(ApplicationError) as refused:
        keyuse.refuse_unless_usable(Credential.objects.get(), operation="decrypt")
    assert refused.value.code == "credential_revoked"
    event = AuditEvent.objects.get(action="credential.revoked_key_compromise")
    assert event.actor == f"phone:{LEGAL_REP}" and event.data["pending_bids"] == 1
    assert OperationRecord.objects.get(action="revoke").credential_id == credential.pk
    assert "证书吊销" in phone.get("/h5/records/").content.decode()
    assert any("因密钥泄露吊销" in message for message in _sms_to(CLAIMANT_PHONE))
    assert url not in phone.get("/h5/credentials/").content.decode()  # no link for a revoked credential


def test_the_claimant_revokes_a_split_credential_and_its_shares_are_destroyed(
    registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue 21 (issue 20's split keys): the revocation destroys the service's shares of the two-party key."""
    credential, _ = split_credential(registered)
    assert CosignShare.objects.filter(credential=credential, destroyed_at__isnull=True).count() == 2
    phone = phone_login(LEGAL_REP)
    check_id = _face(phone, credential.service_no)
    url = f"/h5/credentials/{credential.service_no}/revoke/"
    phone.get(f"{url}?check_id={check_id}")
    with django_capture_on_commit_callbacks(execute=True):
        assert phone.post(url, {"check_id": check_id}).status_code == 200  # no sealed bids: nothing to confirm
    assert not CosignShare.objects.filter(credential=credential, destroyed_at__isnull=True).exists()
    for serial in (credential.sign_serial, credential.encrypt_serial):
        assert IssuedCertificate.objects.get(serial_hex=serial).revocation_reason == "key_compromise"
    assert AuditEvent.objects.get(action="credential.revoked_key_compromise").data["shares_destroyed"] == 2


def test_another_claimants_card_is_not_found_and_nothing_changes(active: tuple[Card, Credential]) -> None:
    """Issue 21, R4.1 (谁申领谁使用): only the credential's own claimant; someone else's 服务编号 is a 404, even
    with a passed check."""
    card, credential = active
    stranger = phone_login(OTHER)
    url = f"/h5/credentials/{card.service_no}/revoke/"
    assert stranger.get(url).status_code == 404
    before = _snapshot(credential)
    assert stranger.post(url).status_code == 404  # no face check opened for it either
    assert not FaceCheck.objects.filter(account=OTHER, purpose="revoke").exists()
    check_id = _face(phone_login(LEGAL_REP), card.service_no)
    assert stranger.post(url, {"check_id": check_id, "bids_confirmed": "yes"}).status_code == 404
    assert _snapshot(credential) == before


def test_no_face_check_a_failed_one_a_stale_one_or_a_used_one_is_refused(active: tuple[Card, Credential]) -> None:
    """Issue 21, R4.3: the revocation needs a passed face check of the claimant, at most 10 minutes old, unused."""
    card, credential = active
    phone = phone_login(LEGAL_REP)
    url = f"/h5/credentials/{card.service_no}/revoke/"
    before = _snapshot(credential)

    made_up = phone.post(url, {"check_id": "made-up", "bids_confirmed": "yes"})
    assert made_up.status_code == 403 and "请先完成人脸识别" in made_up.content.decode()
    failed = _face(phone, card.service_no, "fail")
    assert phone.get(f"{url}?check_id={failed}").status_code == 409
    assert phone.post(url, {"check_id": failed, "bids_confirmed": "yes"}).status_code == 403
    assert _snapshot(credential) == before

    stale = _face(phone, card.service_no)
    phone.get(f"{url}?check_id={stale}")
    clock.set(FaceCheck.objects.get(check_id=stale).finished_at + timedelta(minutes=10, seconds=1))
    refused = phone.post(url, {"check_id": stale, "bids_confirmed": "yes"})
    assert refused.status_code == 409 and "超过 10 分钟" in refused.content.decode()
    assert _snapshot(credential) == before
    clock.reset()

    fresh = _face(phone, card.service_no)
    phone.get(f"{url}?check_id={fresh}")
    FaceCheck.objects.filter(check_id=fresh).update(purpose="pin_reset")  # a check for another purpose
    assert phone.post(url, {"check_id": fresh, "bids_confirmed": "yes"}).status_code == 403
    FaceCheck.objects.filter(check_id=fresh).update(purpose="revoke", consumed_at=clock.now())  # already used
    assert phone.post(url, {"check_id": fresh, "bids_confirmed": "yes"}).status_code == 403
    assert _snapshot(credential)["certificates"] == before["certificates"]
    assert Credential.objects.get().revoked_reason == ""


def test_the_phone_refuses_an_already_revoked_credential(active: tuple[Card, Credential], support: Client) -> None:
    """Issue 21: revoked by customer service, the phone page says so and neither opens a face check nor revokes."""
    card, credential = active
    support.post(_revoke_url(card), {"confirm": "yes", "reason": "工单 3"})
    before = _snapshot(credential)
    phone = phone_login(LEGAL_REP)
    url = f"/h5/credentials/{card.service_no}/revoke/"
    assert "已因密钥泄露吊销" in phone.get(url).content.decode()
    assert phone.post(url).status_code == 409
    assert not FaceCheck.objects.filter(purpose="revoke").exists()
    assert _snapshot(credential) == before


def test_the_platforms_card_of_a_revoked_credential_says_so_and_offers_no_renewal(
    active: tuple[Card, Credential], bidder_client: Client, support: Client
) -> None:
    """Issue 21 (R4.1): 「CA 续费申领」 shows a card revoked for key compromise as 「已吊销（密钥泄露）」 without
    「续费」; before the revocation it offered 「续费」."""
    card, _ = active
    renew = f"?renew={card.cert_id}"
    before = bidder_client.get("/ca/cards/").content.decode()
    assert renew in before and "已吊销（密钥泄露）" not in before
    support.post(_revoke_url(card), {"confirm": "yes", "reason": "工单 4"})
    assert shield.revoked_for_key_compromise(service_nos=[card.service_no, "no-such-card"]) == {card.service_no}
    after = bidder_client.get("/ca/cards/").content.decode()
    assert "已吊销（密钥泄露）" in after and renew not in after


def test_a_certificate_revoked_before_for_another_reason_then_says_key_compromise(
    active: tuple[Card, Credential], support: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue 21, RFC 5280 §5.3.1: a removed member's certificates were revoked as affiliationChanged; support's
    revocation for key compromise changes their reason, so OCSP answers keyCompromise and relying parties stop
    trusting what they signed before; the change is in the audit log."""
    from mobileca.ca import facade as ca_facade

    card, credential = active
    ca_facade.credential_revoke(
        owner_id=f"credential:{credential.service_no}", reason=x509.ReasonFlags.affiliation_changed
    )
    Credential.objects.filter(pk=credential.pk).update(revoked_reason="affiliation_changed")
    with django_capture_on_commit_callbacks(execute=True):
        assert support.post(_revoke_url(card), {"confirm": "yes", "reason": "工单 9"}).status_code == 302
    for serial in (credential.sign_serial, credential.encrypt_serial):
        assert _ocsp(serial).revocation_reason == x509.ReasonFlags.key_compromise
    changed = AuditEvent.objects.filter(action="ca.certificate_revocation_reason_changed")
    assert sorted(event.data["from"] for event in changed) == ["affiliation_changed"] * 2
