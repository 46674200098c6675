"""Issue 18, the platform pages in Chromium: paying in the Alipay sandbox's cashier ends on 「CA 续费申领」 with
「支付成功」; declining there leads back to the order, still payable; 「取消订单」 with its confirmation; 「确认并支付」
without a 支付方式 says so on the page; the claim QR pops up over the cards page, greys out when it expires and
refreshes in place; the workbench once a card is active; the card page's QR to the phone's e签盾 home."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.cards.models import Card, CardStatus
from mobileca.core.clock import now
from mobileca.orders.models import Order, OrderStatus
from mobileca.payments.models import Payment, PaymentStatus
from mobileca.shield import facade as shield
from mobileca.shield.models import ClaimSession
from tests.factories import EnterpriseFactory, UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    _allow_orm_beside_playwright_loop,
    browser,
    gateways_on_live_server,
    log_in,
    open_claim,
    page,
    paid_cards,
    phone_context,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def bidder() -> User:
    user: User = UserFactory(enterprise=EnterpriseFactory(name="景德镇市瓷都建设有限公司"))
    return user


def alipay_order(page: Page, base: str) -> Order:
    """「CA 新购」 → 「立即开通」 → 支付宝支付 → 「确认并支付」: the payment page with its QR code."""
    page.goto(base + "/ca/purchase/")
    page.get_by_role("link", name="立即开通").click()
    page.get_by_role("radio", name="支付宝支付").check()
    page.get_by_role("button", name="确认并支付").click()
    expect(page.locator("#online-pay .qr svg")).to_be_visible()
    return Order.objects.get()


def test_paying_in_the_alipay_cashier_ends_on_the_cards_page_saying_payment_succeeded(
    page: Page, gateways_on_live_server: str
) -> None:
    base = gateways_on_live_server
    user = bidder()
    log_in(page, base, user)
    order = alipay_order(page, base)
    page.get_by_role("link", name="使用支付宝网页支付").click()
    expect(page.get_by_role("heading", name="支付宝沙箱收银台")).to_be_visible()
    page.get_by_role("button", name="确认付款").click()
    # Back on the platform: 「CA 续费申领」, 「支付成功」, and the card it bought.
    expect(page.get_by_role("heading", name="CA 续费申领", level=1)).to_be_visible()
    expect(page.locator(".msg.success")).to_contain_text("支付成功")
    expect(page.locator(".msg.success")).to_contain_text(order.order_no)
    expect(page.locator(".crumbs")).to_contain_text("CA管理 / CA 续费申领")
    expect(page.locator(".card")).to_have_count(1)
    shot(page, "platform-alipay-paid-cards.png")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_declining_in_the_alipay_cashier_leads_back_to_the_order_still_payable(
    page: Page, gateways_on_live_server: str
) -> None:
    base = gateways_on_live_server
    log_in(page, base, bidder())
    order = alipay_order(page, base)
    page.get_by_role("link", name="使用支付宝网页支付").click()
    page.get_by_role("button", name="取消付款").click()
    expect(page.locator(".msg.warning")).to_have_text(
        "您已在收银台取消付款，订单未支付。可在支付截止前重新支付，或取消订单。"
    )
    expect(page.locator("#order-status")).to_have_text("待支付")
    expect(page.get_by_role("link", name="使用支付宝网页支付")).to_be_visible()
    expect(page.get_by_role("link", name="取消订单")).to_be_visible()
    expect(page.locator(".crumbs")).to_contain_text(f"移动CA证书购买 / 订单 {order.order_no}")
    shot(page, "platform-alipay-declined.png")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert Payment.objects.get(order=order).status == PaymentStatus.PENDING


def test_cancelling_a_pending_order_after_confirming(page: Page, gateways_on_live_server: str) -> None:
    base = gateways_on_live_server
    log_in(page, base, bidder())
    order = alipay_order(page, base)
    page.goto(base + "/ca/purchase/")
    pending = page.get_by_role("row").filter(has_text=order.order_no)
    expect(pending.get_by_role("link", name="继续支付")).to_be_visible()
    shot(page, "platform-pending-orders.png")
    pending.get_by_role("link", name="取消订单").click()
    expect(page.get_by_role("heading", name="取消订单", level=1)).to_be_visible()
    expect(page.get_by_text("确定要取消该订单吗？")).to_be_visible()
    shot(page, "platform-cancel-confirm.png")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT  # asking is not cancelling
    page.get_by_role("button", name="确认取消订单").click()
    expect(page.locator(".msg.success")).to_have_text(f"订单 {order.order_no} 已取消")
    expect(page.locator("#order-status")).to_have_text("已取消")
    expect(page.locator("#order-cancelled")).to_contain_text("不能再支付")
    expect(page.locator("#online-pay .qr")).to_have_count(0)
    expect(page.get_by_role("link", name="使用支付宝网页支付")).to_have_count(0)
    shot(page, "platform-cancelled.png")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_confirm_and_pay_without_a_payment_method_says_so_on_the_page(page: Page, live_server) -> None:
    log_in(page, live_server.url, bidder())
    page.goto(live_server.url + "/ca/purchase/mobile-ca/")
    expect(page.locator("#channel-error")).to_be_hidden()
    page.get_by_role("button", name="确认并支付").click()
    expect(page.locator("#channel-error")).to_be_visible()
    expect(page.locator("#channel-error")).to_have_text("请选择支付方式")
    expect(page.get_by_role("button", name="确认并支付")).to_be_enabled()  # not stuck disabled
    expect(page.locator(".crumbs")).to_contain_text("CA管理 / 移动CA证书购买")
    shot(page, "platform-no-channel.png")
    assert not Order.objects.exists()
    page.get_by_role("radio", name="线下汇款").check()
    expect(page.locator("#channel-error")).to_be_hidden()


def test_the_claim_qr_pops_up_over_the_cards_page_greys_out_on_expiry_and_refreshes_in_place(
    page: Page, live_server
) -> None:
    base = live_server.url
    user = bidder()
    [cert_id] = paid_cards(user, 1)
    enterprise = user.enterprise
    assert enterprise is not None
    shield.claim_open(card_ref=cert_id, enterprise_name=enterprise.name, enterprise_uscc=enterprise.uscc)
    ClaimSession.objects.filter(card_ref=cert_id).update(ticket_expires_at=now() + timedelta(seconds=4))
    old_ticket = ClaimSession.objects.get(card_ref=cert_id).ticket
    log_in(page, base, user)
    h5_url = open_claim(page, base, cert_id)  # the helper every claim walk uses: the QR code, the scan link
    assert old_ticket in h5_url
    dialog = page.locator("#claim-dialog")
    expect(dialog).to_be_visible()
    expect(page).to_have_url(base + "/ca/cards/")  # over the cards page, not another page
    expect(dialog.locator(".qr svg")).to_be_visible()
    shot(page, "platform-claim-dialog.png")
    # It expires: greyed out, 「二维码已过期」, the refresh button.
    expect(dialog.locator("#qr-expired")).to_be_visible()
    expect(dialog.locator("#qr-expired")).to_contain_text("二维码已过期")
    expect(dialog.locator(".qr")).to_have_class("qr expired")
    expect(dialog.locator(".countdown-line")).to_have_text("二维码已过期", use_inner_text=True)
    expect(dialog.locator("#refresh-qr")).to_be_visible()
    shot(page, "platform-claim-dialog-expired.png")
    dialog.locator("#refresh-qr").click()
    expect(dialog.locator("#qr-expired")).to_be_hidden()
    expect(dialog.locator(".qr")).to_have_class("qr")
    expect(dialog.locator("#countdown")).to_have_text(re.compile(r"^(09|10):\d\d$"))
    expect(page).to_have_url(base + "/ca/cards/")
    new_ticket = ClaimSession.objects.get(card_ref=cert_id).ticket
    assert new_ticket != old_ticket
    assert new_ticket in (dialog.locator("#h5-scan").get_attribute("href") or "")
    shot(page, "platform-claim-dialog-refreshed.png")
    dialog.get_by_role("button", name="关闭").click()
    expect(dialog).to_be_hidden()


@pytest.mark.parametrize("page", [False], indirect=True, ids=["no-javascript"])
def test_without_javascript_the_claim_link_still_opens_the_claim_page(page: Page, live_server) -> None:
    user = bidder()
    [cert_id] = paid_cards(user, 1)
    log_in(page, live_server.url, user)
    page.goto(live_server.url + "/ca/cards/")
    page.get_by_role("link", name="立即申领").click()
    expect(page).to_have_url(f"{live_server.url}/ca/cards/{cert_id}/claim/")
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.locator(".crumbs")).to_contain_text("CA 续费申领 / 立即申领")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^(09:5\d|10:00)$"))  # the server's own count
    shot(page, "platform-claim-page-nojs.png")


def test_the_workbench_shows_the_active_cards_instead_of_pointing_to_the_ca_service(page: Page, live_server) -> None:
    user = bidder()
    log_in(page, live_server.url, user)
    expect(page.get_by_text("请通过「投标服务 CA」办理移动 CA")).to_be_visible()
    paid_cards(user, 2)
    expires = now() + timedelta(days=90)
    first = Card.objects.order_by("pk").first()
    assert first is not None
    Card.objects.filter(pk=first.pk).update(status=CardStatus.ACTIVE, service_no="ESD0001", expires_at=expires)
    page.reload()
    box = page.locator("#workbench-cards")
    expect(box).to_contain_text("本企业已开通 1 张移动 CA 证书")
    expect(box).to_contain_text(f"最近到期：{timezone.localtime(expires):%Y-%m-%d}")
    expect(box).to_contain_text("另有 1 张证书待申领")
    expect(page.get_by_text("请通过「投标服务 CA」办理移动 CA")).to_have_count(0)
    shot(page, "platform-workbench.png")
    box.get_by_role("link", name="查看证书（CA 续费申领）").click()
    expect(page.get_by_role("heading", name="CA 续费申领", level=1)).to_be_visible()


def test_the_card_page_qr_leads_the_phone_to_its_e_signing_home(
    page: Page, browser: Browser, gateways_on_live_server: str, settings
) -> None:
    settings.MOBILECA_DEMO = True
    base = gateways_on_live_server
    user = bidder()
    paid_cards(user, 1)
    log_in(page, base, user)
    page.goto(base + "/ca/cards/")
    home = page.locator("#h5-home")
    expect(home).to_contain_text("手机扫码进入 e签盾：我的证书、成员管理、待授权、操作记录、修改 PIN")
    expect(home.locator(".h5-home-qr svg")).to_be_visible()
    shot(page, "platform-cards-h5-home.png")
    href = home.get_by_role("link", name="在手机页面中打开 e签盾").get_attribute("href")
    assert href == base + "/h5/"
    with phone_context(browser) as phone_browser:
        phone = phone_browser.new_page()
        phone.goto(href)
        expect(phone.locator("body")).to_contain_text("e签盾")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / "platform-phone-h5-home.png"), full_page=True)
