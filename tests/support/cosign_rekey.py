"""A lost or cleared phone's re-key (「更换密钥」, issue 20, R4.3) driven as the phone page does it: the fresh face
check of the PIN reset, the new halves made for the credential, then the re-key form.
Adds to ``tests.support.cosign``."""

from __future__ import annotations

import base64
from typing import Any

from django.test import Client

from mobileca.ca.sm2_cosign import PhoneShare
from mobileca.shield import cosign
from mobileca.shield.facade import authorization_request
from mobileca.shield.models import Credential, FaceCheck
from tests.support.cosign import HeadlessPhone, expect_ok, post


def reset_path(credential: Credential) -> str:
    return f"/h5/credentials/{credential.service_no}/pin/reset/"


def face_check(client: Client, credential: Credential, action: str = "pass") -> Any:
    """The PIN reset's face check played at the liveness sandbox; the response of the return to the phone page."""
    to_provider = client.post(reset_path(credential))
    assert "/sandbox/liveness/check/" in to_provider["Location"], to_provider
    back = client.post(to_provider["Location"].removeprefix("http://testserver"), {"action": action})
    return client.get(back["Location"].removeprefix("http://testserver"))


def passed_face_check(client: Client, credential: Credential) -> str:
    """A passed re-key face check of the credential's claimant; its check id."""
    returned = face_check(client, credential, "pass")
    assert returned.status_code == 302 and "check_id=" in returned["Location"], returned
    return FaceCheck.objects.filter(purpose="pin_reset", outcome="passed").latest("finished_at").check_id


def rekey_keygen(phone: HeadlessPhone, credential: Credential, usage: str) -> PhoneShare:
    """A new half of ``usage`` for the credential: the round begun for the credential (``keygen_begin`` with the
    service number, as the keygen endpoint does for a re-key), finished over the JSON endpoint."""
    account = credential.account
    session = cosign.keygen_begin(service_no=credential.service_no, usage=usage, account=account)
    share = PhoneShare()
    answer = expect_ok(post(phone.client, "keygen", {"session": session, "message": share.keygen_message(session)}))
    share.accept_public_key(answer)
    phone.shares[usage], phone.peppers[usage] = share, answer["pepper"]
    phone.filed[answer["public_key"]] = share
    return share


def rekey_phone(client: Client) -> HeadlessPhone:
    """A new (or cleared) phone page of the same signed-in claimant: no halves at all."""
    return HeadlessPhone(client=client)


def sign_request(
    credential: Credential, share: PhoneShare, data: bytes = b"signed attributes"
) -> tuple[str, str, bytes]:
    """A platform's signing request for the credential (one SM3 digest): its public reference, its handle (for the
    SAD) and the digest."""
    e = share.digest(data)
    pending = authorization_request(
        service_no=credential.service_no,
        operation="sign",
        hashes=[base64.b64encode(e).decode()],
        purpose="test",
        file_name="bid.pdf",
    )
    return pending.url.rstrip("/").rsplit("/", 1)[-1], pending.handle, e
