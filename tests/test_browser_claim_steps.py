"""The guide's 场景 1 (法人申领) on a phone-sized screen, step by step as the guide draws it (issue 18): the service
chosen from a list, the agreements read, the face, 「选择认证方式」 → 法定代表人认证 → 手机号认证 (the number typed,
a wrong one refused, the countdown, a wrong code's tries left), 「购买成功」, the PIN with its rules, 「开通成功」 with
the certificates in plain words and the way into e签盾. And an old QR's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from tests.factories import UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    LEGAL_REP,
    PIN,
    _allow_orm_beside_playwright_loop,
    browser,
    expect_card_activated,
    gateways_on_live_server,
    log_in,
    open_claim,
    page,
    paid_cards,
    phone_context,
    registered_enterprise,
    scan_and_log_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(phone: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _fits_the_phone(phone: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling, every input and button inside its card."""
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, overflow
    outside = phone.evaluate(
        """() => [...document.querySelectorAll('.box input:not([type=hidden]), .box button, .box a.primary')]
            .filter(el => { const box = el.closest('.box').getBoundingClientRect(), r = el.getBoundingClientRect();
                            return r.left < box.left - 0.5 || r.right > box.right + 0.5; })
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert outside == [], outside


def _unstyled_buttons(phone: Page) -> list[str]:
    """Buttons still drawn as the browser's bare grey ones (no border radius from our styles)."""
    result: list[str] = phone.evaluate(
        """() => [...document.querySelectorAll('button')]
            .filter(b => getComputedStyle(b).borderTopLeftRadius === '0px')
            .map(b => b.textContent.trim())"""
    )
    return result


def test_the_legal_representative_claims_by_phone_number_step_by_step_as_the_guide_draws_it(
    gateways_on_live_server: str, browser: Browser, page: Page
) -> None:
    from mobileca.sandboxes.sms.models import Message
    from mobileca.shield.models import AgreementAcceptance, ShieldEnterprise

    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇瓷都建设工程有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    log_in(page, base, bidder)
    h5_url = open_claim(page, base, cert_id)

    with phone_context(browser) as context:
        phone = context.new_page()
        # ① scan, 支付宝登录 — ② 请选择证书服务: a list, 企业证书服务 chosen, what it includes, 使用人
        scan_and_log_in(phone, h5_url, LEGAL_REP[1])
        service = phone.locator("#services .choice")
        expect(service).to_have_count(1)
        expect(service).to_contain_text("企业证书服务")
        expect(service).to_contain_text("签名证书 + 加密证书")
        expect(service.get_by_role("radio")).to_be_checked()
        expect(phone.locator("#claimant-name")).to_have_text(LEGAL_REP[1])
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-1-service.png")
        phone.get_by_role("button", name="立即申领").click()

        # ③ 创建企业 — ④ the agreements, each a readable text with its version
        expect(phone.get_by_role("heading", name="创建企业")).to_be_visible()
        phone.get_by_label("组织名称").fill(enterprise.name)
        phone.get_by_role("button", name="确定").click()
        expect(phone.get_by_role("heading", name="阅读协议")).to_be_visible()
        _shot(phone, "h5-steps-2-agreements.png")
        with context.expect_page() as opened:
            phone.locator("#agreement-texts").get_by_role("link", name=re.compile("e签盾服务协议")).click()
        agreement = opened.value
        expect(agreement.get_by_role("heading", name="《e签盾服务协议》")).to_be_visible()
        expect(agreement.locator("#agreement-version")).to_have_text("2026.1")
        expect(agreement.locator("#agreement-effective")).to_have_text("2026-01-01")
        _shot(agreement, "h5-steps-2b-service-agreement.png")
        agreement.close()
        phone.get_by_label("我已阅读并同意《e签盾服务协议》《隐私政策》").check()
        phone.get_by_role("button", name="确认").click()

        # ⑤ the claimant's face
        phone.get_by_role("button", name="开始人脸识别").click()
        phone.get_by_role("button", name="通过", exact=True).click()

        # ⑥ 选择认证方式: a real choice, one method per screen
        expect(phone.get_by_role("heading", name="选择认证方式")).to_be_visible()
        expect(phone.get_by_role("button", name="发送验证码")).to_have_count(0)
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-3-choose-method.png")
        phone.get_by_role("link", name="法定代表人认证").click()
        expect(phone.get_by_role("heading", name="法定代表人认证")).to_be_visible()
        expect(phone.get_by_role("button", name="人脸认证")).to_be_visible()
        _shot(phone, "h5-steps-4-legal-rep.png")
        phone.get_by_role("link", name="手机号认证").click()

        # ⑦ 手机号认证: a number that is not the registry's is refused and nothing is sent
        expect(phone.get_by_role("heading", name="手机号认证")).to_be_visible()
        assert _unstyled_buttons(phone) == []
        phone.get_by_label("法定代表人手机号").fill("13907980009")
        phone.get_by_role("button", name="发送验证码").click()
        expect(phone.locator("#claim-error")).to_have_text(
            "该手机号与企业登记的法定代表人手机号不一致，未发送验证码。还可尝试 4 次"
        )
        assert not Message.objects.filter(text__contains="验证码").exists()
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-5-phone-mismatch.png")

        # the registry's number: a code, and the resend counting down
        phone.get_by_label("法定代表人手机号").fill(LEGAL_REP[2])
        phone.get_by_role("button", name="发送验证码").click()
        expect(phone.locator("#sms-state")).to_contain_text("已发送至尾号 0001 的手机")
        resend = phone.locator("#sms-resend")
        expect(resend).to_be_disabled()
        expect(resend).to_have_text(re.compile(r"^\d{1,2} 秒后重发$"))
        assert _unstyled_buttons(phone) == []
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-6-code-sent.png")
        text = Message.objects.get(phone=LEGAL_REP[2]).text
        code = re.search(r"验证码为 (\d{6})", text).group(1)  # type: ignore[union-attr]

        # a wrong code: the tries left
        phone.get_by_label("验证码").fill("000000" if code != "000000" else "111111")
        phone.get_by_role("button", name="确认").click()
        expect(phone.locator("#claim-error")).to_have_text("验证码错误，还可尝试 4 次")
        expect(phone.locator("#sms-tries-left")).to_have_text("还可尝试 4 次")
        _shot(phone, "h5-steps-7-wrong-code.png")
        phone.get_by_label("验证码").fill(code)
        phone.get_by_role("button", name="确认").click()

        # 购买完成 · 购买成功 · 购买成功后需要设置PIN码 · 设置PIN码
        expect(phone.get_by_role("heading", name="购买成功")).to_be_visible()
        expect(phone.get_by_text("购买成功后需要设置PIN码")).to_be_visible()
        expect(phone).to_have_title("购买完成")
        _shot(phone, "h5-steps-8-purchased.png")
        phone.get_by_role("link", name="设置PIN码").click()

        # ⑨ the PIN: its rules up front, checked as typed
        expect(phone.get_by_role("heading", name="设置 PIN 码")).to_be_visible()
        rules = phone.locator("#pin-rules")
        for rule in ["6 位数字", "不能全部是同一个数字", "不能是连续的数字", "两次输入须一致"]:
            expect(rules).to_contain_text(rule)
        phone.get_by_label("PIN 码", exact=True).fill("123456")
        expect(phone.locator("#pin-check")).to_have_text("PIN 码过于简单，请勿使用相同或连续的数字")
        expect(rules.locator('li[data-rule="run"]')).to_have_class("rule-bad")
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-9-pin-rules.png")
        phone.get_by_role("button", name="确认").click()  # refused in the page: nothing posted
        expect(phone.get_by_role("heading", name="设置 PIN 码")).to_be_visible()
        phone.get_by_label("PIN 码", exact=True).fill(PIN)
        phone.get_by_label("再次输入 PIN 码").fill(PIN)
        expect(phone.locator("#pin-check")).to_be_hidden()
        expect(rules.locator("li.rule-ok")).to_have_count(4)
        phone.get_by_role("button", name="确认").click()

        # ⑩ 开通成功: the certificates in plain words, and the way into e签盾
        expect(phone.get_by_role("heading", name="开通成功")).to_be_visible()
        certificates = phone.locator(".box.cert")
        expect(certificates).to_have_count(2)
        expect(certificates.locator(".cert-holder")).to_have_text([LEGAL_REP[1], LEGAL_REP[1]])
        expect(certificates.locator(".cert-enterprise")).to_have_text([enterprise.name, enterprise.name])
        expect(certificates.locator(".cert-usage")).to_have_text(["签名", "加密"])
        expect(phone.locator("body")).not_to_contain_text("CN=")
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-10-activated.png")
        phone.get_by_role("link", name="进入 e签盾").click()
        expect(phone.locator("#home-menu")).to_contain_text("我的证书")
        expect(phone.locator("#home-menu")).to_contain_text("成员管理")  # the first verifier is the admin
        _shot(phone, "h5-steps-11-home.png")

    expect_card_activated(page, cert_id)
    assert ShieldEnterprise.objects.get(uscc=enterprise.uscc).verification_method == "legal_rep_sms"
    acceptance = AgreementAcceptance.objects.get()
    assert (acceptance.service_agreement_version, acceptance.privacy_policy_version) == ("2026.1", "2026.1")


def test_an_old_qr_on_the_phone_says_what_to_do_in_plain_words(
    gateways_on_live_server: str, browser: Browser, page: Page
) -> None:
    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇高岭土矿业有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    log_in(page, base, bidder)
    old_url = open_claim(page, base, cert_id)
    page.get_by_role("button", name="刷新二维码").click()
    expect(page.locator("#h5-scan")).not_to_have_attribute("href", old_url)

    with phone_context(browser) as context:
        phone = context.new_page()
        phone.goto(old_url)
        expect(phone.get_by_role("heading", name="二维码无效")).to_be_visible()
        expect(phone.locator("#old-qr-help")).to_have_text(
            "请在平台「CA 续费申领」页面点击「立即申领」刷新二维码后重新扫码。"
        )
        expect(phone.locator("body")).not_to_contain_text("错误代码")
        expect(phone.get_by_role("link", name="支付宝登录")).to_have_count(0)
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-old-qr.png")

        # the fresh QR opens the claim: 「支付宝登录」 a styled button inside its card
        phone.goto(str(page.locator("#h5-scan").get_attribute("href")))
        login = phone.locator(".box").get_by_role("link", name="支付宝登录")
        expect(login).to_be_visible()
        assert _unstyled_buttons(phone) == [] and login.evaluate("a => getComputedStyle(a).textAlign") == "center"
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-0-scan.png")


def test_without_javascript_the_pin_form_still_states_the_rules_and_the_server_explains_a_refusal(
    gateways_on_live_server: str, browser: Browser
) -> None:
    from mobileca.cards.models import Card
    from mobileca.shield.models import ClaimSession
    from tests.support.shield import claim_at_pin

    enterprise = registered_enterprise("景德镇陶瓷文化旅游发展有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)  # the CA made ready too
    claim = claim_at_pin(Card.objects.get(cert_id=cert_id), LEGAL_REP[0])
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, java_script_enabled=False
    )
    try:
        phone = context.new_page()
        phone.goto(f"{gateways_on_live_server}/h5/login/?next=/h5/claim/{claim.ticket}/pin/")
        phone.get_by_role("button", name=f"以{LEGAL_REP[1]}登录").click()
        expect(phone.get_by_role("heading", name="设置 PIN 码")).to_be_visible()
        expect(phone.locator("#pin-rules")).to_contain_text("不能是连续的数字")
        phone.get_by_label("PIN 码", exact=True).fill("654321")
        phone.get_by_label("再次输入 PIN 码").fill("654321")
        phone.get_by_role("button", name="确认").click()
        expect(phone.locator("#claim-error")).to_have_text("PIN 码过于简单，请勿使用相同或连续的数字")
        expect(phone.locator("#pin-rules")).to_be_visible()
        _fits_the_phone(phone)
        _shot(phone, "h5-steps-pin-refused-without-javascript.png")
        assert ClaimSession.objects.get(pk=claim.pk).status == "bound"
    finally:
        context.close()
