"""Issue 18, the platform pages: 「支付成功」 on arrival at 「CA 续费申领」, a declined cashier payment back on the
order, the buyer's 「取消订单」, the workbench once a card is active, the breadcrumb, 「请选择支付方式」 on the page,
the claim panel the dialog shows, and the QR to the phone's e签盾 home."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import segno
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card, CardStatus
from mobileca.core.clock import now
from mobileca.orders.models import Order, OrderStatus
from mobileca.payments.models import Payment, PaymentStatus, RemittanceVoucher
from mobileca.payments.services import remittance_confirm
from mobileca.sandboxes.alipay.models import Notification, Trade
from mobileca.shield.models import ClaimSession
from tests.support import shield as shield_support
from tests.support.gateways import alipay_form, forger_private_pem, signed_notification
from tests.support.payments import alipay_checkout, opened_alipay_order, payment_state, scan_and_pay
from tests.support.platform import PRICE, actor_of, login, make_offline_order

pytestmark = pytest.mark.django_db

ca_ready = shield_support.ca_ready

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _public_url_is_the_test_server(settings) -> None:
    """The return and quit addresses the platform gives Alipay are absolute: on the test client's own host."""
    settings.MOBILECA_PUBLIC_URL = "http://testserver"


def texts(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def order_state(order: Order) -> tuple[object, ...]:
    order.refresh_from_db()
    payment = Payment.objects.get(order=order)
    return (order.status, order.paid_at, order.closed_at, payment.status, payment.paid_at, payment.closed_at)


# --- 1. 支付成功 on arrival --------------------------------------------------------------------------------------


def test_a_paid_order_ends_on_the_cards_page_saying_payment_succeeded(bidder_client, bidder, finance) -> None:
    order, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    arrived = bidder_client.get(f"/ca/orders/{order.order_no}/done/", follow=True)
    assert arrived.redirect_chain == [("/ca/cards/", 302)]
    page = texts(arrived)
    assert "支付成功" in page and order.order_no in page
    assert "立即申领" in page  # the card it bought is there to claim
    # The remittance page of the paid order says so too, and leads to the same arrival.
    remittance = texts(bidder_client.get(f"/ca/orders/{order.order_no}/pay/"))
    assert 'id="remittance-paid"' in remittance and "支付成功" in remittance


def test_an_unpaid_order_is_never_said_to_have_succeeded(bidder_client, bidder) -> None:
    order, _ = make_offline_order(bidder)
    arrived = bidder_client.get(f"/ca/orders/{order.order_no}/done/", follow=True)
    assert arrived.redirect_chain == [(f"/ca/orders/{order.order_no}/pay/", 302)]
    assert "支付成功" not in texts(arrived)
    assert bidder_client.get("/ca/cards/").content.decode().count("支付成功") == 0


def test_a_submitted_remittance_voucher_says_it_waits_for_finance_not_that_it_is_paid(bidder_client, bidder) -> None:
    order, _ = make_offline_order(bidder)
    response = bidder_client.post(
        f"/ca/orders/{order.order_no}/voucher/",
        {"voucher": _pdf("回单.pdf")},
        follow=True,
    )
    page = texts(response)
    assert 'id="remittance-submitted"' in page and "待财务确认" in page
    assert "支付成功" not in page
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_PAYMENT


def _pdf(name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def test_someone_elses_paid_order_is_not_found_on_arrival(bidder, finance, other_bidder) -> None:
    order, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    stranger = login(Client(), other_bidder)
    assert stranger.get(f"/ca/orders/{order.order_no}/done/").status_code == 404


# --- Alipay page pay: the return after paying, the quit after declining --------------------------------------------


def _page_pay_in_cashier(bidder_client: Client, order: Order) -> tuple[Client, str]:
    """「使用支付宝网页支付」: the platform's signed redirect, then Alipay's cashier page (``via=page``)."""
    to_gateway = bidder_client.get(f"/ca/orders/{order.order_no}/alipay-page/")
    assert to_gateway.status_code == 302
    gateway = urlsplit(to_gateway["Location"])
    params = dict(parse_qsl(gateway.query))
    assert params["return_url"] == "http://testserver/ca/payments/alipay/return/"
    assert f"/ca/orders/{order.order_no}/pay/quit/" in params["biz_content"]
    browser = Client()
    to_cashier = browser.get(gateway.path, params)
    assert to_cashier.status_code == 302 and "via=page" in to_cashier["Location"]
    return browser, to_cashier["Location"]


def test_alipay_page_pay_returns_to_the_platform_which_says_payment_succeeded(bidder_client, bidder) -> None:
    order, _ = alipay_checkout(bidder)
    browser, cashier = _page_pay_in_cashier(bidder_client, order)
    assert browser.get(cashier).status_code == 200
    paid = browser.post(cashier, {"action": "pay", "via": "page"})
    assert paid.status_code == 302
    back = urlsplit(paid["Location"])
    assert back.path == "/ca/payments/alipay/return/"
    # The notification is not delivered here (no commit): the return page asks the gateway itself.
    assert Notification.objects.get().attempts == 0
    arrived = bidder_client.get(back.path + "?" + back.query, follow=True)
    assert arrived.redirect_chain[-1] == ("/ca/cards/", 302)
    assert "支付成功" in texts(arrived)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and Card.objects.filter(source_order_no=order.order_no).exists()


def test_a_forged_alipay_return_changes_nothing_and_claims_nothing(bidder_client, bidder) -> None:
    order, payment = opened_alipay_order(bidder)
    before = payment_state(order, payment)
    genuine = alipay_form(payment)
    forged = signed_notification(
        {key: value for key, value in genuine.items() if key in ("app_id", "out_trade_no", "trade_no", "total_amount")},
        forger_private_pem(),
    )
    arrived = bidder_client.get("/ca/payments/alipay/return/", forged, follow=True)
    assert arrived.status_code == 200
    assert "无法确认支付结果" in texts(arrived) and "支付成功" not in texts(arrived)
    assert payment_state(order, payment) == before
    for bare in ({}, {"out_trade_no": payment.out_trade_no, "sign": "not base64!"}):
        refused = bidder_client.get("/ca/payments/alipay/return/", bare, follow=True)
        assert refused.status_code == 200 and "无法确认支付结果" in texts(refused)
    assert payment_state(order, payment) == before


def test_declining_in_the_alipay_cashier_leads_back_to_the_order_still_payable(bidder_client, bidder) -> None:
    order, payment = alipay_checkout(bidder)
    browser, cashier = _page_pay_in_cashier(bidder_client, order)
    browser.get(cashier)
    declined = browser.post(cashier, {"action": "decline", "via": "page"})
    assert declined.status_code == 302
    quit_url = urlsplit(declined["Location"])
    assert quit_url.path == f"/ca/orders/{order.order_no}/pay/quit/"
    back = bidder_client.get(quit_url.path, follow=True)
    assert back.redirect_chain == [(f"/ca/orders/{order.order_no}/pay/", 302)]
    page = texts(back)
    assert "您已在收银台取消付款，订单未支付" in page
    assert "使用支付宝网页支付" in page and "取消订单" in page  # still payable, and cancellable
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (order.status, payment.status) == (OrderStatus.PENDING_PAYMENT, PaymentStatus.PENDING)
    assert Trade.objects.get(out_trade_no=payment.out_trade_no).status == "WAIT_BUYER_PAY"


# --- 3. 取消订单 ---------------------------------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_first_and_changes_nothing_on_get(bidder_client, bidder) -> None:
    order, _ = make_offline_order(bidder)
    before = order_state(order)
    page = texts(bidder_client.get(f"/ca/orders/{order.order_no}/cancel/"))
    assert "确定要取消该订单吗" in page and "确认取消订单" in page
    assert order_state(order) == before


def test_cancelling_an_unpaid_remittance_order(bidder_client, bidder) -> None:
    order, payment = make_offline_order(bidder)
    response = bidder_client.post(f"/ca/orders/{order.order_no}/cancel/", follow=True)
    assert f"订单 {order.order_no} 已取消" in messages_of(response)
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.paid_at, payment.status) == (OrderStatus.CANCELLED, None, PaymentStatus.CLOSED)
    assert order.closed_at is not None and not Card.objects.exists()
    assert AuditEvent.objects.filter(action="order.cancelled", subject=f"order:{order.order_no}").count() == 1
    page = texts(response)
    assert "已取消" in page and 'id="order-cancelled"' in page
    assert "上传凭证" not in page and 'id="cancel-order"' not in page  # not payable, not cancellable again
    # Not payable: a voucher is refused, and nothing is attached.
    refused = bidder_client.post(f"/ca/orders/{order.order_no}/voucher/", {"voucher": _pdf("回单.pdf")}, follow=True)
    assert "该订单已不是待支付状态" in texts(refused)
    assert not RemittanceVoucher.objects.exists()
    # No longer among the pending orders on 「CA 新购」.
    assert order.order_no not in texts(bidder_client.get("/ca/purchase/"))


def test_cancelling_an_alipay_order_closes_its_trade_at_the_gateway_first(bidder_client, bidder) -> None:
    order, payment = opened_alipay_order(bidder)
    bidder_client.post(f"/ca/orders/{order.order_no}/cancel/")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    trade = Trade.objects.get(out_trade_no=payment.out_trade_no)
    assert trade.status == "TRADE_CLOSED"  # the QR code can no longer be paid
    page = texts(bidder_client.get(f"/ca/orders/{order.order_no}/pay/"))
    assert "订单已取消，不能再支付" in page and "<svg" not in page
    assert bidder_client.get(f"/ca/orders/{order.order_no}/alipay-page/").status_code == 409


def test_cancelling_a_wechat_pay_order_closes_its_trade_at_the_gateway_first(bidder_client, bidder) -> None:
    from mobileca.sandboxes.wechatpay.models import Trade as WeChatTrade
    from tests.support.payments import place_wechat_order

    order, payment = place_wechat_order(bidder)
    bidder_client.post(f"/ca/orders/{order.order_no}/cancel/")
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status) == (OrderStatus.CANCELLED, PaymentStatus.CLOSED)
    assert WeChatTrade.objects.get(out_trade_no=payment.out_trade_no).state == "CLOSED"


def test_a_cancelled_renewal_order_lets_the_card_be_renewed_again(bidder_client, bidder, finance) -> None:
    _, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    card = Card.objects.get()
    Card.objects.filter(pk=card.pk).update(status=CardStatus.ACTIVE, service_no="ESD1", expires_at=now())

    def renew(token: str) -> tuple[int, Order]:
        response = bidder_client.post(
            f"/ca/purchase/mobile-ca/?renew={card.cert_id}",
            {"region": "jiangxi", "channel": "offline", "expected_amount": str(PRICE), "client_token": token},
        )
        latest = Order.objects.order_by("-pk").first()
        assert latest is not None
        return response.status_code, latest

    status, first = renew("renew-1")
    assert status == 302 and first.kind == "renewal" and first.status == OrderStatus.PENDING_PAYMENT
    status, latest = renew("renew-2")
    assert status == 400 and latest.pk == first.pk  # refused: a renewal of this card waits for payment
    bidder_client.post(f"/ca/orders/{first.order_no}/cancel/")
    status, second = renew("renew-3")
    assert status == 302
    assert second.pk != first.pk and second.status == OrderStatus.PENDING_PAYMENT


def test_an_order_paid_at_the_gateway_meanwhile_is_not_cancelled_but_paid(bidder_client, bidder) -> None:
    order, payment = opened_alipay_order(bidder)
    assert "支付成功" in scan_and_pay(payment.qr_content)  # paid; its notification not delivered yet
    response = bidder_client.post(f"/ca/orders/{order.order_no}/cancel/", follow=True)
    assert any("已支付成功，不能取消" in text for text in messages_of(response))
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status) == (OrderStatus.PAID, PaymentStatus.PAID)
    assert Trade.objects.get(out_trade_no=payment.out_trade_no).status == "TRADE_SUCCESS"


def test_money_arriving_after_a_cancel_is_kept_for_refund_and_the_order_stays_cancelled(bidder_client, bidder) -> None:
    order, payment = opened_alipay_order(bidder)
    bidder_client.post(f"/ca/orders/{order.order_no}/cancel/")
    from tests.test_alipay import notify

    assert notify(alipay_form(payment)) == "success"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status) == (OrderStatus.CANCELLED, PaymentStatus.PAID_LATE)
    assert not Card.objects.exists()


def test_a_paid_order_cannot_be_cancelled(bidder_client, bidder, finance) -> None:
    order, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    before = order_state(order)
    response = bidder_client.post(f"/ca/orders/{order.order_no}/cancel/", follow=True)
    assert "该订单已支付，不能取消" in messages_of(response)
    assert order_state(order) == before


def test_an_order_with_a_voucher_waiting_for_finance_cannot_be_cancelled(bidder_client, bidder) -> None:
    order, _ = make_offline_order(bidder)
    bidder_client.post(f"/ca/orders/{order.order_no}/voucher/", {"voucher": _pdf("回单.pdf")})
    before = order_state(order)
    response = bidder_client.post(f"/ca/orders/{order.order_no}/cancel/", follow=True)
    assert any("正在等待财务确认，不能取消" in text for text in messages_of(response))
    assert order_state(order) == before


def test_someone_elses_order_cannot_be_cancelled(bidder, other_bidder) -> None:
    order, _ = make_offline_order(bidder)
    before = order_state(order)
    stranger = login(Client(), other_bidder)
    assert stranger.get(f"/ca/orders/{order.order_no}/cancel/").status_code == 404
    assert stranger.post(f"/ca/orders/{order.order_no}/cancel/").status_code == 404
    assert order_state(order) == before


def test_cancelling_twice_says_so_and_changes_nothing(bidder_client, bidder) -> None:
    order, _ = make_offline_order(bidder)
    bidder_client.post(f"/ca/orders/{order.order_no}/cancel/")
    before = order_state(order)
    response = bidder_client.post(f"/ca/orders/{order.order_no}/cancel/", follow=True)
    assert "该订单已关闭或已取消，无需再取消" in messages_of(response)
    assert order_state(order) == before
    assert AuditEvent.objects.filter(action="order.cancelled").count() == 1


# --- 4. the workbench ------------------------------------------------------------------------------------------


def _card(bidder: User, *, status: str, expires_in_days: int | None, number: int) -> Card:
    moment = now()
    return Card.objects.create(
        cert_id=f"2026120400000{number:04d}",
        enterprise=bidder.enterprise,
        product_name="移动CA数字证书",
        source_order_no=f"ORDER{number}",
        status=status,
        first_purchased_at=moment,
        expires_at=moment + timedelta(days=expires_in_days) if expires_in_days is not None else None,
        service_no=f"ESD{number}" if status == CardStatus.ACTIVE else "",
        created_at=moment,
    )


NO_CA_YET = "请通过「投标服务 CA」办理移动 CA"


def test_the_workbench_points_to_the_ca_service_until_a_card_is_active(bidder_client, bidder) -> None:
    assert NO_CA_YET in texts(bidder_client.get("/accounts/workbench/"))
    _card(bidder, status=CardStatus.UNCLAIMED, expires_in_days=None, number=1)
    page = texts(bidder_client.get("/accounts/workbench/"))
    assert NO_CA_YET not in page and "1 张已购买的移动 CA 证书待申领" in page


def test_the_workbench_shows_active_cards_and_the_next_expiry(bidder_client, bidder) -> None:
    _card(bidder, status=CardStatus.ACTIVE, expires_in_days=200, number=1)
    soonest = _card(bidder, status=CardStatus.ACTIVE, expires_in_days=30, number=2)
    _card(bidder, status=CardStatus.UNCLAIMED, expires_in_days=None, number=3)
    page = texts(bidder_client.get("/accounts/workbench/"))
    assert NO_CA_YET not in page
    assert "本企业已开通 2 张移动 CA 证书" in page and "另有 1 张证书待申领" in page
    from django.utils import timezone

    assert f"最近到期：{timezone.localtime(soonest.expires_at):%Y-%m-%d}" in page
    assert 'href="/ca/cards/"' in page


# --- 5. the breadcrumb -----------------------------------------------------------------------------------------


def crumbs(page: str) -> str:
    found = re.search(r'<div class="crumbs">(.*?)</div>', page, re.S)
    assert found, page[:2000]
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_the_breadcrumb_follows_the_page(bidder_client, bidder) -> None:
    order, _ = make_offline_order(bidder)
    assert crumbs(texts(bidder_client.get("/ca/purchase/"))).endswith("CA管理 / 移动CA证书购买")
    assert crumbs(texts(bidder_client.get("/ca/cards/"))).endswith("CA管理 / CA 续费申领")
    assert crumbs(texts(bidder_client.get("/ca/purchase/mobile-ca/"))).endswith(
        "CA管理 / 移动CA证书购买 / 移动 CA 数字证书"
    )
    assert crumbs(texts(bidder_client.get(f"/ca/orders/{order.order_no}/pay/"))).endswith(
        f"移动CA证书购买 / 订单 {order.order_no}"
    )
    assert crumbs(texts(bidder_client.get("/ca/"))).endswith("CA管理")


# --- 6. no 支付方式 ---------------------------------------------------------------------------------------------


def test_confirm_and_pay_without_a_payment_method_says_so_on_the_page(bidder_client) -> None:
    response = bidder_client.post(
        "/ca/purchase/mobile-ca/", {"region": "jiangxi", "expected_amount": str(PRICE), "client_token": "tok-x"}
    )
    assert response.status_code == 400
    page = texts(response)
    shown = re.search(r'<p class="error-message" id="channel-error" role="alert"( hidden)?>请选择支付方式</p>', page)
    assert shown and shown.group(1) is None  # on the page, not hidden
    assert 'name="channel" value="alipay" required' in page  # the browser's own check stays
    assert not Order.objects.exists()


def test_the_channel_message_is_hidden_until_needed(bidder_client) -> None:
    page = texts(bidder_client.get("/ca/purchase/mobile-ca/"))
    assert '<p class="error-message" id="channel-error" role="alert" hidden>请选择支付方式</p>' in page


# --- 7. the claim panel of the dialog, 8. the QR to the phone's home --------------------------------------------


@pytest.fixture
def unclaimed_card(ca_ready: None, bidder, finance) -> Card:
    _, payment = make_offline_order(bidder)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    return Card.objects.get()


def test_the_claim_panel_alone_for_the_dialog(bidder_client, unclaimed_card) -> None:
    panel = bidder_client.get(f"/ca/cards/{unclaimed_card.cert_id}/claim/?panel=1")
    text = texts(panel)
    assert panel.status_code == 200 and "<html" not in text
    assert 'class="qr"' in text and "<svg" in text and 'id="refresh-qr"' in text and 'id="countdown"' in text
    assert 'id="qr-expired" hidden' in text  # still valid: not greyed out
    # The cards page links the card's 「立即申领」 to it and still to the claim page (without JavaScript).
    cards = texts(bidder_client.get("/ca/cards/"))
    claim = f"/ca/cards/{unclaimed_card.cert_id}/claim/"
    assert f'href="{claim}" data-claim-panel="{claim}?panel=1"' in cards and 'id="claim-dialog"' in cards


def test_an_expired_ticket_is_rendered_greyed_out_and_refreshes_in_place(bidder_client, unclaimed_card) -> None:
    url = f"/ca/cards/{unclaimed_card.cert_id}/claim/"
    bidder_client.get(url + "?panel=1")
    claim = ClaimSession.objects.get(card_ref=unclaimed_card.cert_id)
    ClaimSession.objects.filter(pk=claim.pk).update(ticket_expires_at=now() - timedelta(seconds=1))
    expired = texts(bidder_client.get(url + "?panel=1"))
    assert 'class="qr expired"' in expired and 'id="qr-expired">' in expired and "二维码已过期" in expired
    refreshed = bidder_client.post(url, {"panel": "1"})
    assert refreshed.status_code == 200 and "<html" not in texts(refreshed)  # the panel, in place
    fresh = ClaimSession.objects.get(pk=claim.pk)
    assert fresh.ticket != claim.ticket and fresh.ticket_expires_at > now()
    assert 'class="qr"' in texts(refreshed) and fresh.ticket in texts(refreshed)


def test_someone_elses_claim_panel_is_not_found(unclaimed_card, other_bidder) -> None:
    stranger = login(Client(), other_bidder)
    assert stranger.get(f"/ca/cards/{unclaimed_card.cert_id}/claim/?panel=1").status_code == 404
    assert stranger.post(f"/ca/cards/{unclaimed_card.cert_id}/claim/", {"panel": "1"}).status_code == 404
    assert not ClaimSession.objects.exists()


def test_the_cards_page_has_a_qr_to_the_phones_e_signing_home(bidder_client, settings) -> None:
    settings.MOBILECA_DEMO = True
    page = texts(bidder_client.get("/ca/cards/"))
    assert "手机扫码进入 e签盾：我的证书、成员管理、待授权、操作记录、修改 PIN" in page
    home = re.search(r'<div class="h5-home-qr">(.*?)</div>', page, re.S)
    # The QR code is the one of the phone's home address (segno draws the same code for the same address).
    assert home and home.group(1) == segno.make("http://testserver/h5/", error="m").svg_inline(scale=4, border=2)
    assert 'href="http://testserver/h5/" target="_blank" rel="noopener" id="h5-home-link"' in page
