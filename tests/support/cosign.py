"""A headless phone for two-party SM2 (issue 20): the reference phone half (``ca.sm2_cosign.PhoneShare``) driving
the service's JSON endpoints under ``/h5/cosign/`` exactly as the phone page's script does, in a signed-in phone
session (a Django test ``Client``). Tests use it where the browser is not the point."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from django.test import Client, override_settings

from mobileca.ca import facade as ca_facade
from mobileca.ca.sm2_cosign import PhoneShare
from mobileca.cards.models import Card
from mobileca.shield.claims import claim_activate
from mobileca.shield.models import Credential
from tests.support.shield import LEGAL_REP, PIN, claim_at_pin, phone_login


def post(client: Client, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(f"/h5/cosign/{name}/", json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def expect_ok(answer: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    status, body = answer
    assert status == 200, body
    return body


@dataclass
class HeadlessPhone:
    """The claimant's phone page: its session and the halves it keeps (the newest by usage, and every one by its
    public key as the page files them, those kept from before a renewal included), with their peppers."""

    client: Client
    shares: dict[str, PhoneShare] = field(default_factory=dict)
    peppers: dict[str, str] = field(default_factory=dict)
    filed: dict[str, PhoneShare] = field(default_factory=dict)

    def keygen(self, ticket: str, usage: str) -> PhoneShare:
        share = PhoneShare()
        begun = expect_ok(post(self.client, "keygen", {"ticket": ticket, "usage": usage}))
        answer = expect_ok(
            post(
                self.client, "keygen", {"session": begun["session"], "message": share.keygen_message(begun["session"])}
            )
        )
        share.accept_public_key(answer)
        self.shares[usage], self.peppers[usage] = share, answer["pepper"]
        self.filed[answer["public_key"]] = share
        return share

    def approve(self, public_ref: str, pin: str = PIN) -> dict[str, Any]:
        """「确认」 with the PIN, then the rounds: every digest signed and the signatures sent back, or the
        decryption message sent. Returns the last answer (``{"status": "authorized"}``)."""
        approval = expect_ok(post(self.client, "approve", {"authorization": public_ref, "pin": pin}))
        if approval["operation"] == "decrypt":  # the half filed under the key the service names, as the page does
            share = self.filed.get(approval["public_key"]) or self.shares["encrypt"]
            message = share.decrypt_message(base64.b64decode(approval["ciphertext"]), approval["session"])
            return expect_ok(post(self.client, "decrypt", {"session": approval["session"], "message": message}))
        share = self.shares["sign"]
        signatures = []
        for item in approval["rounds"]:
            outgoing, pending = share.sign_message(bytes.fromhex(item["e"]), item["session"])
            answer = expect_ok(post(self.client, "sign", {"session": item["session"], "message": outgoing}))
            signature = share.sign_finish(pending, answer)
            signatures.append({"session": item["session"], "signature": base64.b64encode(signature).decode()})
        return expect_ok(post(self.client, "sign", {"authorization": public_ref, "signatures": signatures}))


def split_credential(card: Card, account: str = LEGAL_REP, *, pin: str = PIN) -> tuple[Credential, HeadlessPhone]:
    """An activated two-party SM2 credential of ``card`` (``MOBILECA_KEY_CUSTODY=split``): the claim brought to
    「设置PIN码」 through the services, the phone's halves made through the JSON endpoints, then the activation."""
    claim = claim_at_pin(card, account)
    phone = HeadlessPhone(client=phone_login(account))
    with override_settings(MOBILECA_KEY_CUSTODY="split", MOBILECA_KEY_PROFILE=ca_facade.SM2_SM3.name):
        for usage in ("sign", "encrypt"):
            phone.keygen(claim.ticket, usage)
        credential = claim_activate(ticket=claim.ticket, account=account, pin=pin, pin_again=pin)
    return credential, phone


def sign_request(credential: Credential, digests: list[bytes], **document: Any) -> tuple[str, str]:
    """The platform's request to sign ``digests`` with the credential (it waits for the phone): its public ref (what
    the QR code names) and the platform's polling handle."""
    from mobileca.shield import facade as shield

    pending = shield.authorization_request(
        service_no=credential.service_no,
        operation="sign",
        hashes=[base64.b64encode(e).decode() for e in digests],
        purpose=document.pop("purpose", "test"),
        file_name=document.pop("file_name", "bid.pdf"),
        **document,
    )
    return pending.url.rstrip("/").rsplit("/", 1)[-1], pending.handle


def decrypt_request(credential: Credential, envelope: bytes) -> tuple[str, str]:
    """The platform's request to open ``envelope`` (a GB/T 35275 header) with the credential: ref and handle."""
    import hashlib

    from mobileca.shield import facade as shield

    pending = shield.authorization_request(
        service_no=credential.service_no,
        operation="decrypt",
        hashes=[base64.b64encode(hashlib.sha256(envelope).digest()).decode()],
        purpose="opening",
        file_name="bid.pdf",
        envelope=envelope,
    )
    return pending.url.rstrip("/").rsplit("/", 1)[-1], pending.handle
