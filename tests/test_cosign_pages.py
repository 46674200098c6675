"""The phone pages of two-party SM2 (issue 20, R3.7, R4.5, R5.2): the claim's 「设置PIN码」, the renewal's 「确认续费」
and the authorisation page carry the page script that makes or uses the phone's key half — and say what the phone
keeps — only where the credential is (or will be) split; everywhere else they are the plain forms of before."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from django.test import Client, override_settings

from mobileca.accounts.models import User
from mobileca.cards.models import Card
from mobileca.shield import facade as shield
from mobileca.shield.models import Credential
from tests.support.cosign import split_credential
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    _pay,
    _renew,
    _renewal_ticket,
    _scan_and_login,
    activated_credential,
    ca_ready,
    card,
    claim_at_pin,
    phone_login,
    registered,
)

pytestmark = pytest.mark.django_db(transaction=True)

SPLIT = {"MOBILECA_KEY_CUSTODY": "split", "MOBILECA_KEY_PROFILE": "sm2"}
MARKERS = ('data-cosign="keygen"', "shield/cosign.js", 'id="cosign-notice"', 'id="cosign-progress"')


def _pin_page(card: Card) -> str:
    claim = claim_at_pin(card)
    phone = phone_login(LEGAL_REP)
    response = phone.get(f"/h5/claim/{claim.ticket}/pin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="pin-form"' in page  # the PIN form itself, either way
    return page


def test_the_pin_page_of_a_split_claim_makes_the_phone_half_and_says_what_the_phone_keeps(
    registered: Card, ca_ready: None
) -> None:
    """R3.7, issue 20: with MOBILECA_KEY_CUSTODY=split on the sm2 profile the PIN form waits for its script (the
    submit button starts disabled), which makes the halves; the page says clearing the browser loses the key."""
    with override_settings(**SPLIT):
        page = _pin_page(registered)
    for marker in MARKERS:
        assert marker in page, marker
    assert "/h5/cosign/keygen/" in page
    assert "清除浏览器数据或更换手机后" in page and "原证书将被吊销" in page
    assert '<button class="primary" type="submit" disabled>' in page


@pytest.mark.parametrize(
    "custody", [{"MOBILECA_KEY_CUSTODY": "service", "MOBILECA_KEY_PROFILE": "sm2"}, {"MOBILECA_KEY_CUSTODY": "split"}]
)
def test_the_pin_page_of_a_whole_key_claim_is_the_plain_form(
    registered: Card, ca_ready: None, custody: dict[str, str]
) -> None:
    """R3.7, issue 20: the service's custody, or split custody on a profile other than sm2 (whose keys stay whole):
    no cosign script, no notice, the submit button enabled."""
    with override_settings(**custody):
        page = _pin_page(registered)
    for marker in MARKERS:
        assert marker not in page, marker
    assert "清除浏览器数据" not in page
    assert '<button class="primary" type="submit">' in page


def _renewal_page(bidder_client: Client, card: Card, finance: User) -> str:
    bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/")  # the platform learns the activation
    card.refresh_from_db()
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    phone = Client()
    page: str = _scan_and_login(phone, ticket, LEGAL_REP).content.decode()  # type: ignore[attr-defined]
    assert 'id="renewal-form"' in page and "确认续费" in page
    return page


def test_the_renewal_of_a_split_credential_makes_new_halves_before_it_is_confirmed(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> None:
    """R4.5, issue 20: 「确认续费」 of a split credential waits for the script that makes the new halves (with the
    renewal's ticket) and says where they are kept."""
    credential, _ = split_credential(registered)
    assert credential.key_custody == "split"
    page = _renewal_page(bidder_client, registered, finance)
    for marker in MARKERS:
        assert marker in page, marker
    assert "/h5/cosign/keygen/" in page and "原证书将被吊销" in page
    assert '<button class="primary" type="submit" disabled>' in page


def test_the_renewal_of_a_whole_key_credential_is_the_plain_form(
    bidder_client: Client, registered: Card, ca_ready: None, finance: User
) -> None:
    """R4.5, issue 20: even while new credentials are split, renewing a whole-key credential keeps it whole: the
    plain 「确认续费」 form."""
    credential = activated_credential(registered, key_profile="sm2")
    assert credential.key_custody != "split"
    with override_settings(**SPLIT):
        page = _renewal_page(bidder_client, registered, finance)
    for marker in MARKERS:
        assert marker not in page, marker
    assert '<button class="primary" type="submit">' in page


def _sign_request(credential: Credential, digest: bytes) -> str:
    pending = shield.authorization_request(
        service_no=credential.service_no,
        operation="sign",
        hashes=[base64.b64encode(digest).decode()],
        purpose="test",
        file_name="bid.pdf",
    )
    return str(pending.url.rstrip("/").rsplit("/", 1)[-1])


def _authorization_page(phone: Client, ref: str) -> str:
    response = phone.get(f"/h5/authorizations/{ref}/")
    assert response.status_code == 200
    page: str = response.content.decode()
    assert 'id="authorization-form"' in page and "拒绝" in page
    return page


def test_the_authorization_page_of_a_split_credential_completes_the_phone_half(
    registered: Card, ca_ready: None
) -> None:
    """R5.2, issue 20: 确认 of a split credential's request goes through the page script (approve, the rounds), which
    knows the digests shown (SCAL2: it signs only those); 拒绝 stays the plain form button."""
    credential, phone = split_credential(registered)
    digest = hashlib.sha256(b"signed attributes").digest()
    page = _authorization_page(phone.client, _sign_request(credential, digest))
    assert 'data-cosign="approve"' in page and "shield/cosign.js" in page and 'id="cosign-notice"' in page
    for endpoint in ("/h5/cosign/approve/", "/h5/cosign/sign/", "/h5/cosign/decrypt/"):
        assert endpoint in page, endpoint
    assert f'<script id="cosign-digests" type="application/json">["{digest.hex()}"]</script>' in page
    assert 'value="approve" disabled>' in page
    assert 'value="refuse" formnovalidate>' in page


def test_the_authorization_page_of_a_whole_key_credential_is_the_plain_form(registered: Card, ca_ready: None) -> None:
    """R5.2, issue 20: a whole-key credential's request is approved by the plain PIN form, no cosign script."""
    credential = activated_credential(registered, key_profile="sm2")
    phone = phone_login(LEGAL_REP)
    page = _authorization_page(phone, _sign_request(credential, hashlib.sha256(b"x").digest()))
    for marker in ('data-cosign="approve"', "shield/cosign.js", "cosign-digests", 'id="cosign-notice"'):
        assert marker not in page, marker
    assert 'value="approve">' in page


def test_the_authorization_page_of_a_split_credential_once_authorised_has_no_script(
    registered: Card, ca_ready: None
) -> None:
    """R5.2, issue 20: after the phone's half is done the page shows 已授权 and no form or script any more."""
    credential, phone = split_credential(registered)
    ref = _sign_request(credential, phone.shares["sign"].digest(b"signed attributes"))
    assert phone.approve(ref)["status"] == "authorized"
    page: Any = phone.client.get(f"/h5/authorizations/{ref}/").content.decode()
    assert 'id="authorization-state">已授权<' in page
    assert "shield/cosign.js" not in page and 'id="authorization-form"' not in page
