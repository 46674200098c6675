"""Renewal and expiry (R4.1, R4.2, R4.6, §7): a renewal is paid like a purchase, claimed by scanning — only by the
card's claimant — and re-keys (old certificates revoked, visible in OCSP); 服务到期时间 moves by one term; before
it completes the claimant sees the sealed bid files that would become unreadable; reminders 30 and 7 days ahead."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from django.test import Client

from mobileca.accounts.models import User
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.orders.models import Order
from mobileca.shield.models import ClaimSession, Credential, OperationRecord
from tests.support.shield import (  # noqa: F401 (fixtures)
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

PIN = "135790"


@pytest.fixture
def activated(bidder_client: Client, registered: Card, ca_ready: None) -> tuple[Client, Card]:
    activated_credential(registered)
    phone = phone_login("2088102000000001")
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")  # the platform learns the activation
    registered.refresh_from_db()
    return phone, registered


def _ocsp_status(serial_hex: str) -> ocsp.OCSPCertStatus:
    from mobileca.ca import facade

    certificate = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=serial_hex).encode())
    issuer = x509.load_pem_x509_certificate(facade.chain_pems()[0].encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
    response = Client().post(
        "/pki/ocsp", request.public_bytes(serialization.Encoding.DER), content_type="application/ocsp-request"
    )
    return ocsp.load_der_ocsp_response(response.content).certificate_status


def test_a_renewal_is_paid_claimed_by_the_claimant_and_re_keys(
    bidder_client: Client, activated: tuple[Client, Card], finance: User
) -> None:
    _, card = activated
    credential = Credential.objects.get()
    old_serials, old_expiry = (credential.sign_serial, credential.encrypt_serial), credential.expires_at
    order = _renew(bidder_client, card)
    assert (order.kind, order.card_id, order.amount) == ("renewal", card.pk, Decimal("300.00"))
    _pay(order, finance)
    card.refresh_from_db()
    assert card.renewal_order_no == order.order_no and Card.objects.count() == 1  # no new card
    assert "续费已支付" in bidder_client.get("/ca/cards/").content.decode()

    ticket = _renewal_ticket(bidder_client, card)
    phone = Client()
    page = _scan_and_login(phone, ticket, "2088102000000001").content.decode()  # type: ignore[attr-defined]
    assert "确认续费" in page and "该证书没有尚未解密的投标文件" in page
    wrong = phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": "246802"})
    assert wrong.status_code == 400 and Credential.objects.get().sign_serial == old_serials[0]
    assert phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN}).status_code == 302
    renewed = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert "续费成功" in renewed

    credential.refresh_from_db()
    assert credential.sign_serial not in old_serials and credential.encrypt_serial not in old_serials
    # issue 18: the renewed certificates in plain language — holder, enterprise, 统一社会信用代码, the new serials
    for shown in (
        "持有人",
        "王建国",
        card.enterprise.uscc,
        credential.sign_serial,
        credential.encrypt_serial,
        "进入 e签盾",
    ):
        assert shown in renewed, shown
    assert "NTRCN-" not in renewed and old_serials[0] not in renewed
    assert credential.expires_at == old_expiry.replace(year=old_expiry.year + 1)  # one term later
    assert _ocsp_status(old_serials[0]) == ocsp.OCSPCertStatus.REVOKED  # the old certificates, superseded
    assert _ocsp_status(credential.sign_serial) == ocsp.OCSPCertStatus.GOOD
    status = bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/").json()
    assert (status["kind"], status["status"]) == ("renewal", "activated")
    card.refresh_from_db()
    assert card.expires_at == credential.expires_at and card.renewal_order_no == ""
    assert OperationRecord.objects.filter(action="renewal", credential=credential).count() == 1


def test_a_different_person_cannot_complete_the_renewal(
    bidder_client: Client, activated: tuple[Client, Card], finance: User
) -> None:
    # R4.1: only the card's current claimant; anyone else must buy a new card
    _, card = activated
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    before = list(ClaimSession.objects.values_list()), list(Credential.objects.values_list("sign_serial", "expires_at"))
    page = _scan_and_login(Client(), ticket, "2088102000000003").content.decode()  # type: ignore[attr-defined]
    assert "续费只能由该证书的申领人本人办理" in page and "CA 新购" in page
    after = list(ClaimSession.objects.values_list()), list(Credential.objects.values_list("sign_serial", "expires_at"))
    assert after == before
    assert ClaimSession.objects.get(kind="renewal").status == "waiting"


def test_renewal_needs_a_claimed_card_and_one_at_a_time(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> None:
    refused = bidder_client.post(
        "/ca/purchase/mobile-ca/",
        {"renew": registered.cert_id, "region": "jiangxi", "channel": "offline", "expected_amount": "300.00",
         "client_token": "r1"},
    )  # fmt: skip
    assert refused.status_code == 400 and "尚未申领开通" in refused.content.decode()
    activated_credential(registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    _renew(bidder_client, registered, "r2")
    again = bidder_client.post(
        "/ca/purchase/mobile-ca/",
        {"renew": registered.cert_id, "region": "jiangxi", "channel": "offline", "expected_amount": "300.00",
         "client_token": "r3"},
    )  # fmt: skip
    assert again.status_code == 400 and "待支付的续费订单" in again.content.decode()
    assert Order.objects.filter(kind="renewal").count() == 1


def test_the_renewal_warning_lists_the_sealed_bids_and_must_be_confirmed(
    bidder_client: Client, activated: tuple[Client, Card], finance: User
) -> None:
    # R4.2: the concrete list of the card's encrypted bid files not yet decrypted
    from mobileca.shield import renewal

    _, card = activated
    opening = datetime(2026, 12, 15, 9, 30, tzinfo=now().tzinfo)
    bid = renewal.PendingBid("JDZ-2026-041", "瓷都大道路灯采购", opening, "投标文件.pdf")

    def provider(credential: Credential) -> list[renewal.PendingBid]:
        return [bid] if credential.service_no == card.service_no else []

    renewal.register_pending_bids_provider(provider)
    try:
        checkout = bidder_client.get(f"/ca/purchase/mobile-ca/?renew={card.cert_id}").content.decode()
        # issue 21: listed, and said to stay readable with the encryption certificate from before the renewal
        assert "JDZ-2026-041" in checkout and "续费后它们仍可由申领人本人输入 PIN 码解密" in checkout
        assert f"续费后使用原加密证书（序列号 {Credential.objects.get().encrypt_serial}）解密" in checkout
        _pay(_renew(bidder_client, card), finance)
        ticket = _renewal_ticket(bidder_client, card)
        phone = Client()
        page = _scan_and_login(phone, ticket, "2088102000000001").content.decode()  # type: ignore[attr-defined]
        assert "JDZ-2026-041" in page and "投标文件.pdf" in page and "我已阅读以上清单" in page
        serial = Credential.objects.get().sign_serial
        unconfirmed = phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN})
        assert unconfirmed.status_code == 400 and Credential.objects.get().sign_serial == serial
        phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN, "bids_confirmed": "yes"})
        assert Credential.objects.get().sign_serial != serial
        from mobileca.audit.models import AuditEvent

        assert AuditEvent.objects.get(action="credential.renewed").data["bids_acknowledged"] == [
            "JDZ-2026-041/投标文件.pdf"
        ]
    finally:
        renewal._providers.remove(provider)


def test_after_renewal_the_new_key_signs_and_the_old_certificate_no_longer_verifies_as_current(
    bidder_client: Client, activated: tuple[Client, Card], finance: User
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from mobileca.ca import facade
    from mobileca.shield import keyuse

    _, card = activated
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    phone = Client()
    _scan_and_login(phone, ticket, "2088102000000001")
    phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN})
    credential = Credential.objects.get()
    caller = keyuse.Caller("token", credential.account)
    digest = base64.b64encode(hashlib.sha256(b"after renewal").digest()).decode()
    sad = keyuse.authorize(
        caller=caller, credential_id=credential.service_no, operation="sign", hashes=[digest], pin=PIN
    ).sad
    signature = keyuse.sign_hashes(caller=caller, credential_id=credential.service_no, sad=sad, hashes=[digest])[0]
    certificate = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=credential.sign_serial).encode())
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, base64.b64decode(digest), ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_expiry_reminders_at_30_and_7_days_once_each(
    bidder_client: Client, activated: tuple[Client, Card], django_capture_on_commit_callbacks
) -> None:
    from mobileca.cards.models import Card as CardModel
    from mobileca.sandboxes.sms.models import Message
    from mobileca.shield.renewal import expiry_reminders_send

    credential = Credential.objects.get()
    assert expiry_reminders_send() == 0  # a year ahead: nothing
    Credential.objects.update(expires_at=now() + timedelta(days=29))
    CardModel.objects.update(expires_at=now() + timedelta(days=29))
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry_reminders_send() == 1
    assert expiry_reminders_send() == 0  # once per threshold
    Credential.objects.update(expires_at=now() + timedelta(days=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry_reminders_send() == 1
    texts = list(Message.objects.filter(phone="13907980001").values_list("text", flat=True))
    reminders = [text for text in texts if "到期" in text and credential.service_no in text]
    assert len(reminders) == 2
    page = bidder_client.get("/ca/cards/").content.decode()
    assert re.search(r"证书将于 \d{4}-\d{2}-\d{2} 到期", page)
