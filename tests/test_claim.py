"""The claim QR code (R2.4, R3.1, R3.10): shown on the card, valid ten minutes, refreshable, one claimant."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.core.errors import Conflict, NotFound, PermissionDenied
from mobileca.payments.services import remittance_confirm
from mobileca.shield.models import ClaimSession
from mobileca.shield.services import claim_bind
from tests.conftest import actor_of, login, make_offline_order


@pytest.fixture
def card(bidder: User, finance: User) -> Card:
    _, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    return Card.objects.get()


def _ticket_of(page: str) -> str:
    found = re.search(r'href="http://testserver/h5/claim/([^/"]+)/"', page)
    assert found, page
    return found.group(1)


def test_claim_page_shows_a_qr_code_valid_ten_minutes_for_the_signing_service(
    bidder_client: Client, card: Card
) -> None:
    # R2.4, §7
    page = bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode()
    assert "<svg" in page and "刷新二维码" in page and "二维码有效期剩余" in page
    ticket = _ticket_of(page)
    claim = ClaimSession.objects.get()
    assert (claim.ticket, claim.card_ref, claim.status) == (ticket, card.cert_id, "waiting")
    assert claim.ticket_expires_at - claim.created_at == timedelta(minutes=10)
    assert claim.enterprise_uscc == card.enterprise.uscc
    # showing the page again shows the same code: one live claim per card
    assert _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode()) == ticket
    assert ClaimSession.objects.count() == 1


def test_the_scanned_code_opens_the_phone_page_with_enterprise_platform_and_term(
    bidder_client: Client, card: Card
) -> None:
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    page = Client().get(f"/h5/claim/{ticket}/").content.decode()
    for label in ["办理主体", card.enterprise.name, "交易平台", "景德镇市国有企业阳光采购平台", "服务有效期", "1年"]:
        assert label in page, label


def test_refreshing_gives_a_new_code_and_the_old_one_stops_working(bidder_client: Client, card: Card) -> None:
    old = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    response = bidder_client.post(f"/ca/cards/{card.cert_id}/claim/", follow=True)
    new = _ticket_of(response.content.decode())
    assert new != old
    gone = Client().get(f"/h5/claim/{old}/")
    assert gone.status_code == 404 and "二维码无效" in gone.content.decode()
    assert Client().get(f"/h5/claim/{new}/").status_code == 200


def test_an_expired_code_says_so_and_cannot_be_claimed(bidder_client: Client, card: Card) -> None:
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    with clock.frozen(now() + timedelta(minutes=10, seconds=1)):
        assert "二维码已过期" in Client().get(f"/h5/claim/{ticket}/").content.decode()
        before = AuditEvent.objects.count()
        with pytest.raises(Conflict) as refused:
            claim_bind(ticket=ticket, account="2088000000000001")
    assert refused.value.code == "ticket_expired"
    assert ClaimSession.objects.get().status == "waiting" and AuditEvent.objects.count() == before


def test_the_first_phone_identity_binds_the_claim_and_a_second_person_is_refused(
    bidder_client: Client, card: Card
) -> None:
    # R3.1: 谁申领谁使用 — no second claimant, no transfer
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    claim = claim_bind(ticket=ticket, account="2088000000000001")
    assert (claim.status, claim.claimant_account) == ("bound", "2088000000000001")
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied) as refused:
        claim_bind(ticket=ticket, account="2088000000000002")
    assert refused.value.code == "claim_taken" and "CA 新购" in refused.value.message
    claim.refresh_from_db()
    assert claim.claimant_account == "2088000000000001" and AuditEvent.objects.count() == before
    # a refresh does not hand the bound claim a new code, and the card page says the claimant is at work
    bidder_client.post(f"/ca/cards/{card.cert_id}/claim/")
    claim.refresh_from_db()
    assert claim.ticket == ticket
    assert "申领人已扫码" in bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode()


def test_the_claimant_scanning_again_resumes_even_after_the_code_expired(bidder_client: Client, card: Card) -> None:
    # R3.10: leaving half-way and scanning again resumes
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    claim_bind(ticket=ticket, account="2088000000000001")
    with clock.frozen(now() + timedelta(hours=3)):
        resumed = claim_bind(ticket=ticket, account="2088000000000001")
    assert resumed.status == "bound" and ClaimSession.objects.count() == 1


def test_the_card_page_follows_the_claim_through_the_status_endpoint(bidder_client: Client, card: Card) -> None:
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    assert bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/").json()["status"] == "waiting"
    claim_bind(ticket=ticket, account="2088000000000001")
    status = bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/").json()
    assert status["status"] == "bound" and status["service_no"] == ""


def test_another_enterprises_card_cannot_be_claimed_or_followed(client: Client, card: Card, other_bidder: User) -> None:
    # §8
    login(client, other_bidder)
    for url in [f"/ca/cards/{card.cert_id}/claim/", f"/ca/cards/{card.cert_id}/claim/status/"]:
        assert client.get(url).status_code == 404
    assert client.post(f"/ca/cards/{card.cert_id}/claim/").status_code == 404
    assert ClaimSession.objects.count() == 0


def test_an_unknown_code_is_refused(db: None) -> None:
    with pytest.raises(NotFound):
        claim_bind(ticket="nope", account="2088000000000001")
    assert Client().get("/h5/claim/nope/").status_code == 404
