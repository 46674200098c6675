"""Forged provider answers: the phone identity's assertion, the registry's record and the liveness result, each
signed with a real wrong key, or signed with the provider's own key but for another relying party, another request,
another time, another person or another enterprise. Every one is refused with ``AnswerRefused`` naming the check it
failed, and nothing the answer would have written is written.

The sandboxes answer for real over the test transport; a forger between the signing service and the provider
rewrites the answer in the sandbox's own wire format (a JSON body signed in a header, or a base64url assertion beside
its signature), so the one thing changed is the thing under test. A faithful re-signing with the provider's key
passes, which proves the forger speaks the wire format and each refusal is its check at work.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock
from mobileca.payments.services import remittance_confirm
from mobileca.shield import liveness, providers
from mobileca.shield.identity import ASSERTION_MAX_AGE, IdentityRefused
from mobileca.shield.models import ClaimSession, FaceCheck, PhoneAccount, ShieldEnterprise
from mobileca.shield.providers import MAX_AGE, AnswerRefused
from tests.support.platform import actor_of, make_offline_order
from tests.transport import DjangoTestTransport

CLAIMANT, OTHER_PERSON = "2088102000000001", "2088102000000002"  # 王建国, 李南哲 (the identity sandbox's people)
CLAIMANT_ID = "360202197001010014"

# --- the forger -------------------------------------------------------------------------------------------------

Rewrite = Callable[[httpx.Response], httpx.Response]


class Forger(httpx.BaseTransport):
    """Between the signing service and the sandboxes: requests under ``path`` may be redirected (``to``) and their
    real answers rewritten (``answer``); everything else passes untouched."""

    def __init__(self, inner: DjangoTestTransport, path: str, answer: Rewrite | None = None, to: str = "") -> None:
        self.inner, self.path, self.answer, self.to = inner, path, answer, to
        self.forged = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith(self.path):
            return self.inner.handle_request(request)
        if self.to:
            request = httpx.Request(
                request.method, request.url.copy_with(path=self.to), headers=request.headers, content=request.read()
            )
        response = self.inner.handle_request(request)
        self.forged += 1
        return self.answer(response) if self.answer else response


def _sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


@cache
def _provider_key(setting: str) -> rsa.RSAPrivateKey:
    """The sandbox's own signing key, as in ``settings.SANDBOX_<NAME>``."""
    key = serialization.load_pem_private_key(
        Path(getattr(settings, setting)["private_key_path"]).read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@cache
def _stranger_key() -> rsa.RSAPrivateKey:
    """A real RSA-2048 key of the right type that is nobody's provider."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _resigned_body(header: str, key: rsa.RSAPrivateKey, change: dict[str, Any]) -> Rewrite:
    """The registry's and the liveness provider's format: a JSON body, its signature in ``header``."""

    def rewrite(response: httpx.Response) -> httpx.Response:
        body = json.dumps(json.loads(response.content) | change, ensure_ascii=False).encode()
        headers = {k: v for k, v in response.headers.items() if k.lower() not in (header.lower(), "content-length")}
        return httpx.Response(response.status_code, headers=headers | {header: _sign(key, body)}, content=body)

    return rewrite


def _resigned_assertion(key: rsa.RSAPrivateKey, change: dict[str, Any]) -> Rewrite:
    """The identity provider's format: ``{"assertion": base64url(JSON), "signature": base64}``."""

    def rewrite(response: httpx.Response) -> httpx.Response:
        assertion = response.json()["assertion"]
        claims = json.loads(base64.urlsafe_b64decode(assertion + "=" * (-len(assertion) % 4))) | change
        forged = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).decode().rstrip("=")
        return httpx.Response(200, json={"assertion": forged, "signature": _sign(key, forged.encode())})

    return rewrite


def _held_back(max_age: timedelta) -> Rewrite:
    """The provider's genuine answer, delivered (replayed) once its freshness window has passed."""

    def rewrite(response: httpx.Response) -> httpx.Response:
        clock.advance(max_age + timedelta(seconds=1))
        return response

    return rewrite


Resign = Callable[[rsa.RSAPrivateKey, dict[str, Any]], Rewrite]

# name: (whose key signs, what changes in the answer, the check that must refuse it); "late" replays it unchanged
FORGERIES: dict[str, tuple[str, dict[str, Any], str]] = {
    "signed with a real wrong key": ("stranger", {}, "signature"),
    "for another relying party": ("provider", {"aud": "another-relying-party"}, "audience"),
    "for another request": ("provider", {"nonce": "nonce-of-another-request"}, "nonce"),
    "held back past its freshness window": ("late", {}, "stale"),
}


def _forgery(forgery: tuple[str, dict[str, Any], str], resign: Resign, setting: str, max_age: timedelta) -> Rewrite:
    signer, change, _reason = forgery
    if signer == "late":
        return _held_back(max_age)
    return resign(_stranger_key() if signer == "stranger" else _provider_key(setting), change)


@pytest.fixture
def forge(gateway_transport: DjangoTestTransport, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Forger]:
    def install(path: str, answer: Rewrite | None = None, to: str = "") -> Forger:
        forger = Forger(gateway_transport, path, answer, to)
        monkeypatch.setattr(providers, "http_client", lambda: httpx.Client(transport=forger))
        return forger

    return install


def _refused(caplog: pytest.LogCaptureFixture) -> AnswerRefused:
    refused = [
        record.exc_info[1]
        for record in caplog.records
        if record.exc_info and isinstance(record.exc_info[1], AnswerRefused)
    ]
    assert len(refused) == 1, caplog.text
    return refused[0]


# --- the product's way there ------------------------------------------------------------------------------------


@pytest.fixture
def card(bidder: User, finance: User) -> Card:
    """A paid card with a claim QR code, its enterprise known to the registry (王建国 its legal representative)."""
    from mobileca.sandboxes.registry.models import RegisteredEnterprise

    _, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    card = Card.objects.get()
    RegisteredEnterprise.objects.create(
        uscc=card.enterprise.uscc,
        name=card.enterprise.name,
        legal_representative="王建国",
        legal_representative_id=CLAIMANT_ID,
        legal_representative_phone="13907980001",
    )
    return card


@pytest.fixture
def ticket(bidder_client: Client, card: Card) -> str:
    page = bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode()
    found = re.search(r'href="http://testserver/h5/claim/([^/"]+)/"', page)
    assert found, page
    return found.group(1)


def _local(url: str) -> str:
    return url.removeprefix("http://testserver")


def _at_provider(phone: Client, login_path: str, user_id: str) -> str:
    """「支付宝登录」 and the person picked at the identity provider: where the provider sends the phone back."""
    to_provider = phone.get(login_path)
    assert to_provider.status_code == 302 and "/sandbox/identity/authorize?" in to_provider["Location"]
    back = phone.post(_local(to_provider["Location"]), {"user_id": user_id})
    assert back.status_code == 302 and "/h5/auth/callback/?auth_code=" in back["Location"]
    return _local(back["Location"])


def _bound(phone: Client, ticket: str) -> None:
    phone.get(_at_provider(phone, f"/h5/claim/{ticket}/login/", CLAIMANT))
    assert ClaimSession.objects.get(ticket=ticket).claimant_account == CLAIMANT


def _at_enterprise_step(ticket: str) -> Client:
    phone = Client()
    _bound(phone, ticket)
    phone.post(f"/h5/claim/{ticket}/service/")
    assert ClaimSession.objects.get(ticket=ticket).step == "enterprise"
    return phone


def _at_face_result(ticket: str, card: Card) -> tuple[Client, str]:
    """The claimant played a passing face; the phone is about to come back for the signed result."""
    phone = _at_enterprise_step(ticket)
    phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": card.enterprise.name})
    phone.post(f"/h5/claim/{ticket}/agreements/", {"agree": "yes"})
    to_provider = phone.post(f"/h5/claim/{ticket}/face/")
    assert to_provider.status_code == 302 and "/sandbox/liveness/check/" in to_provider["Location"]
    back = phone.post(_local(to_provider["Location"]), {"action": "pass"})
    assert "/h5/face/return/?check_id=" in back["Location"]
    return phone, _local(back["Location"])


def _stored() -> dict[str, object]:
    """What a believed answer would write: phone identities, claims, enterprises, face checks, the audit trail."""
    return {
        "phone_accounts": list(PhoneAccount.objects.values_list("account", "name", "last_seen_at")),
        "claims": list(ClaimSession.objects.values_list("ticket", "status", "step", "claimant_account")),
        "enterprises": list(ShieldEnterprise.objects.values_list("uscc", "name")),
        "face_checks": list(FaceCheck.objects.values_list("check_id", "outcome", "finished_at")),
        "audit": AuditEvent.objects.count(),
    }


# --- the phone identity (the Alipay account's assertion) --------------------------------------------------------


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_identity_assertion_is_refused_and_nobody_signs_in(
    ticket: str, forge: Callable[..., Forger], caplog: pytest.LogCaptureFixture, forgery: str
) -> None:
    reason = FORGERIES[forgery][2]
    phone = Client()
    callback = _at_provider(phone, f"/h5/claim/{ticket}/login/", CLAIMANT)
    before = _stored()
    answer = _forgery(FORGERIES[forgery], _resigned_assertion, "SANDBOX_IDENTITY", ASSERTION_MAX_AGE)
    forger = forge("/sandbox/identity/token", answer)

    page = phone.get(callback)

    assert forger.forged == 1 and page.status_code == 502
    refused = _refused(caplog)
    assert (type(refused), refused.reason) == (IdentityRefused, reason)
    assert _stored() == before and not PhoneAccount.objects.exists()
    assert ClaimSession.objects.get(ticket=ticket).status == "waiting"
    assert phone.post(f"/h5/claim/{ticket}/service/").status_code == 403  # the phone is signed in as nobody


def test_another_persons_authorisation_code_is_refused_in_this_browser(
    ticket: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Code injection: 李南哲's code (issued for his own login's nonce) pasted into the claimant's callback.
    claimant_phone, other_phone = Client(), Client()
    own_callback = _at_provider(claimant_phone, f"/h5/claim/{ticket}/login/", CLAIMANT)
    their_callback = _at_provider(other_phone, "/h5/login/", OTHER_PERSON)
    state = parse_qs(urlsplit(own_callback).query)["state"][0]
    their_code = parse_qs(urlsplit(their_callback).query)["auth_code"][0]
    before = _stored()

    page = claimant_phone.get("/h5/auth/callback/", {"auth_code": their_code, "state": state})

    assert page.status_code == 502
    refused = _refused(caplog)
    assert (type(refused), refused.reason) == (IdentityRefused, "nonce")
    assert _stored() == before and not PhoneAccount.objects.exists()


def test_a_faithfully_relayed_identity_assertion_signs_the_claimant_in(
    ticket: str, forge: Callable[..., Forger]
) -> None:
    phone = Client()
    callback = _at_provider(phone, f"/h5/claim/{ticket}/login/", CLAIMANT)
    forger = forge("/sandbox/identity/token", _resigned_assertion(_provider_key("SANDBOX_IDENTITY"), {}))
    assert phone.get(callback).status_code == 302 and forger.forged == 1
    assert ClaimSession.objects.get(ticket=ticket).claimant_account == CLAIMANT


# --- the business registry --------------------------------------------------------------------------------------


def _registry_body(key: rsa.RSAPrivateKey, change: dict[str, Any]) -> Rewrite:
    return _resigned_body("X-Registry-Signature", key, change)


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_registry_record_is_refused_and_no_enterprise_is_created(
    ticket: str, card: Card, forge: Callable[..., Forger], caplog: pytest.LogCaptureFixture, forgery: str
) -> None:
    reason = FORGERIES[forgery][2]
    phone = _at_enterprise_step(ticket)
    before = _stored()
    forger = forge("/sandbox/registry/", _forgery(FORGERIES[forgery], _registry_body, "SANDBOX_REGISTRY", MAX_AGE))

    page = phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": card.enterprise.name})

    assert forger.forged == 1 and page.status_code == 502
    refused = _refused(caplog)
    assert (refused.provider, refused.reason) == ("registry", reason)
    assert _stored() == before and not ShieldEnterprise.objects.exists()
    assert ClaimSession.objects.get(ticket=ticket).step == "enterprise"


def test_another_enterprises_genuine_record_is_refused(
    ticket: str, card: Card, forge: Callable[..., Forger], caplog: pytest.LogCaptureFixture
) -> None:
    # The registry really signs this answer, for us, for this lookup and now: but about another enterprise, whose
    # name the claimant then types.
    from mobileca.sandboxes.registry.models import RegisteredEnterprise
    from tests.factories import uscc_for

    other = RegisteredEnterprise.objects.create(
        uscc=uscc_for(999),
        name="另一家有限公司",
        legal_representative="王建国",
        legal_representative_id=CLAIMANT_ID,
        legal_representative_phone="13907980001",
    )
    phone = _at_enterprise_step(ticket)
    before = _stored()
    forger = forge("/sandbox/registry/", to=f"/sandbox/registry/v1/enterprises/{other.uscc}")

    page = phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": other.name})

    assert forger.forged == 1 and page.status_code == 502
    refused = _refused(caplog)
    assert (refused.provider, refused.reason) == ("registry", "subject")
    assert _stored() == before and not ShieldEnterprise.objects.exists()


def test_a_faithfully_relayed_registry_record_creates_the_enterprise(
    ticket: str, card: Card, forge: Callable[..., Forger]
) -> None:
    phone = _at_enterprise_step(ticket)
    forger = forge("/sandbox/registry/", _registry_body(_provider_key("SANDBOX_REGISTRY"), {}))
    phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": card.enterprise.name})
    assert forger.forged == 1 and ShieldEnterprise.objects.get().uscc == card.enterprise.uscc


# --- the liveness result ----------------------------------------------------------------------------------------


def _liveness_body(key: rsa.RSAPrivateKey, change: dict[str, Any]) -> Rewrite:
    return _resigned_body("X-Liveness-Signature", key, change)


LIVENESS_FORGERIES = FORGERIES | {
    "about another person's face": ("provider", {"resident_id": "360102198505050019", "name": "李南哲"}, "subject"),
}


@pytest.mark.parametrize("forgery", LIVENESS_FORGERIES)
def test_a_forged_face_result_is_refused_and_the_check_stays_open(
    ticket: str, card: Card, forge: Callable[..., Forger], caplog: pytest.LogCaptureFixture, forgery: str
) -> None:
    reason = LIVENESS_FORGERIES[forgery][2]
    phone, back = _at_face_result(ticket, card)
    before = _stored()
    answer = _forgery(LIVENESS_FORGERIES[forgery], _liveness_body, "SANDBOX_LIVENESS", MAX_AGE)
    forger = forge("/sandbox/liveness/v1/checks/", answer)

    page = phone.get(back)

    assert forger.forged == 1 and page.status_code == 502
    refused = _refused(caplog)
    assert (refused.provider, refused.reason) == ("liveness", reason)
    assert _stored() == before and FaceCheck.objects.get().outcome == "pending"
    assert ClaimSession.objects.get(ticket=ticket).step == "face"


def test_another_persons_genuine_passed_check_is_refused(
    ticket: str, card: Card, forge: Callable[..., Forger], caplog: pytest.LogCaptureFixture
) -> None:
    # 李南哲 passed a check of his own; its genuine, fresh, signed result is served for the claimant's check.
    theirs = liveness.open_check(name="李南哲", resident_id="360102198505050019", nonce="their-nonce")
    assert Client().post(_local(theirs.url), {"action": "pass"}).status_code == 302
    phone, back = _at_face_result(ticket, card)
    before = _stored()
    forger = forge("/sandbox/liveness/v1/checks/", to=f"/sandbox/liveness/v1/checks/{theirs.check_id}")

    page = phone.get(back)

    assert forger.forged == 1 and page.status_code == 502
    refused = _refused(caplog)
    assert (refused.provider, refused.reason) == ("liveness", "nonce")
    assert _stored() == before and FaceCheck.objects.get().outcome == "pending"


def test_a_faithfully_relayed_face_result_moves_the_claim_on(
    ticket: str, card: Card, forge: Callable[..., Forger]
) -> None:
    phone, back = _at_face_result(ticket, card)
    forger = forge("/sandbox/liveness/v1/checks/", _liveness_body(_provider_key("SANDBOX_LIVENESS"), {}))
    phone.get(back)
    assert forger.forged == 1 and FaceCheck.objects.get().outcome == "passed"
    assert ClaimSession.objects.get(ticket=ticket).step == "enterprise_verify"
