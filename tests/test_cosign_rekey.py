"""A lost or cleared phone, a forgotten PIN: 「更换密钥」 of a two-party SM2 credential after a fresh face check, and
the PIN change that seals the phone's half again (issue 20, R4.3, R4.2, R3.7, R5.2)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.test import Client

from mobileca.audit.models import AuditEvent
from mobileca.ca import facade as ca_facade
from mobileca.ca import sm2
from mobileca.ca.sm2_cosign import CosignRefused
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.core.errors import ApplicationError
from mobileca.shield import cosign, renewal
from mobileca.shield import facade as shield
from mobileca.shield.models import CosignShare, Credential, FaceCheck, KeyUseAuthorization, OperationRecord
from tests.support.cosign import HeadlessPhone, post, split_credential
from tests.support.cosign_rekey import (
    face_check,
    passed_face_check,
    rekey_keygen,
    rekey_phone,
    reset_path,
    sign_request,
)
from tests.support.shield import PIN, ca_ready, card, phone_login, registered  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PIN = "975310"
OTHER = "2088102000000004"  # 刘晓梅: another person of the sandbox


@pytest.fixture
def split(registered: Card, ca_ready: None) -> tuple[Credential, HeadlessPhone]:
    return split_credential(registered)


@pytest.fixture
def sealed_bid(split: tuple[Credential, HeadlessPhone]) -> Iterator[renewal.PendingBid]:
    credential, _ = split
    bid = renewal.PendingBid(
        "JDZ-2026-077", "昌江大桥检修", datetime(2026, 12, 20, 9, 30, tzinfo=now().tzinfo), "商务标.pdf"
    )

    def provider(found: Credential) -> list[renewal.PendingBid]:
        return [bid] if found.service_no == credential.service_no else []

    renewal.register_pending_bids_provider(provider)
    yield bid
    renewal._providers.remove(provider)


def _state(credential: Credential) -> tuple[object, ...]:
    credential.refresh_from_db()
    shares = list(CosignShare.objects.order_by("pk").values_list("pk", "certified_at", "destroyed_at", "credential_id"))
    return credential.sign_serial, credential.encrypt_serial, credential.pin_hash, tuple(shares)


def _rekeyed(client: Client, credential: Credential, phone: HeadlessPhone) -> tuple[str, Credential]:
    check_id = passed_face_check(client, credential)
    for usage in ("sign", "encrypt"):
        rekey_keygen(phone, credential, usage)
    done = client.post(
        reset_path(credential), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN, "bids_confirmed": "yes"}
    )
    assert done.status_code == 200 and "已更换密钥" in done.content.decode(), done.content.decode()
    return check_id, Credential.objects.get(pk=credential.pk)


def test_rekey_after_a_face_check_issues_new_certificates_and_destroys_the_old_shares(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20, R4.3: 更换密钥 gives new certificates for the new phone's keys with the same expiry; the old ones are
    revoked as superseded, the old shares destroyed (wrapped blobs empty), the new PIN set, recorded and audited."""
    credential, old_phone = split
    client = old_phone.client
    old_serials = (credential.sign_serial, credential.encrypt_serial)
    old_shares = list(CosignShare.objects.filter(credential=credential, certified_at__isnull=False))
    new_phone = rekey_phone(client)
    check_id, after = _rekeyed(client, credential, new_phone)

    assert after.sign_serial not in old_serials and after.encrypt_serial not in old_serials
    assert after.expires_at == credential.expires_at
    for serial in old_serials:
        assert ca_facade.certificate_info(serial_hex=serial).status == "revoked"
    assert ca_facade.certificate_info(serial_hex=after.sign_serial).status == "good"
    for share in old_shares:
        share.refresh_from_db()
        assert share.destroyed_at is not None and bytes(share.d2_wrapped) == b"" and bytes(share.pepper_wrapped) == b""
    for usage in ("sign", "encrypt"):
        live = CosignShare.objects.get(credential=after, usage=usage, certified_at__isnull=False, destroyed_at=None)
        assert live.public_key == new_phone.shares[usage].public_point.hex() and live.claim_id is None
    for serial, usage in ((after.sign_serial, "sign"), (after.encrypt_serial, "encrypt")):
        pem = ca_facade.certificate_pem(serial_hex=serial).encode()
        der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        key = ca_facade.public_key_of_certificate(der)
        assert isinstance(key, sm2.Sm2PublicKey) and key.point == new_phone.shares[usage].public_point
    assert FaceCheck.objects.get(check_id=check_id).consumed_at is not None
    with pytest.raises(ApplicationError) as refused:  # the face check re-keys once
        cosign.keygen_begin(service_no=after.service_no, usage="sign", account=after.account)
    assert refused.value.code == "face_required"
    assert bytes(after.sign_key_wrapped) == b"" and bytes(after.encrypt_key_wrapped) == b""
    assert OperationRecord.objects.filter(action="rekey", credential=after).count() == 1
    event = AuditEvent.objects.get(action="credential.rekeyed")
    assert event.data["revoked"] == list(old_serials)


def test_the_old_half_can_no_longer_sign_and_the_new_one_can(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20, R4.5: after the re-key the old phone's half signs nothing (its rounds are refused, the request stays
    pending), the new half signs and the signature verifies under the new certificate's key."""
    credential, old_phone = split
    new_phone = rekey_phone(old_phone.client)
    _, after = _rekeyed(old_phone.client, credential, new_phone)

    ref, handle, e = sign_request(after, new_phone.shares["sign"])
    status, approval = post(old_phone.client, "approve", {"authorization": ref, "pin": NEW_PIN})
    assert status == 200
    item = approval["rounds"][0]
    assert approval["public_key"] == new_phone.shares["sign"].public_point.hex()
    outgoing, pending = old_phone.shares["sign"].sign_message(bytes.fromhex(item["e"]), item["session"])
    status, answer = post(old_phone.client, "sign", {"session": item["session"], "message": outgoing})
    if status == 200:  # the service answered with the new d2: the old half cannot finish a signature under P
        with pytest.raises(CosignRefused) as refused:
            old_phone.shares["sign"].sign_finish(pending, answer)
        code = refused.value.code
    else:
        code = answer["code"]
    assert code in ("bad_signature", "bad_proof", "no_share")
    forged = {"session": item["session"], "signature": base64.b64encode(b"0" * 70).decode()}
    status, answer = post(old_phone.client, "sign", {"authorization": ref, "signatures": [forged]})
    assert status >= 400 and answer["code"] in ("bad_signature", "signatures_incomplete", "invalid_request"), answer
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == "pending"

    assert new_phone.approve(ref, pin=NEW_PIN)["status"] == "authorized"
    sad = shield.authorization_sad(handle=handle)
    (signature,) = shield.sign_hashes(service_no=after.service_no, sad=sad, hashes=[base64.b64encode(e).decode()])
    assert sm2.Sm2PublicKey.from_point(new_phone.shares["sign"].public_point).verify_digest(signature, e)


def test_another_account_cannot_rekey(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20 (谁申领谁使用): another person can neither start the face check, nor make halves for the credential,
    nor re-key it, even holding the claimant's passed face check id; nothing changes."""
    credential, phone = split
    check_id = passed_face_check(phone.client, credential)
    before = _state(credential)
    other = phone_login(OTHER)
    started = other.post(reset_path(credential))
    assert started.status_code == 404
    with pytest.raises(ApplicationError) as refused:
        cosign.keygen_begin(service_no=credential.service_no, usage="sign", account=OTHER)
    assert refused.value.code == "credential_unknown"
    answer = other.post(
        reset_path(credential), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN, "bids_confirmed": "yes"}
    )
    assert answer.status_code == 404
    assert _state(credential) == before
    assert FaceCheck.objects.get(check_id=check_id).consumed_at is None


def test_without_a_passed_face_check_no_half_is_made_and_nothing_is_rekeyed(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20, R4.3: keygen for the credential is refused before a passed, unused face check; a failed one does not
    count; and the re-key form without both new halves is refused (``cosign_keys_missing``); nothing changes."""
    credential, phone = split
    before = _state(credential)
    with pytest.raises(ApplicationError) as refused:
        cosign.keygen_begin(service_no=credential.service_no, usage="sign", account=credential.account)
    assert refused.value.code == "face_required"
    assert face_check(phone.client, credential, "fail").status_code == 409
    with pytest.raises(ApplicationError) as refused:
        cosign.keygen_begin(service_no=credential.service_no, usage="sign", account=credential.account)
    assert refused.value.code == "face_required"
    assert _state(credential) == before

    check_id = passed_face_check(phone.client, credential)
    rekey_keygen(phone, credential, "sign")  # one half only
    answer = phone.client.post(reset_path(credential), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN})
    assert answer.status_code == 409 and "尚未生成新的协同密钥" in answer.content.decode()
    credential.refresh_from_db()
    assert (credential.sign_serial, credential.encrypt_serial, credential.pin_hash) == before[:3]
    assert FaceCheck.objects.get(check_id=check_id).consumed_at is None


def test_a_plain_pin_reset_of_a_split_credential_is_refused(split: tuple[Credential, HeadlessPhone]) -> None:
    """Issue 20, R4.3: a new PIN alone would leave the phone's half unopenable: ``pin.pin_reset`` refuses a split
    credential (``rekey_required``) and the PIN stays."""
    from mobileca.shield import pin

    credential, phone = split
    check_id = passed_face_check(phone.client, credential)
    with pytest.raises(ApplicationError) as refused:
        pin.pin_reset(
            account=credential.account,
            service_no=credential.service_no,
            check_id=check_id,
            new_pin=NEW_PIN,
            new_again=NEW_PIN,
            address=None,
        )
    assert refused.value.code == "rekey_required"
    assert Credential.objects.get(pk=credential.pk).pin_hash == credential.pin_hash


def test_the_rekey_page_lists_the_sealed_bids_and_needs_the_confirmation(
    split: tuple[Credential, HeadlessPhone], sealed_bid: renewal.PendingBid
) -> None:
    """Issue 20, R4.2: before the new PIN the page lists the card's sealed, unopened bids (the renewal's list) with
    the 确认 checkbox; a re-key without the confirmation is refused and changes nothing."""
    credential, phone = split
    check_id = passed_face_check(phone.client, credential)
    page = phone.client.get(reset_path(credential) + f"?check_id={check_id}").content.decode()
    assert "更换密钥" in page and 'id="rekey-bids"' in page
    assert "JDZ-2026-077" in page and "商务标.pdf" in page and 'name="bids_confirmed"' in page
    assert "shield/cosign.js" in page and 'data-split="yes"' in page
    for usage in ("sign", "encrypt"):
        rekey_keygen(phone, credential, usage)
    before = _state(credential)
    unconfirmed = phone.client.post(
        reset_path(credential), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN}
    )
    assert unconfirmed.status_code == 400 and "JDZ-2026-077" in unconfirmed.content.decode()
    assert _state(credential) == before
    confirmed = phone.client.post(
        reset_path(credential), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN, "bids_confirmed": "yes"}
    )
    assert confirmed.status_code == 200
    assert AuditEvent.objects.get(action="credential.rekeyed").data["bids_acknowledged"] == ["JDZ-2026-077/商务标.pdf"]


def test_my_credentials_explains_clearing_the_browser_and_carries_the_reseal_markers(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20, R4.3: for a split credential 我的证书 says what clearing the browser does, offers 更换密钥, and the PIN
    change form carries the live shares' public keys for the page to seal the halves again; the PIN change itself
    goes through and says so when this browser has no half."""
    credential, phone = split
    page = phone.client.get("/h5/credentials/").content.decode()
    assert "清除浏览器数据" in page and "更换密钥" in page and "原证书同时作废" in page
    assert 'class="pin-change"' in page and 'data-split="yes"' in page
    assert f'data-sign-key="{phone.shares["sign"].public_point.hex()}"' in page
    assert f'data-encrypt-key="{phone.shares["encrypt"].public_point.hex()}"' in page
    assert "shield/cosign.js" in page and "h5/cosign/pepper/" in page
    changed = phone.client.post(
        f"/h5/credentials/{credential.service_no}/pin/change/",
        {"old_pin": PIN, "pin": NEW_PIN, "pin_again": NEW_PIN, "share_missing": "yes"},
    )
    assert changed.status_code == 200 and "本机浏览器中没有该证书的手机端密钥" in changed.content.decode()
    assert Credential.objects.get(pk=credential.pk).pin_hash != credential.pin_hash


def test_a_service_custody_credentials_page_has_no_cosign_script(registered: Card, ca_ready: None) -> None:
    """Issue 20: a whole-key credential's 我的证书 loads no phone module and keeps the plain PIN reset."""
    from tests.support.shield import activated_credential

    activated_credential(registered)
    page = phone_login("2088102000000001").get("/h5/credentials/").content.decode()
    assert "shield/cosign.js" not in page and "忘记 PIN 码（人脸识别后重置）" in page


def test_a_face_check_older_than_ten_minutes_makes_no_half_and_rekeys_nothing(
    split: tuple[Credential, HeadlessPhone],
) -> None:
    """Issue 20, R4.3: the face check allows a re-key within 10 minutes only: later, keygen for the credential is
    refused and the re-key form is refused as stale; nothing changes."""
    credential, phone = split
    check_id = passed_face_check(phone.client, credential)
    for usage in ("sign", "encrypt"):
        rekey_keygen(phone, credential, usage)
    before = _state(credential)
    clock.set(now() + timedelta(minutes=10, seconds=1))
    with pytest.raises(ApplicationError) as refused:
        cosign.keygen_begin(service_no=credential.service_no, usage="sign", account=credential.account)
    assert refused.value.code == "face_required"
    answer = phone.client.post(reset_path(credential), {"check_id": check_id, "pin": NEW_PIN, "pin_again": NEW_PIN})
    assert answer.status_code == 409 and "超过 10 分钟" in answer.content.decode()
    assert _state(credential) == before
