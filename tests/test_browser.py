"""Browser walk through R1.1–R1.6 and R2.1–R2.3 with Debian's Chromium, driven by Playwright's sync API.

A bidder buys a mobile CA, pays by offline remittance (线下汇款) and uploads a voucher; finance confirms the
money in the back office; the bidder then sees the new card in 「CA 续费申领」. Every step clicks the Chinese
labels a real user sees. Run alone with ``pytest -m browser``; set ``MOBILECA_SKIP_BROWSER=1`` to skip where no
Chromium is installed (otherwise a missing Chromium fails the run: ``apt-get install chromium``).
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from mobileca.cards.models import Card, CardStatus
from mobileca.orders.models import Order, OrderStatus, PaymentChannel
from mobileca.payments import views as payment_views
from mobileca.payments.models import Payment, PaymentStatus, RemittanceVoucher, VoucherStatus
from tests.factories import EnterpriseFactory, FinanceFactory, UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    TIMEOUT_MS,
    _allow_orm_beside_playwright_loop,
    browser,
    gateways_on_live_server,
    left_menu,
    log_in,
    open_ca_management,
    page,
)

SELLER = "江西省精彩纵横采购咨询有限公司"
SELLER_ACCOUNT_NO = "36050183015000001234"

# transaction=True: the live server answers from another thread and must see committed rows. (conftest's
# _seed_after_flush puts back the product, the regions and the 财务 group that the flush between tests removes.)
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- what a user does, in the user's words ------------------------------------------------------------------


def log_out(page: Page) -> None:
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()


def open_checkout(page: Page) -> None:
    """「CA 新购」 → 「移动 CA 数字证书」 → 「立即开通」 (R1.2)."""
    left_menu(page, "CA 新购")
    expect(page.get_by_role("heading", name="CA 新购", exact=True)).to_be_visible()
    product = page.locator(".product").filter(has=page.get_by_role("heading", name="移动 CA 数字证书"))
    expect(product).to_have_count(1)
    expect(product).to_contain_text("¥300.00")
    product.get_by_role("link", name="立即开通").click()
    expect(page.get_by_role("heading", name="移动 CA 数字证书", level=1)).to_be_visible()


def choose_guangxi_offline(page: Page) -> None:
    page.get_by_role("radio", name="广西").check()
    page.get_by_role("radio", name="线下汇款").check()


# --- the tests ------------------------------------------------------------------------------------------------


def test_bidder_buys_mobile_ca_by_remittance_finance_confirms_and_the_card_appears(
    live_server, page: Page, tmp_path: Path
) -> None:
    enterprise = EnterpriseFactory()
    bidder = UserFactory(enterprise=enterprise)
    finance = FinanceFactory()
    base = live_server.url

    # Step 2: log in, navigate to the purchase, the payment page (R1.1–R1.6).
    log_in(page, base, bidder)
    expect(page.get_by_role("heading", name="工作台", exact=True)).to_be_visible()
    open_ca_management(page)
    open_checkout(page)

    pay_info = page.locator(".panel").filter(has=page.get_by_role("heading", name="支付信息"))
    expect(pay_info).to_contain_text(f"销售方: {SELLER}")
    expect(pay_info).to_contain_text("收款类型: 移动CA")
    expect(pay_info).to_contain_text("应付金额: ¥300.00")

    regions = page.locator(".panel").filter(has=page.get_by_role("heading", name="选择办理地区"))
    expect(regions).to_contain_text("办理地区不影响投标, 可全国使用")
    expect(regions.get_by_role("radio")).to_have_count(2)
    expect(regions.get_by_role("radio", name="江西")).to_be_enabled()
    expect(regions.get_by_role("radio", name="广西")).to_be_enabled()

    channels = page.locator(".panel").filter(has=page.get_by_role("heading", name="选择支付方式"))
    # R1.6: the three methods
    for method in ("支付宝支付", "微信支付", "线下汇款"):
        expect(channels.get_by_role("radio", name=method, exact=True)).to_be_enabled()

    choose_guangxi_offline(page)
    page.get_by_role("button", name="确认并支付").click()

    # Step 3: remittance instructions and voucher upload (R1.6 线下汇款).
    expect(page.get_by_role("heading", name="线下汇款")).to_be_visible()
    instructions = page.locator("table.kv")
    expect(instructions.get_by_role("row", name="收款账号")).to_contain_text(SELLER_ACCOUNT_NO)
    expect(instructions.get_by_role("row", name="汇款金额")).to_contain_text("¥300.00")
    expect(instructions.get_by_role("row", name="办理地区")).to_contain_text("广西")
    memo = page.locator("#memo-code")
    expect(memo).to_have_text(re.compile(r"^MC[0-9A-Z]{8}$"))
    memo_code = memo.inner_text().strip()
    expect(page.locator(".status")).to_have_text("待支付")

    voucher_file = tmp_path / "转账凭证.pdf"
    voucher_file.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    page.get_by_label(re.compile("上传转账凭证")).set_input_files(voucher_file)
    page.get_by_role("button", name="上传凭证").click()
    expect(page.get_by_role("status")).to_have_text("汇款凭证已上传，财务确认到账后订单将自动完成")
    voucher_row = page.get_by_role("row").filter(has_text=voucher_file.name)
    expect(voucher_row).to_have_count(1)
    expect(voucher_row).to_contain_text("待审核")

    # Step 4: finance confirms the money in the back office.
    log_out(page)
    log_in(page, base, finance)
    page.get_by_role("navigation").get_by_role("link", name="运营后台").click()
    page.get_by_role("complementary").get_by_role("link", name="线下汇款确认").click()
    expect(page.get_by_role("heading", name="线下汇款确认")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=memo_code)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("¥300.00")
    expect(row).to_contain_text(enterprise.name)
    expect(row).to_contain_text(voucher_file.name)
    row.get_by_role("button", name="确认收款").click()
    # the confirmation step states the amount, the payer and the order before money is marked received
    expect(page.get_by_role("heading", name="确认收款")).to_be_visible()
    expect(page.locator(".confirm-facts")).to_contain_text(enterprise.name)
    page.get_by_role("button", name="确认收款").click()
    expect(page.get_by_role("status")).to_have_text("已确认收款，订单已完成")
    expect(page.get_by_role("row").filter(has_text=memo_code)).to_have_count(0)

    # Step 5: the bidder sees the card (R2.1–R2.3).
    log_out(page)
    log_in(page, base, bidder)
    open_ca_management(page)
    left_menu(page, "CA 续费申领")
    expect(page.get_by_role("heading", name="CA 续费申领")).to_be_visible()
    cards = page.locator(".card")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card.get_by_role("heading", name="移动CA数字证书")).to_be_visible()

    def field(label: str) -> str:
        return card.locator(f"dt:text-is('{label}') + dd").inner_text().strip()

    cert_id = field("证书ID")
    assert re.fullmatch(r"\d{17}", cert_id), cert_id
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", field("首次购买时间")), field("首次购买时间")
    assert field("服务到期时间") == "-"
    assert field("服务编号") == "-"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cards.png"), full_page=True)

    card.get_by_role("link", name="购买记录").click()
    expect(page.get_by_role("heading", name="购买记录")).to_be_visible()
    expect(page.get_by_text(f"证书ID：{cert_id}")).to_be_visible()
    order_rows = page.locator("tbody tr")
    expect(order_rows).to_have_count(1)
    cells = order_rows.first.locator("td")
    expect(cells).to_have_text(
        [re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"), "新购", "¥300.00", "线下汇款", "广西", "已支付"]
    )
    page.get_by_role("link", name="返回 CA 续费申领").click()
    expect(page.get_by_role("heading", name="CA 续费申领")).to_be_visible()
    page.locator(".card").first.get_by_role("link", name="立即申领").click()
    expect(page.get_by_role("heading", name="立即申领")).to_be_visible()
    expect(page.get_by_text(f"证书ID：{cert_id}")).to_be_visible()
    # R2.4: the signing service's QR code, with its countdown and a way to refresh it
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^(09:[0-5]\d|10:00)$"))
    expect(page.get_by_role("button", name="刷新二维码")).to_be_visible()

    # The database agrees with what the pages showed.
    order = Order.objects.get()
    assert order.enterprise_id == enterprise.pk
    assert order.created_by_id == bidder.pk
    assert order.amount == Decimal("300.00")
    assert order.channel == PaymentChannel.OFFLINE
    assert order.region.code == "guangxi"
    assert order.status == OrderStatus.PAID
    assert order.paid_at is not None
    assert order.seller_name == SELLER
    payment = Payment.objects.get()
    assert payment.order_id == order.pk
    assert payment.memo_code == memo_code
    assert payment.amount == Decimal("300.00")
    assert payment.status == PaymentStatus.PAID
    voucher = RemittanceVoucher.objects.get()
    assert voucher.payment_id == payment.pk
    assert voucher.status == VoucherStatus.ACCEPTED
    assert voucher.reviewed_by_id == finance.pk
    assert voucher.content_type == "application/pdf"
    card_row = Card.objects.get()
    assert card_row.cert_id == cert_id
    assert card_row.enterprise_id == enterprise.pk
    assert card_row.source_order_no == order.order_no
    assert card_row.status == CardStatus.UNCLAIMED
    assert card_row.expires_at is None
    assert card_row.service_no == ""
    assert order.card_id == card_row.pk


def slow_checkout(monkeypatch: pytest.MonkeyPatch, delay: float) -> list[str]:
    """Make the server take ``delay`` seconds over 「确认并支付」, so a second click lands while the first is in
    flight (as on a slow network). Returns the log of server calls: one "start" and one "end" per request."""
    real_checkout = payment_views.checkout
    calls: list[str] = []

    def slow(**kwargs: Any) -> Order:
        calls.append("start")
        try:
            time.sleep(delay)
            return real_checkout(**kwargs)
        finally:
            calls.append("end")

    monkeypatch.setattr(payment_views, "checkout", slow)
    return calls


# With JavaScript on, the page disables the button after the first click, so the second click sends nothing. With
# JavaScript off nothing stops the second click: two requests with the same form token reach the server at once,
# and its one-order-per-token rule must hold alone.
@pytest.mark.parametrize(
    ("page", "requests_sent"), [(True, 1), (False, 2)], indirect=["page"], ids=["javascript-on", "javascript-off"]
)
def test_double_click_on_confirm_and_pay_makes_exactly_one_order(
    live_server, page: Page, requests_sent: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    bidder = UserFactory(enterprise=EnterpriseFactory())
    log_in(page, live_server.url, bidder)
    open_ca_management(page)
    open_checkout(page)
    choose_guangxi_offline(page)
    server_calls = slow_checkout(monkeypatch, delay=0.5)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    # Two rapid clicks on the same spot. Locator.click would wait for the first navigation to finish; the mouse
    # does not, just like a user's finger.
    box = page.get_by_role("button", name="确认并支付").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    with page.expect_request(lambda request: request.method == "POST"):
        page.mouse.click(x, y)
    page.mouse.click(x, y)

    expect(page.get_by_role("heading", name="线下汇款")).to_be_visible()
    expect(page.locator("#memo-code")).to_have_text(re.compile(r"^MC[0-9A-Z]{8}$"))
    assert len(posts) == requests_sent, posts
    # The browser abandons the first request on the second click, but the server finishes it: wait for that.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while server_calls.count("end") < requests_sent and time.monotonic() < deadline:
        time.sleep(0.05)
    # Both requests reached the server (with JavaScript off) — whether they overlapped depends on the machine's load,
    # and either way the client token must make them one order.
    assert sorted(server_calls) == ["end"] * requests_sent + ["start"] * requests_sent, server_calls

    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    order = Order.objects.get()
    assert order.created_by_id == bidder.pk
    assert order.region.code == "guangxi"
    assert order.status == OrderStatus.PENDING_PAYMENT
    expect(page.get_by_role("heading", name=f"订单 {order.order_no}")).to_be_visible()
    expect(page.locator("#memo-code")).to_have_text(Payment.objects.get().memo_code or "")


@pytest.mark.parametrize(("method", "pay_button"), [("支付宝支付", "确认付款"), ("微信支付", "确认支付")])
def test_bidder_pays_online_in_the_sandbox_cashier_and_the_page_moves_on_to_the_card(
    gateways_on_live_server: str, page: Page, method: str, pay_button: str
) -> None:
    # R1.6, R2.1: QR code with amount and countdown; "scanning" opens the gateway's cashier; once paid the payment
    # page follows by itself and the card appears under 「CA 续费申领」.
    bidder = UserFactory(enterprise=EnterpriseFactory())
    log_in(page, gateways_on_live_server, bidder)
    open_ca_management(page)
    open_checkout(page)
    page.get_by_role("radio", name="江西").check()
    page.get_by_role("radio", name=method, exact=True).check()
    page.get_by_role("button", name="确认并支付").click()

    expect(page.get_by_role("heading", name=method, level=1)).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.locator("#online-pay")).to_contain_text("¥300.00")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^1\d{2}:\d{2}$|^\d{2}:\d{2}$"))
    cashier_url = page.locator("#sandbox-scan").get_attribute("href")
    assert cashier_url and "/sandbox/" in cashier_url

    # The buyer's phone: open the QR code's address (scan), pay as a sandbox buyer.
    phone = page.context.new_page()
    phone.goto(cashier_url)
    expect(phone.locator(".amount")).to_have_text("¥300.00")
    phone.get_by_role("button", name=pay_button).click()
    expect(phone.get_by_role("status")).to_have_text("支付成功")

    # The payment page notices by itself and moves on to the cards.
    expect(page.get_by_role("heading", name="CA 续费申领", exact=True)).to_be_visible()
    card = page.locator(".card")
    expect(card).to_have_count(1)
    expect(card.locator("dd.mono")).to_have_text(re.compile(r"^\d{17}$"))
    order = Order.objects.get()
    assert (order.status, order.channel) == (OrderStatus.PAID, "alipay" if method == "支付宝支付" else "wechat")
    assert Card.objects.count() == 1


@pytest.mark.parametrize("verification", ["face", "sms"])
def test_the_legal_representative_claims_on_the_phone_and_the_card_page_follows_to_activation(
    gateways_on_live_server: str, browser: Browser, page: Page, verification: str
) -> None:
    # R2.4, R3.1–R3.7, R3.10: from the card's 「立即申领」 to 「开通成功」 on a phone-sized screen
    from mobileca.ca.services import ca_init
    from mobileca.payments.services import remittance_confirm
    from mobileca.sandboxes.registry.models import RegisteredEnterprise
    from mobileca.sandboxes.sms.models import Message
    from tests.support.platform import actor_of, make_offline_order

    ca_init()
    enterprise = EnterpriseFactory(name="景德镇瓷都建设工程有限公司")
    RegisteredEnterprise.objects.create(
        uscc=enterprise.uscc,
        name=enterprise.name,
        legal_representative="王建国",
        legal_representative_id="360202197001010014",
        legal_representative_phone="13907980001",
    )
    bidder, finance = UserFactory(enterprise=enterprise), FinanceFactory()
    _, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    cert_id = Card.objects.get().cert_id

    log_in(page, gateways_on_live_server, bidder)
    page.goto(f"{gateways_on_live_server}/ca/cards/")
    page.locator(".card").get_by_role("link", name="立即申领").click()
    expect(page.locator(".qr svg")).to_be_visible()
    h5_url = page.locator("#h5-scan").get_attribute("href")
    assert h5_url

    phone_context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    phone_context.set_default_timeout(TIMEOUT_MS)
    phone = phone_context.new_page()
    try:
        phone.goto(h5_url)
        expect(phone.get_by_text("办理主体")).to_be_visible()
        phone.get_by_role("link", name="支付宝登录").click()
        phone.get_by_role("button", name="以王建国登录").click()
        expect(phone.get_by_role("heading", name="请选择证书服务")).to_be_visible()
        expect(page.locator("#claim-progress")).to_contain_text("申领人已扫码")  # the card page follows by itself
        phone.get_by_role("button", name="立即申领").click()
        phone.get_by_label("组织名称").fill(enterprise.name)
        phone.get_by_role("button", name="确定").click()
        phone.get_by_label("我已阅读并同意《e签盾服务协议》《隐私政策》").check()
        phone.get_by_role("button", name="确认").click()
        phone.get_by_role("button", name="开始人脸识别").click()
        phone.get_by_role("button", name="通过", exact=True).click()
        expect(phone.get_by_role("heading", name="企业实名认证")).to_be_visible()
        phone.get_by_role("link", name="法定代表人认证").click()
        if verification == "face":
            phone.get_by_role("button", name="人脸认证").click()
            phone.get_by_role("button", name="通过", exact=True).click()
        else:
            phone.get_by_role("link", name="手机号认证").click()
            phone.get_by_label("法定代表人手机号").fill("13907980001")
            phone.get_by_role("button", name="发送验证码").click()
            expect(phone.get_by_text("已发送至尾号 0001 的手机")).to_be_visible()
            text = Message.objects.get(phone="13907980001").text
            code = re.search(r"验证码为 (\d{6})", text).group(1)  # type: ignore[union-attr]
            phone.get_by_label("验证码").fill(code)
            phone.get_by_role("button", name="确认").click()
        expect(phone.get_by_role("heading", name="购买成功")).to_be_visible()
        phone.get_by_role("link", name="设置PIN码").click()
        expect(phone.get_by_role("heading", name="设置 PIN 码")).to_be_visible()
        phone.get_by_label("PIN 码", exact=True).fill("135790")
        phone.get_by_label("再次输入 PIN 码").fill("135790")
        phone.get_by_role("button", name="确认").click()
        expect(phone.get_by_role("heading", name="开通成功")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / f"h5-activated-{verification}.png"))
    finally:
        phone_context.close()

    # the platform page moves on by itself, without a reload, and shows 服务编号 and 服务到期时间
    expect(page.locator("#claim-progress")).to_have_text("开通成功")
    card = Card.objects.get(cert_id=cert_id)
    assert card.status == CardStatus.ACTIVE and card.service_no.startswith("ESD")
    expect(page.locator("#claim-result")).to_contain_text(card.service_no)
    expect(page.locator("#claim-result")).to_contain_text(str(card.expires_at.year))
    page.goto(f"{gateways_on_live_server}/ca/cards/")
    expect(page.locator(".card")).to_contain_text(card.service_no)
