"""The e签盾 home on a phone-sized screen (issue 18): the admin's text message carries a short link that, opened on
the phone, asks for the Alipay login and lands in 「成员管理」, where he approves; a person opens the home, 我的证书
in plain language, types a wrong PIN, and finds it in 操作记录. No page overflows the 390-pixel screen."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import Browser, Page, expect

from mobileca.cards.models import Card
from mobileca.shield.models import Credential
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    _allow_orm_beside_playwright_loop,
    browser,
    gateways_on_live_server,
    phone_context,
)
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    activated_credential,
    ca_ready,
    card,
    claim_past_face,
    paid_card,
    registered,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN = ("2088102000000001", "王建国", "13907980001")
EMPLOYEE = ("2088102000000004", "刘晓梅", "13907980004")


def _fits(phone: Page) -> None:
    """Nothing sticks out sideways on the phone's screen."""
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), phone.url


def _shot(phone: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _alipay_login(phone: Page, name: str) -> None:
    phone.get_by_role("link", name="支付宝登录").click()
    phone.get_by_role("button", name=f"以{name}登录").click()


@pytest.fixture
def admin_credential(gateways_on_live_server: str, registered: Card, ca_ready: None) -> Credential:
    """王建国 verified the enterprise on the first card: its admin, with an activated credential."""
    return activated_credential(registered, ADMIN[0])


def test_the_admin_opens_the_texted_link_signs_in_and_approves(
    gateways_on_live_server: str, browser: Browser, admin_credential: Credential, bidder: Any, finance: Any
) -> None:
    from mobileca.sandboxes.sms.models import Message
    from mobileca.shield import members
    from mobileca.shield.claims import claim_of_claimant_locked
    from mobileca.shield.models import Membership

    base = gateways_on_live_server
    claim = claim_past_face(paid_card(bidder, finance, "tok-2"), EMPLOYEE[0])
    with transaction.atomic(durable=True):  # 「向管理员发送审批申请」: the admin is texted after the commit
        members.membership_request(claim=claim_of_claimant_locked(claim.ticket, EMPLOYEE[0]), account=EMPLOYEE[0])
    text = Message.objects.get(phone=ADMIN[2], text__contains="申请加入").text
    found = re.search(r"(https?://\S+/h5/s/\S+)", text)
    assert found and found.group(1).startswith(base), text

    with phone_context(browser) as context:
        phone = context.new_page()
        phone.goto(found.group(1))
        expect(phone.locator("#sign-in-state")).to_be_visible()
        _fits(phone)
        _shot(phone, "h5-link-sign-in.png")
        _alipay_login(phone, ADMIN[1])
        expect(phone.get_by_role("heading", name="成员管理")).to_be_visible()
        assert phone.url == base + "/h5/members/"
        request = phone.locator(f'.request[data-name="{EMPLOYEE[1]}"]')
        expect(request).to_contain_text(f"手机尾号 {EMPLOYEE[2][-4:]}")
        _fits(phone)
        _shot(phone, "h5-members-request.png")
        request.get_by_role("button", name="同意").click()
        expect(phone.locator(".request")).to_have_count(0)
        member = phone.locator(f'.member[data-name="{EMPLOYEE[1]}"]')
        expect(member).to_be_visible()
        assert Membership.objects.get(account=EMPLOYEE[0]).status == "active"

        # 移除 asks first: the confirmation says what happens; nothing happens until it is confirmed
        member.get_by_text("移除", exact=True).click()
        expect(member.get_by_text("其以本企业名义签发的证书将被吊销")).to_be_visible()
        expect(member.get_by_role("button", name="确认移除")).to_be_visible()
        _fits(phone)
        _shot(phone, "h5-members-confirm-remove.png")
        assert Membership.objects.get(account=EMPLOYEE[0]).status == "active"

        # the way home: the menu, with 成员管理 (no request waits any more)
        phone.get_by_role("link", name="首页", exact=True).click()
        expect(phone.locator("#person-name")).to_have_text(ADMIN[1])
        expect(phone.locator("#menu-members")).to_be_visible()
        expect(phone.locator("#menu-members .count")).to_have_count(0)
        _fits(phone)
        _shot(phone, "h5-home-admin.png")

        # a link altered by hand gets a page that says what to do, and a way home
        phone.goto(found.group(1)[:-2] + "zz")
        expect(phone.get_by_role("alert")).to_have_text("该链接无效。")
        expect(phone.locator("#link-help")).to_contain_text("扫描二维码")
        _fits(phone)
        _shot(phone, "h5-link-forged.png")
        phone.get_by_role("link", name="返回 e签盾首页").click()
        expect(phone.locator("#home-menu")).to_be_visible()


def test_a_person_sees_certificates_in_plain_words_and_a_wrong_pin_in_the_records(
    gateways_on_live_server: str, browser: Browser, admin_credential: Credential
) -> None:
    base = gateways_on_live_server
    enterprise_name = admin_credential.claim.enterprise_name
    with phone_context(browser) as context:
        phone = context.new_page()
        phone.goto(base + "/h5/")
        expect(phone.get_by_role("link", name="支付宝登录")).to_be_visible()
        _fits(phone)
        _shot(phone, "h5-home-signed-out.png")
        _alipay_login(phone, ADMIN[1])
        expect(phone.locator("#home-menu")).to_be_visible()

        phone.locator("#home-menu").get_by_role("link", name=re.compile("^我的证书")).click()
        expect(phone.get_by_role("heading", name="我的证书")).to_be_visible()
        credential = phone.locator(f'.credential[data-service-no="{admin_credential.service_no}"]')
        sign = credential.locator('.cert[data-usage="sign"]')
        expect(sign.locator(".cert-holder")).to_have_text(ADMIN[1])
        expect(sign.locator(".cert-enterprise")).to_have_text(enterprise_name)
        expect(sign.locator(".cert-uscc")).to_have_text(admin_credential.enterprise_uscc)
        expect(credential.locator('.cert[data-usage="encrypt"] .cert-usage')).to_have_text("加密")
        expect(credential.locator(".lock-state")).to_have_text("正常")
        expect(phone.locator("#pin-rules")).to_contain_text("6 位数字")
        expect(phone.locator("#pin-rules")).to_contain_text("123456")
        forgot = credential.get_by_role("button", name="忘记 PIN 码（人脸识别后重置）")
        assert forgot.evaluate("b => getComputedStyle(b).borderRadius") == "22px"  # a styled button
        _fits(phone)
        _shot(phone, "h5-credentials.png")

        # a wrong old PIN: refused, counted, and listed in 操作记录
        credential.get_by_text("修改 PIN 码", exact=True).click()
        credential.get_by_label("原 PIN 码").fill("246802")
        credential.get_by_label("新 PIN 码", exact=True).fill("975310")
        credential.get_by_label("再次输入新 PIN 码").fill("975310")
        credential.get_by_role("button", name="确认修改").click()
        expect(phone.get_by_role("alert")).to_contain_text("PIN 码错误，再错 4 次证书将被锁定")
        expect(phone.locator(".lock-state")).to_contain_text("已连续输错 1 次")
        _fits(phone)

        phone.get_by_role("link", name="首页", exact=True).click()
        phone.locator("#home-menu").get_by_role("link", name=re.compile("^操作记录")).click()
        expect(phone.get_by_role("heading", name="操作记录")).to_be_visible()
        wrong = phone.locator('tr.record[data-action="pin_failed"]')
        expect(wrong).to_have_count(1)
        expect(wrong.locator("td.action")).to_contain_text("PIN 码错误")
        expect(wrong).to_contain_text("修改 PIN 码")
        expect(wrong).to_contain_text("127.0.0.1")
        _fits(phone)
        _shot(phone, "h5-records-wrong-pin.png")


def test_the_tool_login_and_a_forgotten_pin_on_the_phone(
    gateways_on_live_server: str, browser: Browser, admin_credential: Credential
) -> None:
    """The other phone pages of e签盾: styled buttons, the PIN rules before a new PIN, and the way back."""
    from mobileca.shield.callers import device_start

    base = gateways_on_live_server
    start = device_start(client_name="投标工具")
    with phone_context(browser) as context:
        phone = context.new_page()
        phone.goto(start.verification_uri_complete)
        _alipay_login(phone, ADMIN[1])
        expect(phone.get_by_role("heading", name="登录命令行工具")).to_be_visible()
        expect(phone.locator("#user-code")).to_have_text(start.user_code)
        deny = phone.get_by_role("button", name="拒绝")
        assert deny.evaluate("b => getComputedStyle(b).width") == phone.get_by_role("button", name="允许").evaluate(
            "b => getComputedStyle(b).width"
        )  # both full width, not a bare browser button
        _fits(phone)
        _shot(phone, "h5-device.png")
        deny.click()
        expect(phone.locator("#device-state")).to_have_text("已拒绝该登录。")

        phone.goto(base + "/h5/credentials/")
        phone.get_by_role("button", name="忘记 PIN 码（人脸识别后重置）").click()
        phone.get_by_role("button", name="通过", exact=True).click()
        expect(phone.get_by_role("heading", name="重置 PIN 码")).to_be_visible()
        expect(phone.get_by_text("人脸识别已通过")).to_be_visible()
        expect(phone.locator("#pin-rules")).to_contain_text("不能全部相同")
        _fits(phone)
        _shot(phone, "h5-pin-reset.png")
        phone.get_by_label("新 PIN 码", exact=True).fill("975310")
        phone.get_by_label("再次输入新 PIN 码").fill("975310")
        phone.get_by_role("button", name="确认").click()
        expect(phone.locator("#done")).to_have_text("PIN 码已重置")
        phone.get_by_role("link", name="返回 e签盾首页").click()
        expect(phone.locator("#home-menu")).to_be_visible()
