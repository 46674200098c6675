"""The claim's phone pages step by step as the guide draws them (issue 18): 「请选择证书服务」 as a list,
「选择认证方式」 with one screen per method, 手机号认证 with the number typed and checked against the registry,
the resend countdown and the tries left, 「购买成功」 before the PIN with its rules up front, the agreements as
readable versioned texts, and an old QR's page in plain words."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.shield.models import AgreementAcceptance, ClaimSession, SmsChallenge
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    _bound_phone,
    _ticket_of,
    _to_enterprise_verification,
    ca_ready,
    card,
    claim_at_pin,
    corporate_account,
    phone_login,
    registered,
)

RIGHT_PHONE = "13907980001"  # the registry's legal representative's phone (tests.support.shield.register_enterprise)
ERROR_CODE = re.compile(r"错误代码|ticket_unknown|ticket_expired|otp_|not_found")


def _sms_texts() -> list[str]:
    from mobileca.sandboxes.sms.models import Message

    return list(Message.objects.order_by("pk").values_list("text", flat=True))


def _code(text: str) -> str:
    found = re.search(r"验证码为 (\d{6})", text)
    assert found, text
    return found.group(1)


# --- ② 请选择证书服务 -------------------------------------------------------------------------------------------


def test_the_service_is_a_list_to_choose_from_with_what_it_includes_and_the_claimants_name(
    bidder_client: Client, registered: Card
) -> None:
    phone, ticket = _bound_phone(bidder_client, registered)
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    services = re.search(r'<ul class="choices" id="services">(.*?)</ul>', page, re.S)
    assert services, page
    assert 'type="radio" name="service" value="enterprise" checked' in services.group(1)
    for included in ["企业证书服务", "签名证书 + 加密证书", "服务有效期 1年", "景德镇市国有企业阳光采购平台"]:
        assert included in services.group(1), included
    assert re.search(r'<span>使用人</span><span id="claimant-name">王建国</span>', page)


def test_a_service_not_on_the_list_is_refused_and_the_claim_stays(bidder_client: Client, registered: Card) -> None:
    phone, ticket = _bound_phone(bidder_client, registered)
    refused = phone.post(f"/h5/claim/{ticket}/service/", {"service": "personal"})
    assert refused.status_code == 400 and "请选择证书服务" in refused.content.decode()
    assert ClaimSession.objects.get().step == "service"
    phone.post(f"/h5/claim/{ticket}/service/", {"service": "enterprise"})
    assert ClaimSession.objects.get().step == "enterprise"


# --- ⑥ 选择认证方式: one method per screen ------------------------------------------------------------------------


def test_enterprise_verification_opens_on_the_choice_of_two_methods(bidder_client: Client, registered: Card) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert 'data-screen="choose"' in page and "选择认证方式" in page
    assert f'href="/h5/claim/{ticket}/?method=legal_rep"' in page
    assert f'href="/h5/claim/{ticket}/?method=corporate"' in page
    # no method's form on the choice: not the code, not the transfers
    for form in ["sms/send/", "legal-rep/face/", "transfer/start/", "reverse/start/"]:
        assert form not in page, form


@pytest.mark.parametrize(
    ("method", "shown", "not_shown", "back"),
    [
        ("legal_rep", ["人脸认证", "legal-rep/face/", "?method=phone"], ["transfer/start/", "sms/send/"], "choose"),
        ("phone", ["法定代表人手机号", "sms/send/", "发送验证码"], ["legal-rep/face/", "transfer/start/"], "legal_rep"),
        ("corporate", ["?method=forward", "?method=reverse"], ["transfer/start/", "reverse/start/"], "choose"),
        ("forward", ["transfer/start/", "发起打款"], ["reverse/start/", "sms/send/"], "corporate"),
        ("reverse", ["reverse/start/", "获取收款账户"], ["transfer/start/", "sms/send/"], "corporate"),
    ],
)
def test_each_method_has_its_own_screen_with_a_way_back_to_the_choice(
    bidder_client: Client,
    registered: Card,
    method: str,
    shown: list[str],
    not_shown: list[str],
    back: str,
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    page = phone.get(f"/h5/claim/{ticket}/?method={method}").content.decode()
    assert f'data-screen="{method}"' in page
    for part in shown:
        assert part in page, part
    for part in not_shown:
        assert part not in page, part
    assert f'href="/h5/claim/{ticket}/?method={back}"' in page


def test_a_method_under_way_reopens_on_its_own_screen(
    bidder_client: Client, registered: Card, corporate_account: str
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    phone.post(
        f"/h5/claim/{ticket}/transfer/start/",
        {
            "bank_name": "中国工商银行景德镇分行",
            "account_name": registered.enterprise.name,
            "account_no": corporate_account,
        },
    )
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert 'data-screen="forward"' in page and "到账金额（元）" in page
    # the choice stays reachable
    assert 'data-screen="choose"' in phone.get(f"/h5/claim/{ticket}/?method=choose").content.decode()


def test_a_refused_method_explains_on_its_own_screen(bidder_client: Client, registered: Card) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    refused = phone.post(f"/h5/claim/{ticket}/reverse/start/", {"bank_name": "", "account_name": "", "account_no": ""})
    assert refused.status_code == 400
    assert 'data-screen="reverse"' in refused.content.decode() and 'id="claim-error"' in refused.content.decode()


# --- ⑦ 手机号认证 ---------------------------------------------------------------------------------------------


def test_a_phone_number_not_the_registrys_is_refused_counted_and_nothing_is_sent(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    with django_capture_on_commit_callbacks(execute=True):
        refused = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": "13907980009"})
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "该手机号与企业登记的法定代表人手机号不一致，未发送验证码。还可尝试 4 次" in page
    assert 'data-screen="phone"' in page and "13907980009" not in page  # the number typed is not shown back
    assert _sms_texts() == [] and not SmsChallenge.objects.exists()
    assert ClaimSession.objects.get().phone_mismatches == 1
    assert AuditEvent.objects.filter(action="claim.sms_phone_mismatch").count() == 1


def test_after_five_wrong_numbers_the_phone_method_closes_even_for_the_right_one(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    for wrong in range(4):
        phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": f"1390798001{wrong}"})
    fifth = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": "13907980019"})
    assert fifth.status_code == 409 and "手机号核对错误次数过多，请改用其他认证方式" in fifth.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        closed = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": RIGHT_PHONE})
    assert closed.status_code == 409 and "请改用其他认证方式" in closed.content.decode()
    assert _sms_texts() == [] and ClaimSession.objects.get().phone_mismatches == 5


def test_a_malformed_number_is_refused_uncounted(bidder_client: Client, registered: Card) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    for typed in ["", "1390798", "abcdefghijk", "23907980001"]:
        refused = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": typed})
        assert refused.status_code == 400 and "请输入 11 位手机号" in refused.content.decode(), typed
    assert ClaimSession.objects.get().phone_mismatches == 0 and not SmsChallenge.objects.exists()


def test_the_right_number_sends_a_code_and_the_resend_counts_down_sixty_seconds(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    typed = "１３９０７９８０００１"  # full-width digits, as a Chinese input method types them
    with clock.frozen(now()), django_capture_on_commit_callbacks(execute=True):  # the page seen at the send's moment
        sent = phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": typed}, follow=True)
    page = sent.content.decode()
    assert "验证码已发送至尾号 0001 的手机" in page and len(_sms_texts()) == 1
    resend = re.search(r'<button class="secondary" type="submit" id="sms-resend"([^>]*)>([^<]*)</button>', page)
    assert resend and resend.groups() == (' data-seconds="60" disabled', "60 秒后重发"), page

    challenge = SmsChallenge.objects.get()
    with clock.frozen(challenge.sent_at + timedelta(seconds=45)):
        page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert 'data-seconds="15" disabled>15 秒后重发' in page

    with clock.frozen(challenge.sent_at + timedelta(seconds=61)):
        page = phone.get(f"/h5/claim/{ticket}/").content.decode()
        assert 'data-seconds="0">重新发送</button>' in page
        with django_capture_on_commit_callbacks(execute=True):
            resent = phone.post(f"/h5/claim/{ticket}/sms/send/", {"resend": "yes"})
    assert resent.status_code == 302 and len(_sms_texts()) == 2 and SmsChallenge.objects.count() == 2
    assert all(_code(text) for text in _sms_texts())  # both to the confirmed number, each with a code


def test_a_resend_before_a_first_send_is_refused_and_sends_nothing(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    with django_capture_on_commit_callbacks(execute=True):
        refused = phone.post(f"/h5/claim/{ticket}/sms/send/", {"resend": "yes"})
    assert refused.status_code == 409 and "请输入法定代表人手机号后获取验证码" in refused.content.decode()
    assert _sms_texts() == [] and not SmsChallenge.objects.exists()


def test_a_wrong_code_shows_the_tries_left(
    bidder_client: Client, registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    phone, ticket = _to_enterprise_verification(bidder_client, registered)
    with django_capture_on_commit_callbacks(execute=True):
        phone.post(f"/h5/claim/{ticket}/sms/send/", {"phone": RIGHT_PHONE})
    code = _code(_sms_texts()[-1])
    wrong = "000000" if code != "000000" else "111111"
    first = phone.post(f"/h5/claim/{ticket}/sms/verify/", {"code": wrong}).content.decode()
    assert "验证码错误，还可尝试 4 次" in first
    second = phone.post(f"/h5/claim/{ticket}/sms/verify/", {"code": wrong}).content.decode()
    assert "验证码错误，还可尝试 3 次" in second and 'id="sms-tries-left">还可尝试 3 次' in second
    assert SmsChallenge.objects.get().attempts == 2 and ClaimSession.objects.get().step == "enterprise_verify"


# --- 购买成功, then the PIN with its rules ---------------------------------------------------------------------------


def test_verification_leads_to_purchase_success_then_the_pin_form_with_its_rules(
    registered: Card, ca_ready: None
) -> None:
    claim = claim_at_pin(registered)
    phone = phone_login(LEGAL_REP)
    page = phone.get(f"/h5/claim/{claim.ticket}/").content.decode()
    assert "<title>购买完成</title>" in page and ">购买成功</h2>" in page and "购买成功后需要设置PIN码" in page
    assert f'href="/h5/claim/{claim.ticket}/pin/">设置PIN码</a>' in page
    assert 'name="pin"' not in page  # the form is one step on

    form = phone.get(f"/h5/claim/{claim.ticket}/pin/").content.decode()
    assert "设置 PIN 码" in form and 'name="pin"' in form and 'name="pin_again"' in form
    rules = re.search(r'<div class="warn" id="pin-rules">(.*?)</div>', form, re.S)
    assert rules, form
    for rule in ["6 位数字", "不能全部是同一个数字", "不能是连续的数字（如 123456、654321）", "两次输入须一致"]:
        assert rule in rules.group(1), rule
    assert 'addEventListener("input", show)' in form  # checked as typed with JavaScript


@pytest.mark.parametrize(
    ("pin", "again", "message"),
    [
        ("111111", "111111", "PIN 码过于简单，请勿使用相同或连续的数字"),
        ("345678", "345678", "PIN 码过于简单，请勿使用相同或连续的数字"),
        ("246813", "246812", "两次输入的 PIN 码不一致"),
        ("12345", "12345", "PIN 码须为 6 位数字（0–9）"),
    ],
)
def test_without_javascript_the_servers_refusal_explains_on_the_pin_form(
    registered: Card, ca_ready: None, pin: str, again: str, message: str
) -> None:
    claim = claim_at_pin(registered)
    phone = phone_login(LEGAL_REP)
    refused = phone.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": pin, "pin_again": again})
    page = refused.content.decode()
    assert refused.status_code == 400 and message in page
    assert 'id="pin-rules"' in page and 'name="pin_again"' in page  # still the form, rules in view
    assert ClaimSession.objects.get().status == "bound"


# --- 《e签盾服务协议》《隐私政策》 ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "title"), [("service", "e签盾服务协议"), ("privacy", "隐私政策")])
def test_each_agreement_is_a_readable_text_with_its_version_and_effective_date(db: None, name: str, title: str) -> None:
    for address in [f"/h5/agreements/{name}/", f"/h5/agreements/{name}/2026.1/"]:
        answer = Client().get(address)
        page = answer.content.decode()
        assert answer.status_code == 200, address
        assert f"《{title}》" in page
        assert '<span id="agreement-version">2026.1</span>' in page
        assert '<span id="agreement-effective">2026-01-01</span>' in page
        assert len(re.sub(r"<[^>]+>|\s", "", page.split('id="agreement-text"')[1])) > 300  # a text, not a stub


def test_an_unknown_agreement_or_version_is_a_plain_not_found(db: None) -> None:
    for address in ["/h5/agreements/terms/", "/h5/agreements/service/1999.1/"]:
        answer = Client().get(address)
        assert answer.status_code == 404 and "未找到该协议或该版本" in answer.content.decode()
        assert not ERROR_CODE.search(answer.content.decode())


def test_the_versions_shown_are_the_versions_recorded(bidder_client: Client, registered: Card) -> None:
    phone, ticket = _bound_phone(bidder_client, registered)
    phone.post(f"/h5/claim/{ticket}/service/")
    phone.post(f"/h5/claim/{ticket}/enterprise/", {"organisation_name": registered.enterprise.name})
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert 'name="service_agreement_version" value="2026.1"' in page
    assert 'name="privacy_policy_version" value="2026.1"' in page
    assert "版本 2026.1 · 2026-01-01 起生效" in page

    # a version the page no longer shows (the text changed while the claimant read): refused, nothing recorded
    outdated = {"agree": "yes", "service_agreement_version": "2025.1", "privacy_policy_version": "2026.1"}
    refused = phone.post(f"/h5/claim/{ticket}/agreements/", outdated)
    assert refused.status_code == 409 and "协议已更新，请阅读最新版本后再同意" in refused.content.decode()
    assert not AgreementAcceptance.objects.exists() and ClaimSession.objects.get().step == "agreement"

    shown = {"agree": "yes", "service_agreement_version": "2026.1", "privacy_policy_version": "2026.1"}
    phone.post(f"/h5/claim/{ticket}/agreements/", shown)
    acceptance = AgreementAcceptance.objects.get()
    assert acceptance.claim == ClaimSession.objects.get()
    assert (acceptance.service_agreement_version, acceptance.privacy_policy_version) == ("2026.1", "2026.1")


# --- an old QR ---------------------------------------------------------------------------------------------------


def test_an_unknown_or_refreshed_qr_explains_what_to_do_without_codes(bidder_client: Client, card: Card) -> None:
    old = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    bidder_client.post(f"/ca/cards/{card.cert_id}/claim/")
    assert ClaimSession.objects.get().ticket != old
    for ticket in [old, "never-issued"]:
        for address in [f"/h5/claim/{ticket}/", f"/h5/claim/{ticket}/login/"]:
            answer = Client().get(address)
            page = answer.content.decode()
            assert answer.status_code == 404, address
            assert "二维码无效" in page
            assert "请在平台「CA 续费申领」页面点击「立即申领」刷新二维码后重新扫码" in page
            assert not ERROR_CODE.search(page), address


def test_an_expired_qr_explains_what_to_do_without_codes(bidder_client: Client, card: Card) -> None:
    ticket = _ticket_of(bidder_client.get(f"/ca/cards/{card.cert_id}/claim/").content.decode())
    with clock.frozen(now() + timedelta(minutes=11)):
        page = Client().get(f"/h5/claim/{ticket}/").content.decode()
    assert "二维码已过期" in page and "请在平台「CA 续费申领」页面点击「立即申领」刷新二维码后重新扫码" in page
    assert "支付宝登录" not in page and not ERROR_CODE.search(page)


# --- 开通成功 ------------------------------------------------------------------------------------------------------


def test_activation_shows_plain_certificates_and_the_way_into_the_shield(registered: Card, ca_ready: None) -> None:
    claim = claim_at_pin(registered)
    phone = phone_login(LEGAL_REP)
    phone.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": "246813", "pin_again": "246813"})
    page = phone.get(f"/h5/claim/{claim.ticket}/").content.decode()
    assert ">开通成功</h2>" in page
    assert '<a class="button primary" id="enter-shield" href="/h5/">进入 e签盾</a>' in page
    assert page.count('class="box cert"') == 2 and "签名证书" in page and "加密证书" in page
    assert registered.enterprise.uscc in page and "王建国" in page
    assert "2.5.4." not in page and "CN=" not in page  # no DNs, no dotted OIDs


@pytest.mark.django_db
def test_a_refusal_at_the_boundary_on_a_phone_page_says_what_it_is_in_plain_words() -> None:
    # a form with a NUL in it is refused before any view runs: on the phone's pages in the phone's own words, with a
    # way home, and without the desktop error page's 「错误代码」
    response = Client().post("/h5/claim/unknown-ticket/enterprise/", {"organisation_name": "瓷都\x00"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "错误代码" not in page and "返回 e签盾首页" in page
