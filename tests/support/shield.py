"""Test helpers for the signing service: fast factories that build claims, enterprises and credentials through the
services (no phone flow over HTTP), and the phone-flow helpers the HTTP tests share."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from mobileca.accounts.models import User
from mobileca.ca.facade import DEFAULT_KEY_PROFILE
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.orders.models import Order
from mobileca.payments.models import Payment
from mobileca.payments.services import remittance_confirm
from mobileca.shield import facade
from mobileca.shield.claims import (
    claim_accept_agreements,
    claim_activate,
    claim_bind,
    claim_choose_enterprise_service,
    claim_of_claimant_locked,
    enterprise_create,
    phone_account_record,
)
from mobileca.shield.identity import PhoneIdentity
from mobileca.shield.members import enterprise_verified, membership_approve, membership_request, step_after_face
from mobileca.shield.models import ClaimSession, ClaimStep, Credential, Membership
from mobileca.shield.transitions import claim_move
from tests.support.platform import actor_of, make_offline_order

PIN = "135790"
# the identity sandbox's people: account → name, resident ID, phone
PEOPLE = {
    "2088102000000001": ("王建国", "360202197001010014", "13907980001"),  # the registered legal representative
    "2088102000000002": ("李南哲", "360102198505050019", "13907980002"),
    "2088102000000003": ("张小工", "360203199203030027", "13907980003"),
    "2088102000000004": ("刘晓梅", "360203198804040023", "13907980004"),
    "2088102000000005": ("陈立新", "360202199506060032", "13907980005"),
}
LEGAL_REP = "2088102000000001"


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def card(bidder: User, finance: User) -> Card:
    _, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    return Card.objects.get()


@pytest.fixture
def registered(card: Card) -> Card:
    """The registry knows the card's enterprise; 王建国 is its legal representative."""
    register_enterprise(card)
    return card


@pytest.fixture
def ca_ready(db: None) -> None:
    from mobileca.ca.services import ca_init

    ca_init()


@pytest.fixture
def corporate_account(registered: Card) -> str:
    from mobileca.sandboxes.bank.models import Account

    Account.objects.create(
        number="6222000011112222333", bank_name="中国工商银行", holder_name=registered.enterprise.name
    )
    return "6222000011112222333"


# --- factories: through the services --------------------------------------------------------------------------


def paid_card(bidder: User, finance: User, token: str) -> Card:
    """Another card of the bidder's enterprise, paid by offline remittance."""
    _, payment = make_offline_order(bidder, token=token)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    return Card.objects.latest("pk")


def register_enterprise(card: Card) -> None:
    from mobileca.sandboxes.registry.models import RegisteredEnterprise

    name, resident_id, phone = PEOPLE[LEGAL_REP]
    RegisteredEnterprise.objects.get_or_create(
        uscc=card.enterprise.uscc,
        defaults={
            "name": card.enterprise.name,
            "legal_representative": name,
            "legal_representative_id": resident_id,
            "legal_representative_phone": phone,
        },
    )


def bound_claim(card: Card, account: str) -> ClaimSession:
    """The card's claim as the platform opens it, scanned and bound by ``account`` (a sandbox person)."""
    name, resident_id, phone = PEOPLE[account]
    phone_account_record(identity=PhoneIdentity(account=account, name=name, resident_id=resident_id, phone=phone))
    ticket = facade.claim_open(
        card_ref=card.cert_id, enterprise_name=card.enterprise.name, enterprise_uscc=card.enterprise.uscc
    )
    return claim_bind(ticket=ticket.qr_url.rstrip("/").rsplit("/", 1)[-1], account=account)


def claim_past_face(card: Card, account: str) -> ClaimSession:
    """Bound, the service chosen, the enterprise created when new, the agreements accepted, the face check passed:
    the claim stands where a passed face check leads (enterprise verification, the PIN, or the admin's approval)."""
    claim = bound_claim(card, account)
    if claim_choose_enterprise_service(ticket=claim.ticket, account=account).step == ClaimStep.ENTERPRISE:
        enterprise_create(ticket=claim.ticket, account=account, organisation_name=card.enterprise.name)
    claim_accept_agreements(ticket=claim.ticket, account=account)
    with transaction.atomic(durable=True):
        locked = claim_of_claimant_locked(claim.ticket, account)
        claim_move(locked, step=step_after_face(locked, account), expected=ClaimStep.FACE)
    return ClaimSession.objects.get(pk=claim.pk)


def claim_at_pin(card: Card, account: str = LEGAL_REP) -> ClaimSession:
    """A claim at the PIN step: its claimant verified the enterprise (the first becomes its admin) or is a member."""
    claim = claim_past_face(card, account)
    if claim.step == ClaimStep.ENTERPRISE_VERIFY:
        with transaction.atomic(durable=True):
            locked = claim_of_claimant_locked(claim.ticket, account)
            enterprise_verified(locked, account, method="legal_rep_face")
            claim_move(locked, step=ClaimStep.PIN, expected=ClaimStep.ENTERPRISE_VERIFY)
    claim.refresh_from_db()
    assert claim.step == ClaimStep.PIN, claim.step
    return claim


def member_claim_at_pin(card: Card, account: str, *, admin: str) -> tuple[ClaimSession, Membership]:
    """An employee's claim of ``card``: they asked the enterprise's admin, who approved; it stands at the PIN."""
    claim = claim_past_face(card, account)
    assert claim.step == ClaimStep.APPROVAL, claim.step
    with transaction.atomic(durable=True):
        request = membership_request(claim=claim_of_claimant_locked(claim.ticket, account), account=account)
    membership = membership_approve(admin_account=admin, membership_id=request.pk)
    claim.refresh_from_db()
    assert claim.step == ClaimStep.PIN, claim.step
    return claim, membership


def activated_credential(
    card: Card, account: str = LEGAL_REP, *, pin: str = PIN, key_profile: str = DEFAULT_KEY_PROFILE.name
) -> Credential:
    """An activated credential of ``card`` for its claimant (the legal representative by default), made through the
    services: keys, certificates and PIN as the phone flow makes them, in a fraction of its time."""
    claim = claim_at_pin(card, account)
    return claim_activate(ticket=claim.ticket, account=account, pin=pin, pin_again=pin, key_profile=key_profile)


# --- the phone flow over HTTP (what the page tests share) -----------------------------------------------------


def _ticket_of(page: str) -> str:
    found = re.search(r'href="http://testserver/h5/claim/([^/"]+)/"', page)
    assert found, page
    return found.group(1)


def _scan_and_login(phone: Client, ticket: str, user_id: str) -> object:
    """What a phone does: open the QR code, 「支付宝登录」, pick the account at the provider, come back."""
    assert "支付宝登录" in phone.get(f"/h5/claim/{ticket}/").content.decode()
    to_provider = phone.get(f"/h5/claim/{ticket}/login/")
    assert to_provider.status_code == 302 and "/sandbox/identity/authorize?" in to_provider["Location"]
    provider_path = to_provider["Location"].removeprefix("http://testserver")
    back = phone.post(provider_path, {"user_id": user_id})
    assert back.status_code == 302 and back["Location"].startswith("http://testserver/h5/auth/callback/?auth_code=")
    return phone.get(back["Location"].removeprefix("http://testserver"), follow=True)


def phone_login(user_id: str, next_page: str = "/h5/credentials/") -> Client:
    """A phone signed in with its phone identity, no claim involved (「成员管理」, my credentials, the tool login)."""
    phone = Client()
    to_provider = phone.get("/h5/login/?next=" + next_page)
    assert to_provider.status_code == 302, to_provider
    back = phone.post(to_provider["Location"].removeprefix("http://testserver"), {"user_id": user_id})
    assert back.status_code == 302, back
    landed = phone.get(back["Location"].removeprefix("http://testserver"))
    assert landed.status_code == 302 and landed["Location"] == next_page, landed
    return phone


def _bound_phone(bidder_client: Client, card: Card, user_id: str = LEGAL_REP) -> tuple[Client, str]:
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    phone = Client()
    _scan_and_login(phone, ticket, user_id)
    return phone, ticket


def _play_face(phone: Client, ticket: str, action: str) -> object:
    to_provider = phone.post(f"/h5/claim/{ticket}/face/")
    assert to_provider.status_code == 302 and "/sandbox/liveness/check/" in to_provider["Location"]
    provider_page = to_provider["Location"].removeprefix("http://testserver")
    assert "活体检测沙箱" in phone.get(provider_page).content.decode()
    back = phone.post(provider_page, {"action": action})
    assert back["Location"].startswith("http://testserver/h5/face/return/?check_id=")
    return phone.get(back["Location"].removeprefix("http://testserver"), follow=True)


def _to_enterprise_verification(bidder_client: Client, card: Card, user_id: str = LEGAL_REP) -> tuple[Client, str]:
    phone, ticket = _bound_phone(bidder_client, card, user_id)
    phone.post(f"/h5/claim/{ticket}/service/")
    phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": card.enterprise.name})
    phone.post(f"/h5/claim/{ticket}/agreements/", {"agree": "yes"})
    _play_face(phone, ticket, "pass")
    assert ClaimSession.objects.get(card_ref=card.cert_id).step == "enterprise_verify"
    return phone, ticket


def _legal_rep_face(phone: Client, ticket: str, action: str = "pass") -> object:
    """法定代表人认证 → 人脸认证 played at the liveness sandbox. The claimant must be the legal representative: a
    refusal fails here (tests of the refusal post to the page themselves)."""
    to_provider = phone.post(f"/h5/claim/{ticket}/legal-rep/face/")
    assert to_provider.status_code == 302, to_provider.content.decode()
    assert "/sandbox/liveness/check/" in to_provider["Location"]
    provider_page = to_provider["Location"].removeprefix("http://testserver")
    back = phone.post(provider_page, {"action": action})
    assert back["Location"].startswith("http://testserver/h5/face/return/?check_id=")
    return phone.get(back["Location"].removeprefix("http://testserver"), follow=True)


def _activated(bidder_client: Client, card: Card) -> tuple[Client, str]:
    """The whole phone flow over HTTP, to 「开通成功」 (for the tests of that flow; others use the factories)."""
    phone, ticket = _to_enterprise_verification(bidder_client, card)
    _legal_rep_face(phone, ticket)
    phone.post(f"/h5/claim/{ticket}/pin/", {"pin": PIN, "pin_again": PIN})
    assert ClaimSession.objects.get(card_ref=card.cert_id).status == "activated"
    return phone, ticket


class Api:
    """The remote-signing API as a caller sees it: JSON over HTTP with a bearer token."""

    def __init__(self, token: str = "") -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def post(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.client.post(
            f"/csc/v2/{method}", json.dumps(body), content_type="application/json", **self.headers
        )
        return response.status_code, response.json()


def _device_login(phone: Client) -> str:
    """The tool asks; the claimant, signed in on the phone, allows; the tool gets its token."""
    api = Api()
    _, start = api.post("oauth2/device", {"client_name": "测试工具"})
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"]}
    status, pending = api.post("oauth2/token", grant)
    assert (status, pending["error"]) == (400, "authorization_pending")
    page = phone.get(start["verification_uri_complete"].removeprefix("http://testserver")).content.decode()
    assert start["user_code"] in page and "测试工具" in page
    phone.post("/h5/device/", {"user_code": start["user_code"], "decision": "allow"})
    clock.set(now() + timedelta(seconds=3))  # the tool polls at its interval
    status, token = api.post("oauth2/token", grant)
    clock.reset()
    assert status == 200 and token["token_type"] == "Bearer" and token["access_token"].startswith("mcu_")
    assert api.post("oauth2/token", grant)[1]["error"] == "invalid_grant"  # the code works once
    return str(token["access_token"])


# --- renewal ----------------------------------------------------------------------------------------------------


def _renew(bidder_client: Client, card: Card, token: str = "renew-1") -> Order:
    """「续费」 on the card: the checkout page for a renewal, paid by offline remittance."""
    page = bidder_client.get(f"/ca/purchase/mobile-ca/?renew={card.cert_id}").content.decode()
    assert "续费" in page and card.service_no in page
    response = bidder_client.post(
        "/ca/purchase/mobile-ca/",
        {
            "renew": card.cert_id,
            "region": "jiangxi",
            "channel": "offline",
            "expected_amount": "300.00",
            "client_token": token,
        },
    )
    assert response.status_code == 302, response.content.decode()
    return Order.objects.get(client_token=token)


def _pay(order: Order, finance: User) -> None:
    payment = Payment.objects.get(order=order)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)


def _renewal_ticket(bidder_client: Client, card: Card) -> str:
    page = bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode()
    assert "续费申领" in page
    return _ticket_of(page)
