"""The guide's two scenarios on a phone-sized page, through the e签盾 front door (issue 18's "done when").

* 场景 1 法人申领: the bidder opens 「CA 续费申领」 on the desktop, where the card page offers the QR to the phone's
  e签盾 home; 「立即申领」 pops the claim QR up over the page; 王建国 scans it, chooses 企业证书服务, creates the
  enterprise, accepts the agreements, faces the camera, chooses 法定代表人认证 → 手机号认证 with his number and the
  texted code, passes 「购买成功」, sets the PIN and, from 「开通成功」, enters e签盾, where 成员管理 waits for him as
  the enterprise's admin.
* 场景 2 员工申领: an employee scans the second card's QR and sends 「向管理员发送审批申请」; the admin opens the link
  in his text message, signs in, lands in 成员管理 and agrees; the employee opens the link of 「添加成功」, sets the
  PIN, and finds the certificate, in plain words, under 我的证书 in e签盾.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.cards.models import Card, CardStatus
from tests.factories import UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    LEGAL_REP,
    _allow_orm_beside_playwright_loop,
    browser,
    claim_through_face,
    expect_card_activated,
    gateways_on_live_server,
    log_in,
    open_claim,
    page,
    paid_cards,
    phone_context,
    registered_enterprise,
    scan_and_log_in,
    set_pin_and_finish,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMPLOYEE = ("2088102000000004", "刘晓梅", "13907980004")


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _fits(phone: Page) -> None:
    """Nothing on the phone page sticks out sideways."""
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), phone.url


def _texted_link(phone_number: str, contains: str, base: str) -> str:
    """The short e签盾 link at the end of the latest text to ``phone_number`` that says ``contains``."""
    from mobileca.sandboxes.sms.models import Message

    text = Message.objects.filter(phone=phone_number, text__contains=contains).order_by("-pk").first()
    assert text is not None, f"no text to {phone_number} saying {contains}"
    found = re.search(r"(https?://\S+/h5/s/\S+)", text.text)
    assert found and found.group(1).startswith(base), text.text
    return found.group(1)


def _latest_code(phone_number: str) -> str:
    from mobileca.sandboxes.sms.models import Message

    text = Message.objects.filter(phone=phone_number, text__contains="验证码").order_by("-pk").first()
    assert text is not None
    code = re.search(r"\d{6}", text.text)
    assert code, text.text
    return code.group(0)


def test_the_guides_two_scenarios_on_a_phone_through_the_e_signing_home(
    gateways_on_live_server: str, browser: Browser, page: Page
) -> None:
    from mobileca.shield.models import Membership, MembershipStatus

    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇浮梁县瓷业发展有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    first_card, second_card = paid_cards(bidder, 2)
    log_in(page, base, bidder)

    # the desktop card page: the QR to the phone's e签盾 home beside the cards
    page.goto(f"{base}/ca/cards/")
    expect(page.locator("#h5-home svg")).to_be_visible()
    home_url = page.locator("#h5-home-link").get_attribute("href")
    assert home_url and home_url.endswith("/h5/"), home_url

    # --- 场景 1: 法人申领, 手机号认证 ---------------------------------------------------------------------------
    h5_url = open_claim(page, base, first_card)
    expect(page.locator("dialog[open] .qr svg")).to_be_visible()  # 「页面弹出的二维码」: over the card page
    _shot(page, "guide-1-claim-dialog.png")
    with phone_context(browser) as context:
        phone = context.new_page()
        scan_and_log_in(phone, h5_url, LEGAL_REP[1])
        expect(phone.get_by_text("企业证书服务").first).to_be_visible()
        expect(phone.get_by_text(LEGAL_REP[1]).first).to_be_visible()  # 使用人
        _fits(phone)
        claim_through_face(phone, organisation_name=enterprise.name)
        expect(phone.get_by_role("heading", name="企业实名认证")).to_be_visible()
        _fits(phone)
        _shot(phone, "guide-1-choose-method.png")
        phone.get_by_role("link", name="法定代表人认证").click()
        phone.get_by_role("link", name="手机号认证").click()
        phone.get_by_label(re.compile("法定代表人手机号")).fill(LEGAL_REP[2])
        phone.get_by_role("button", name="发送验证码").click()
        expect(phone.get_by_role("button", name=re.compile("秒后重发"))).to_be_disabled()
        phone.get_by_label("验证码").fill(_latest_code(LEGAL_REP[2]))
        phone.get_by_role("button", name="确认").click()
        expect(phone.get_by_role("heading", name="购买成功")).to_be_visible()
        expect(phone.get_by_text("购买成功后需要设置PIN码")).to_be_visible()
        _fits(phone)
        _shot(phone, "guide-1-purchased.png")
        set_pin_and_finish(phone, "guide-1-activated.png")
        expect(phone.locator('.cert[data-usage="sign"] .cert-holder')).to_have_text(LEGAL_REP[1])
        expect(phone.locator('.cert[data-usage="sign"] .cert-uscc')).to_have_text(enterprise.uscc)

        # from 开通成功 into e签盾: the admin's home has 成员管理
        phone.get_by_role("link", name="进入 e签盾").click()
        expect(phone.locator("#home-menu")).to_be_visible()
        expect(phone.locator("#menu-members")).to_be_visible()
        _fits(phone)
        _shot(phone, "guide-1-home.png")
    expect_card_activated(page, first_card)
    # closing the dialog of a finished claim reloads the card page (claim.js); wait for that reload, or the next
    # goto races it and is aborted
    with page.expect_navigation():
        page.keyboard.press("Escape")
    expect(page.locator(f'.card[data-cert-id="{first_card}"]')).to_be_visible()

    # --- 场景 2: 员工申领, the admin approves through the link in his text message -----------------------------
    h5_url = open_claim(page, base, second_card)
    with phone_context(browser) as employee_context, phone_context(browser) as admin_context:
        employee = employee_context.new_page()
        scan_and_log_in(employee, h5_url, EMPLOYEE[1])
        claim_through_face(employee, organisation_name=None)  # the enterprise exists in e签盾, with its admin
        expect(employee.get_by_role("heading", name="等待管理员审批")).to_be_visible()
        employee.get_by_role("button", name="向管理员发送审批申请").click()
        expect(employee.locator("#approval-state")).to_have_text("已发送审批申请，请等待管理员处理。")
        _fits(employee)
        _shot(employee, "guide-2-waiting.png")

        admin = admin_context.new_page()
        admin.goto(_texted_link(LEGAL_REP[2], EMPLOYEE[1], base))
        admin.get_by_role("link", name="支付宝登录").click()
        admin.get_by_role("button", name=f"以{LEGAL_REP[1]}登录").click()
        expect(admin.get_by_role("heading", name="成员管理")).to_be_visible()
        request = admin.locator(f'.request[data-name="{EMPLOYEE[1]}"]')
        expect(request).to_contain_text(f"手机尾号 {EMPLOYEE[2][-4:]}")
        _fits(admin)
        _shot(admin, "guide-2-members.png")
        request.get_by_role("button", name="同意").click()
        expect(admin.locator(f'.member[data-name="{EMPLOYEE[1]}"]')).to_be_visible()

        # 「添加成功」 by text, with its link: it leads the employee back to the claim, on to the PIN
        employee.goto(_texted_link(EMPLOYEE[2], "添加成功", base))
        expect(employee.locator("#member-added")).to_contain_text("添加成功")
        set_pin_and_finish(employee, "guide-2-activated.png")
        employee.get_by_role("link", name="进入 e签盾").click()
        expect(employee.locator("#home-menu")).to_be_visible()
        expect(employee.locator("#menu-members")).to_have_count(0)  # an employee administers nothing
        employee.locator("#home-menu").get_by_role("link", name=re.compile("^我的证书")).click()
        certificate = employee.locator('.cert[data-usage="sign"]').first
        expect(certificate.locator(".cert-holder")).to_have_text(EMPLOYEE[1])
        expect(certificate.locator(".cert-enterprise")).to_have_text(enterprise.name)
        expect(certificate.locator(".cert-uscc")).to_have_text(enterprise.uscc)
        assert "NTRCN-" not in employee.content()
        _fits(employee)
        _shot(employee, "guide-2-my-certificates.png")

    expect_card_activated(page, second_card)
    assert Card.objects.filter(status=CardStatus.ACTIVE).count() == 2
    employee_row = Membership.objects.get(account=EMPLOYEE[0])
    assert (employee_row.role, employee_row.status, employee_row.decided_by) == (
        "member",
        MembershipStatus.ACTIVE,
        LEGAL_REP[0],
    )
