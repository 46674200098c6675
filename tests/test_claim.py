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
from mobileca.shield.claims import claim_bind
from mobileca.shield.models import ClaimSession
from tests.support.platform import actor_of, login, make_offline_order
from tests.support.shield import (  # noqa: F401 (fixtures)
    _activated,
    _bound_phone,
    _legal_rep_face,
    _play_face,
    _scan_and_login,
    _ticket_of,
    _to_enterprise_verification,
    ca_ready,
    card,
    corporate_account,
    registered,
)


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


# --- the phone: scanning, logging in with Alipay (the identity sandbox), binding -------------------------------


def test_the_claimant_logs_in_with_the_phone_identity_and_the_claim_is_bound_to_that_account(
    bidder_client: Client, card: Card
) -> None:
    # R3.1: the claim is bound to the Alipay account from here on
    from mobileca.shield.models import PhoneAccount
    from mobileca.shield.sealing import resident_id_digest

    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    phone = Client()
    page = _scan_and_login(phone, ticket, "2088102000000001").content.decode()  # type: ignore[attr-defined]
    assert "请选择证书服务" in page and "企业证书服务" in page
    claim = ClaimSession.objects.get()
    assert (claim.status, claim.claimant_account) == ("bound", "2088102000000001")
    account = PhoneAccount.objects.get()
    assert (account.name, account.resident_id_tail) == ("王建国", "0014")
    assert account.resident_id_digest == resident_id_digest("360202197001010014")
    assert "360202197001010014" not in str(list(PhoneAccount.objects.values_list()))
    # the platform page follows by itself
    assert bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/").json()["status"] == "bound"
    # leaving and scanning again (the same phone) resumes where it stopped (R3.10)
    assert "请选择证书服务" in phone.get(f"/h5/claim/{ticket}/").content.decode()


def test_a_second_person_scanning_the_taken_code_is_refused_and_nothing_changes(
    bidder_client: Client, card: Card
) -> None:
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    _scan_and_login(Client(), ticket, "2088102000000001")
    page = _scan_and_login(Client(), ticket, "2088102000000002")
    assert page.status_code == 403  # type: ignore[attr-defined]
    assert "该证书已由他人申领" in page.content.decode()  # type: ignore[attr-defined]
    assert ClaimSession.objects.get().claimant_account == "2088102000000001"


def test_a_callback_with_another_browsers_state_is_refused(bidder_client: Client, card: Card) -> None:
    # forged assertions (a real wrong key, audience, nonce, age): tests/test_provider_forgery.py
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    # a callback this browser never started
    response = Client().get("/h5/auth/callback/?auth_code=x&state=y")
    assert response.status_code == 400 and "登录已失效" in response.content.decode()
    assert ClaimSession.objects.get(ticket=ticket).status == "waiting"


def test_the_identity_provider_can_add_a_test_person(db: None, settings) -> None:
    from urllib.parse import urlencode

    from mobileca.sandboxes.identity.models import TestPerson

    query = urlencode({"client_id": settings.SANDBOX_IDENTITY["client_id"], "redirect_uri": "http://testserver/x"})
    page = Client().post(
        f"/sandbox/identity/authorize?{query}",
        {"action": "add", "name": "赵六", "resident_id": "360202199001010011", "phone": "13900000009"},
    )
    assert page.status_code == 200 and TestPerson.objects.filter(name="赵六").exists()


# --- after binding: service, enterprise creation against the registry, agreements (R3.2–R3.4) -------------------


def test_enterprise_service_then_creating_the_enterprise_as_on_its_licence_then_agreements(
    bidder_client: Client, registered: Card
) -> None:
    from mobileca.shield.models import AgreementAcceptance, ShieldEnterprise

    phone, ticket = _bound_phone(bidder_client, registered)
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    for label in [
        "请选择证书服务",
        "企业证书服务",
        "办理主体",
        "交易平台",
        "服务有效期",
        "使用人",
        "王建国",
        "立即申领",
    ]:
        assert label in page, label
    page = phone.post(f"/h5/claim/{ticket}/service/", follow=True).content.decode()
    assert "创建企业" in page and "组织名称" in page  # unknown to the service (R3.3)

    # a name that is not exactly the licence's: refused, nothing created
    refused = phone.post(
        f"/h5/claim/{ticket}/enterprise/", {"organisation_name": registered.enterprise.name + "（景德镇）"}
    )
    assert refused.status_code == 400 and "组织名称须与营业执照完全一致" in refused.content.decode()
    assert not ShieldEnterprise.objects.exists() and ClaimSession.objects.get().step == "enterprise"

    page = phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": registered.enterprise.name}, follow=True)
    enterprise = ShieldEnterprise.objects.get()
    assert (enterprise.uscc, enterprise.name, enterprise.legal_representative) == (
        registered.enterprise.uscc,
        registered.enterprise.name,
        "王建国",
    )
    agreements = page.content.decode()
    assert '/h5/agreements/service/2026.1/" target="_blank" rel="noopener">《e签盾服务协议》</a>' in agreements
    assert '/h5/agreements/privacy/2026.1/" target="_blank" rel="noopener">《隐私政策》</a>' in agreements

    # the agreements must really be accepted
    refused = phone.post(f"/h5/claim/{ticket}/agreements/", {})
    assert refused.status_code == 400 and not AgreementAcceptance.objects.exists()
    page = phone.post(f"/h5/claim/{ticket}/agreements/", {"agree": "yes"}, follow=True).content.decode()
    acceptance = AgreementAcceptance.objects.get()
    assert (acceptance.account, acceptance.service_agreement_version, acceptance.privacy_policy_version) == (
        "2088102000000001",
        "2026.1",
        "2026.1",
    )
    assert ClaimSession.objects.get().step == "face" and "人脸识别" in page


def test_an_enterprise_the_registry_does_not_know_cannot_be_created(bidder_client: Client, card: Card) -> None:
    from mobileca.shield.models import ShieldEnterprise

    phone, ticket = _bound_phone(bidder_client, card)
    phone.post(f"/h5/claim/{ticket}/service/")
    refused = phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": card.enterprise.name})
    assert refused.status_code == 400 and "查无此统一社会信用代码" in refused.content.decode()
    assert not ShieldEnterprise.objects.exists() and ClaimSession.objects.get().step == "enterprise"


def test_only_the_claimant_can_take_the_steps(bidder_client: Client, registered: Card) -> None:
    _phone, ticket = _bound_phone(bidder_client, registered)
    stranger = Client()
    assert stranger.post(f"/h5/claim/{ticket}/service/").status_code == 403  # not signed in
    _scan_and_login(stranger, ticket, "2088102000000002")  # signed in as someone else: refused at binding
    assert stranger.post(f"/h5/claim/{ticket}/service/").status_code == 403
    assert ClaimSession.objects.get().step == "service"


def test_a_known_enterprise_skips_creation(
    bidder_client: Client, registered: Card, bidder: User, finance: User
) -> None:
    phone, ticket = _bound_phone(bidder_client, registered)
    phone.post(f"/h5/claim/{ticket}/service/")
    phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": registered.enterprise.name})
    # a second card of the same enterprise
    _, payment = make_offline_order(bidder, token="second")
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    second = Card.objects.exclude(pk=registered.pk).get()
    phone2, ticket2 = _bound_phone(bidder_client, second)
    phone2.post(f"/h5/claim/{ticket2}/service/")
    assert ClaimSession.objects.get(card_ref=second.cert_id).step == "agreement"


# --- the live face check (R3.5) ----------------------------------------------------------------------------------


def _to_face_step(bidder_client: Client, card: Card) -> tuple[Client, str]:
    phone, ticket = _bound_phone(bidder_client, card)
    phone.post(f"/h5/claim/{ticket}/service/")
    phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": card.enterprise.name})
    phone.post(f"/h5/claim/{ticket}/agreements/", {"agree": "yes"})
    assert ClaimSession.objects.get(card_ref=card.cert_id).step == "face"
    return phone, ticket


def test_a_passed_face_check_of_the_claimant_moves_the_claim_to_enterprise_verification(
    bidder_client: Client, registered: Card
) -> None:
    from mobileca.sandboxes.liveness.models import LivenessCheck
    from mobileca.shield.models import FaceCheck

    phone, ticket = _to_face_step(bidder_client, registered)
    page = _play_face(phone, ticket, "pass")
    assert "企业实名认证" in page.content.decode()  # type: ignore[attr-defined]
    assert ClaimSession.objects.get().step == "enterprise_verify"
    assert FaceCheck.objects.get().outcome == "passed"
    # the provider was asked about the claimant, with the resident ID the phone identity gave
    assert LivenessCheck.objects.get().resident_id == "360202197001010014"


def test_a_failed_face_check_is_recorded_and_the_claim_stays_to_try_again(
    bidder_client: Client, registered: Card
) -> None:
    from mobileca.shield.models import FaceCheck

    phone, ticket = _to_face_step(bidder_client, registered)
    page = _play_face(phone, ticket, "fail")
    assert page.status_code == 409 and "人脸识别未通过" in page.content.decode()  # type: ignore[attr-defined]
    assert FaceCheck.objects.get().outcome == "failed" and ClaimSession.objects.get().step == "face"
    _play_face(phone, ticket, "pass")  # a second try
    assert ClaimSession.objects.get().step == "enterprise_verify"


def test_the_resident_id_is_sealed_not_stored_in_clear(bidder_client: Client, registered: Card) -> None:
    from mobileca.shield.models import PhoneAccount

    _bound_phone(bidder_client, registered)
    account = PhoneAccount.objects.get()
    assert b"360202197001010014" not in bytes(account.resident_id_sealed)
    assert len(bytes(account.resident_id_sealed)) > 18


# --- legal representative by face, PIN, activation (R3.6, R3.7) ----------------------------------------------------


def test_the_legal_representative_verifies_by_face_sets_a_pin_and_the_card_activates(
    bidder_client: Client, registered: Card, ca_ready: None, tmp_path
) -> None:
    # R3.6 (法定代表人认证, 人脸认证), R3.7 (PIN, keys, certificates, 服务编号, 服务到期时间)
    import subprocess

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from mobileca.ca.channel import channel_check
    from mobileca.ca.models import IssuedCertificate
    from mobileca.ca.services import certificate_of
    from mobileca.shield.models import Credential, ShieldEnterprise

    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    page = _legal_rep_face(phone, ticket)
    assert "购买成功后需要设置PIN码" in page.content.decode()  # type: ignore[attr-defined]
    enterprise = ShieldEnterprise.objects.get()
    assert enterprise.verified_at and (enterprise.verification_method, enterprise.admin_account) == (
        "legal_rep_face",
        "2088102000000001",
    )

    # weak and mismatched PINs are refused, nothing created
    for pin, again in [("123456", "123456"), ("000000", "000000"), ("12345", "12345"), ("135790", "135791")]:
        refused = phone.post(f"/h5/claim/{ticket}/pin/", {"pin": pin, "pin_again": again})
        assert refused.status_code == 400
    assert not Credential.objects.exists() and ClaimSession.objects.get().step == "pin"

    page = phone.post(
        f"/h5/claim/{ticket}/pin/", {"pin": "135790", "pin_again": "135790"}, follow=True
    ).content.decode()
    assert "开通成功" in page
    credential = Credential.objects.get()
    assert credential.pin_hash.startswith("$argon2id$") and "135790" not in credential.pin_hash
    assert (credential.expires_at - credential.activated_at).days in (365, 366)
    claim = ClaimSession.objects.get()
    assert (claim.status, claim.service_no) == ("activated", credential.service_no)

    # the platform card learns it through the status the page polls (R2.4)
    status = bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/").json()
    assert status["status"] == "activated" and status["service_no"] == credential.service_no
    registered.refresh_from_db()
    assert (registered.status, registered.service_no) == ("active", credential.service_no)
    assert registered.expires_at == credential.expires_at
    assert credential.service_no in bidder_client.get("/ca/cards/").content.decode()

    # real certificates: openssl verifies them, the channel check accepts them, the subject names the claimant
    sign = certificate_of(IssuedCertificate.objects.get(serial_hex=credential.sign_serial))
    assert sign.subject.get_attributes_for_oid(x509.NameOID.GIVEN_NAME)[0].value == "王建国"
    assert channel_check(sign).accepted
    from mobileca.ca.models import Authority

    chain = tmp_path / "chain.pem"
    chain.write_bytes(
        b"".join(certificate_of(a).public_bytes(serialization.Encoding.PEM) for a in Authority.objects.all())
    )
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(sign.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(["openssl", "verify", "-CAfile", str(chain), str(leaf)], capture_output=True, text=True)  # noqa: S603, S607
    assert result.returncode == 0, result.stderr

    # the wrapped keys open only for their credential and usage; nothing in clear
    from mobileca.ca.keys import unwrap_private_key

    key = unwrap_private_key(
        owner_id=f"credential:{credential.service_no}:sign", blob=bytes(credential.sign_key_wrapped)
    )
    assert key.public_key().public_numbers() == sign.public_key().public_numbers()  # type: ignore[union-attr]


def test_a_claimant_who_is_not_the_legal_representative_cannot_choose_legal_rep_verification(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    from mobileca.shield.models import FaceCheck, ShieldEnterprise

    phone, ticket = _to_enterprise_verification(bidder_client, registered, user_id="2088102000000003")  # 张小工
    refused = phone.post(f"/h5/claim/{ticket}/legal-rep/face/")
    assert refused.status_code == 403
    assert "不是该企业登记的法定代表人" in refused.content.decode()
    assert ShieldEnterprise.objects.get().verified_at is None
    assert FaceCheck.objects.filter(purpose="legal_rep").count() == 0
    assert ClaimSession.objects.get().step == "enterprise_verify"


# --- 手机号认证 (R3.6, §7 OTP limits) --------------------------------------------------------------------------------


def _latest_code(phone_number: str = "13907980001") -> str:
    from mobileca.sandboxes.sms.models import Message

    text = Message.objects.filter(phone=phone_number).order_by("-sent_at", "-pk").first().text  # type: ignore[union-attr]
    found = re.search(r"验证码为 (\d{6})", text)
    assert found, text
    return found.group(1)


def test_the_legal_representative_verifies_by_sms_code_then_activates(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks
) -> None:
    from mobileca.shield.models import ShieldEnterprise, SmsChallenge

    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    with django_capture_on_commit_callbacks(execute=True):  # the text leaves after the commit
        page = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": "13907980001"}, follow=True).content.decode()
    assert "已发送至尾号 0001 的手机" in page
    code = _latest_code()
    assert code not in str(list(SmsChallenge.objects.values_list()))  # kept only as a digest
    wrong = "000000" if code != "000000" else "111111"
    refused = phone.post(f"/h5/claim/{ticket}/sms/verify/", {"code": wrong})
    assert refused.status_code == 400 and "验证码错误，还可尝试 4 次" in refused.content.decode()
    assert SmsChallenge.objects.get().attempts == 1 and ClaimSession.objects.get().step == "enterprise_verify"
    page = phone.post(f"/h5/claim/{ticket}/sms/verify/", {"code": code}, follow=True).content.decode()
    assert "购买成功后需要设置PIN码" in page
    assert ShieldEnterprise.objects.get().verification_method == "legal_rep_sms"
    phone.post(f"/h5/claim/{ticket}/pin/", {"pin": "246813", "pin_again": "246813"})
    assert ClaimSession.objects.get().status == "activated"


def test_sms_code_limits_tries_expiry_and_sending_rate(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks
) -> None:
    # §7: 6 digits, valid 5 minutes, at most 5 tries, at most 1 send a minute and 10 a day per phone
    from mobileca.core.errors import ApplicationError
    from mobileca.shield.otp import sms_code_send, sms_code_verify

    _phone, ticket = _to_enterprise_verification(bidder_client, registered)
    account = "2088102000000001"
    with django_capture_on_commit_callbacks(execute=True):
        sms_code_send(ticket=ticket, account=account, phone="13907980001")
    code = _latest_code()
    with pytest.raises(Conflict) as too_soon:
        sms_code_send(ticket=ticket, account=account, phone="13907980001")
    assert too_soon.value.code == "otp_too_frequent"
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(ApplicationError):
            sms_code_verify(ticket=ticket, account=account, code=wrong)
    with pytest.raises(Conflict) as locked:
        sms_code_verify(ticket=ticket, account=account, code=code)  # even the right code, after 5 wrong tries
    assert locked.value.code == "otp_locked" and ClaimSession.objects.get().step == "enterprise_verify"

    with clock.frozen(now() + timedelta(minutes=2)), django_capture_on_commit_callbacks(execute=True):
        sms_code_send(ticket=ticket, account=account, phone="13907980001")
    fresh = _latest_code()
    with clock.frozen(now() + timedelta(minutes=8)):
        with pytest.raises(Conflict) as expired:
            sms_code_verify(ticket=ticket, account=account, code=fresh)
        assert expired.value.code == "otp_expired"
        # ten sends a day at most
        for minute in range(8):
            with clock.frozen(now() + timedelta(minutes=2 * minute + 1)):
                sms_code_send(ticket=ticket, account=account, phone="13907980001")
    with clock.frozen(now() + timedelta(minutes=40)), pytest.raises(Conflict) as daily:
        sms_code_send(ticket=ticket, account=account, phone="13907980001")
    assert daily.value.code == "otp_daily_limit"


def test_a_claimant_who_is_not_the_legal_representative_gets_no_sms(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    from mobileca.sandboxes.sms.models import Message

    phone, ticket = _to_enterprise_verification(bidder_client, registered, user_id="2088102000000003")
    refused = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": "13907980001"})
    assert refused.status_code == 403 and not Message.objects.exists()


# --- after activation ------------------------------------------------------------------------------------------------


def test_the_claimant_sees_and_downloads_the_certificates_others_cannot(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    from cryptography import x509

    from mobileca.shield.models import Credential

    phone, ticket = _activated(bidder_client, registered)
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    for label in ["签名证书", "加密证书", "持有人", "王建国", "统一社会信用代码", registered.enterprise.uscc, "序列号"]:
        assert label in page, label
    assert "有效期" in page and "下载证书" in page
    assert "NTRCN-" not in page and "2.5.4." not in page  # issue 18: plain language, not a DN with dotted OIDs
    pem = phone.get(f"/h5/claim/{ticket}/certificates/sign.pem")
    certificate = x509.load_pem_x509_certificate(pem.content)
    assert f"{certificate.serial_number:x}" == Credential.objects.get().sign_serial
    assert Client().get(f"/h5/claim/{ticket}/certificates/sign.pem").status_code == 403


def test_after_activation_no_one_else_can_bind_the_card(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    # R3.1: no unbind, no transfer, ever
    _phone, ticket = _activated(bidder_client, registered)
    stranger = Client()
    assert "支付宝登录" not in stranger.get(f"/h5/claim/{ticket}/").content.decode()  # nothing to claim any more
    to_provider = stranger.get(f"/h5/claim/{ticket}/login/")  # and going round the page does not help
    back = stranger.post(to_provider["Location"].removeprefix("http://testserver"), {"user_id": "2088102000000002"})
    refused = stranger.get(back["Location"].removeprefix("http://testserver"))
    assert refused.status_code == 403 and "该证书已由他人申领" in refused.content.decode()
    claim = ClaimSession.objects.get()
    assert (claim.status, claim.claimant_account) == ("activated", "2088102000000001")


def test_after_activation_the_database_holds_no_plaintext_private_key(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    # §8
    from django.db import connection

    from mobileca.ca.keys import unwrap_private_key
    from mobileca.shield.models import Credential

    _activated(bidder_client, registered)
    credential = Credential.objects.get()
    secrets_in_memory = []
    for usage, blob in (("sign", credential.sign_key_wrapped), ("encrypt", credential.encrypt_key_wrapped)):
        key = unwrap_private_key(owner_id=f"credential:{credential.service_no}:{usage}", blob=bytes(blob))
        value = key.private_numbers().private_value  # type: ignore[union-attr]
        secrets_in_memory.append(value.to_bytes(32, "big"))
    dump = bytearray()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from the schema
            for row in cursor.fetchall():
                for value in row:
                    dump += bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
    for secret in secrets_in_memory:
        assert secret not in dump and secret.hex().encode() not in dump
    assert b"135790" not in dump  # nor the PIN


def test_a_malformed_credit_code_cannot_create_an_enterprise(db: None) -> None:
    # R3.3: the unified social credit code's check character
    from mobileca.core.errors import InvalidInput
    from mobileca.shield.claims import claim_open, enterprise_create
    from mobileca.shield.models import ShieldEnterprise

    claim = claim_open(card_ref="C1", platform="p", enterprise_name="某公司", enterprise_uscc="91360200MA35A1B20K")
    claim_bind(ticket=claim.ticket, account="2088102000000001")
    with pytest.raises(InvalidInput) as refused:
        enterprise_create(ticket=claim.ticket, account="2088102000000001", organisation_name="某公司")
    assert refused.value.code == "invalid_uscc" and not ShieldEnterprise.objects.exists()


def test_non_ascii_pins_and_states_are_refused_not_a_500(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    from mobileca.shield.models import Credential

    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    _legal_rep_face(phone, ticket)
    for pin, again in [
        ("135790", "13579é"),
        ("١٣٥٧٩٠", "١٣٥٧٩٠"),  # Arabic-Indic digits (full-width ones are read as ASCII: tests/test_secrets.py)
        ("654321", "654321"),
        ("12a456", "12a456"),
    ]:
        assert phone.post(f"/h5/claim/{ticket}/pin/", {"pin": pin, "pin_again": again}).status_code == 400
    assert not Credential.objects.exists()
    phone.get(f"/h5/claim/{ticket}/login/")  # a login under way in this browser
    assert phone.get("/h5/auth/callback/?auth_code=x&state=é").status_code == 400


def test_other_steps_are_refused_to_anyone_but_the_claimant(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    _phone, ticket = _to_enterprise_verification(bidder_client, registered)
    stranger = Client()
    for step in ["pin/", "sms/send/", "sms/verify/", "face/", "legal-rep/face/", "agreements/", "enterprise/"]:
        assert stranger.post(f"/h5/claim/{ticket}/{step}", {"pin": "135790", "pin_again": "135790"}).status_code == 403
    assert ClaimSession.objects.get().step == "enterprise_verify"


def test_the_phone_identity_expires_after_half_an_hour(bidder_client: Client, registered: Card) -> None:
    phone, ticket = _bound_phone(bidder_client, registered)
    with clock.frozen(now() + timedelta(minutes=31)):
        assert phone.post(f"/h5/claim/{ticket}/service/").status_code == 403
    assert ClaimSession.objects.get().step == "service"


def test_a_card_whose_claim_page_was_closed_still_shows_its_activation_on_the_card_list(
    bidder_client: Client, registered: Card, ca_ready: None
) -> None:
    from mobileca.shield.models import Credential

    _activated(bidder_client, registered)  # nobody polls the claim page afterwards
    registered.refresh_from_db()
    assert registered.status == "unclaimed"
    page = bidder_client.get("/ca/cards/").content.decode()
    registered.refresh_from_db()
    assert registered.status == "active" and Credential.objects.get().service_no in page


# --- 对公打款认证: 正向打款 (R3.6, §7) -------------------------------------------------------------------------------


def _received(number: str) -> str:
    from mobileca.sandboxes.bank.models import Transfer

    return f"{Transfer.objects.filter(to_number=number).latest('booked_at').amount:.2f}"


def test_an_employee_verifies_the_enterprise_by_forward_transfer_and_becomes_its_admin(
    bidder_client: Client, registered: Card, corporate_account: str, ca_ready: None
) -> None:
    # R3.6 对公打款认证 (正向打款), R3.9: a claimant who is not the legal representative; the first verifier is admin
    from mobileca.shield.models import ForwardTransfer, ShieldEnterprise

    phone, ticket = _to_enterprise_verification(bidder_client, registered, user_id="2088102000000003")  # 张小工
    form = {"bank_name": "中国工商银行", "account_name": registered.enterprise.name, "account_no": corporate_account}
    page = phone.post(f"/h5/claim/{ticket}/transfer/start/", form, follow=True).content.decode()
    assert "已向尾号 2333 的对公账户打款" in page
    received = _received(corporate_account)
    assert "0.01" <= received <= "0.99"
    account_page = Client().get(f"/sandbox/bank/accounts/{corporate_account}/").content.decode()
    assert f"¥{received}" in account_page  # visible on the bank sandbox's statement
    assert received not in str(list(ForwardTransfer.objects.values_list()))  # only a digest is kept
    wrong = "0.01" if received != "0.01" else "0.02"
    assert phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": wrong}).status_code == 400
    page = phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": received}, follow=True).content.decode()
    assert "购买成功后需要设置PIN码" in page
    enterprise = ShieldEnterprise.objects.get()
    assert (enterprise.verification_method, enterprise.admin_account) == ("forward_transfer", "2088102000000003")


def test_forward_transfer_refusals_third_wrong_amount_expiry_and_wrong_account_name(
    bidder_client: Client, registered: Card, corporate_account: str, ca_ready: None
) -> None:
    # §7: 3 wrong entries fail it (issue 14: and the enterprise's forward transfers for 30 days); 7 days; the account
    # name must be the enterprise's
    from mobileca.sandboxes.bank.models import Transfer
    from mobileca.shield.models import ForwardTransfer, ShieldEnterprise

    phone, ticket = _to_enterprise_verification(bidder_client, registered, user_id="2088102000000003")
    bad_name = {"bank_name": "工行", "account_name": "别的公司", "account_no": corporate_account}
    refused = phone.post(f"/h5/claim/{ticket}/transfer/start/", bad_name)
    assert refused.status_code == 400 and not Transfer.objects.exists() and not ForwardTransfer.objects.exists()

    form = {"bank_name": "工行", "account_name": registered.enterprise.name, "account_no": corporate_account}
    phone.post(f"/h5/claim/{ticket}/transfer/start/", form)
    received = _received(corporate_account)
    wrong = "0.01" if received != "0.01" else "0.02"
    for _ in range(2):
        assert phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": wrong}).status_code == 400
    third = phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": wrong})
    assert third.status_code == 409 and "错误次数已达上限" in third.content.decode()
    assert ForwardTransfer.objects.get().status == "failed" and ShieldEnterprise.objects.get().verified_at is None
    # the right amount no longer helps: that verification is over, and no new one is paid for 30 days
    assert phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": received}).status_code == 409
    assert phone.post(f"/h5/claim/{ticket}/transfer/start/", form).status_code == 409
    assert Transfer.objects.count() == 1

    ForwardTransfer.objects.update(created_at=now() - timedelta(days=31))  # the window has moved on
    phone.post(f"/h5/claim/{ticket}/transfer/start/", form)  # a new one
    fresh = _received(corporate_account)
    # seven days later (the phone signs in again by then; here the deadline is moved instead)
    ForwardTransfer.objects.filter(status="pending").update(expires_at=now() - timedelta(seconds=1))
    expired = phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": fresh})
    assert expired.status_code == 409 and "7 天" in expired.content.decode()
    assert ClaimSession.objects.get().step == "enterprise_verify"


def test_wrong_sms_codes_across_resends_are_capped_per_claim(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks
) -> None:
    from mobileca.shield.models import SmsChallenge
    from mobileca.shield.otp import sms_code_send

    _phone, ticket = _to_enterprise_verification(bidder_client, registered)
    with django_capture_on_commit_callbacks(execute=True):
        sms_code_send(ticket=ticket, account="2088102000000001", phone="13907980001")
    SmsChallenge.objects.update(attempts=15)  # three codes' worth of wrong tries
    with clock.frozen(now() + timedelta(minutes=2)), pytest.raises(Conflict) as refused:
        sms_code_send(ticket=ticket, account="2088102000000001", phone="13907980001")
    assert refused.value.code == "otp_claim_locked" and SmsChallenge.objects.count() == 1


def test_the_service_number_carries_the_beijing_date(bidder_client: Client, registered: Card, ca_ready: None) -> None:
    # 00:30 in Beijing is still the previous day in UTC: the 服务编号 says the Beijing day
    from datetime import datetime

    from mobileca.core.ids import BEIJING
    from mobileca.shield.models import Credential

    with clock.frozen(datetime(2026, 11, 29, 0, 30, tzinfo=BEIJING)):
        _activated(bidder_client, registered)
    assert Credential.objects.get().service_no.startswith("ESD20261129")


def test_forward_transfers_per_claim_are_capped_and_odd_amounts_refused_quickly(
    bidder_client: Client, registered: Card, corporate_account: str, ca_ready: None
) -> None:
    # restarting without end would turn 3 wrong entries of 99 amounts into a guessing game; an exponent is no amount
    from mobileca.shield.models import ForwardTransfer

    phone, ticket = _to_enterprise_verification(bidder_client, registered, user_id="2088102000000003")
    form = {"bank_name": "工行", "account_name": registered.enterprise.name, "account_no": corporate_account}
    odd = phone.post(f"/h5/claim/{ticket}/transfer/start/", form)
    assert odd.status_code == 302
    refused = phone.post(f"/h5/claim/{ticket}/transfer/confirm/", {"amount": "1E+999999999"})
    # issue 14: no amount at all is no guess: refused, not counted
    assert refused.status_code == 400 and ForwardTransfer.objects.get().wrong_entries == 0
    for _ in range(2):
        phone.post(f"/h5/claim/{ticket}/transfer/start/", form)
    capped = phone.post(f"/h5/claim/{ticket}/transfer/start/", form)
    assert capped.status_code == 409 and "次数已达上限" in capped.content.decode()
    assert ForwardTransfer.objects.count() == 3
