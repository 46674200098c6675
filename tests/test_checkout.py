"""Checkout: 「CA 新购」 → 「立即开通」 → 「确认并支付」 (R1.1–R1.6, §8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.core.errors import InvalidInput, NotFound
from mobileca.core.ids import is_valid_memo_code
from mobileca.orders.models import Order, Product
from mobileca.orders.services import OrderDraft
from mobileca.payments.models import Payment
from mobileca.payments.services import checkout
from tests.support.platform import PRICE, actor_of, login, make_offline_order

CHECKOUT_URL = "/ca/purchase/mobile-ca/"


def _post(client: Client, **overrides: str) -> object:
    form = {"region": "jiangxi", "channel": "offline", "expected_amount": "300.00", "client_token": "t-1"}
    form.update(overrides)
    return client.post(CHECKOUT_URL, form)


def _counts() -> tuple[int, int, int]:
    return Order.objects.count(), Payment.objects.count(), AuditEvent.objects.count()


def test_navigation_labels_lead_from_workbench_to_purchase_page(bidder_client: Client) -> None:
    # R1.1
    workbench = bidder_client.get("/accounts/workbench/").content.decode()
    assert "工作台" in workbench and "投标服务 CA" in workbench and "CA 管理" in workbench
    purchase = bidder_client.get("/ca/purchase/").content.decode()
    assert "移动 CA 数字证书" in purchase and "¥300.00" in purchase and "立即开通" in purchase


def test_payment_page_shows_seller_receipt_type_amount_regions_and_methods(bidder_client: Client) -> None:
    # R1.4, R1.5, R1.6
    page = bidder_client.get(CHECKOUT_URL).content.decode()
    for label in [
        "支付信息",
        "销售方: 江西省精彩纵横采购咨询有限公司",
        "收款类型: 移动CA",
        "¥300.00",
        "选择办理地区",
        "江西",
        "广西",
        "办理地区不影响投标, 可全国使用",
        "选择支付方式",
        "支付宝支付",
        "微信支付",
        "线下汇款",
        "确认并支付",
    ]:
        assert label in page, label


def test_offline_checkout_creates_order_and_payment_from_server_prices(bidder_client: Client, bidder: User) -> None:
    # R1.4, R1.6: the amount, product name and seller come from the server
    response = _post(bidder_client, region="guangxi")
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/ca/orders/{order.order_no}/pay/"
    assert (order.amount, order.region.code, order.channel, order.status) == (
        PRICE,
        "guangxi",
        "offline",
        "pending_payment",
    )
    assert order.seller_name == "江西省精彩纵横采购咨询有限公司" and order.enterprise == bidder.enterprise
    payment = Payment.objects.get(order=order)
    assert payment.amount == PRICE and is_valid_memo_code(payment.memo_code or "")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["order.created", "payment.started"]


def test_remittance_page_shows_bank_account_exact_amount_and_memo(bidder_client: Client) -> None:
    # R1.6
    _post(bidder_client)
    payment = Payment.objects.get()
    page = bidder_client.get(f"/ca/orders/{payment.order.order_no}/pay/").content.decode()
    assert "36050183015000001234" in page and "¥300.00" in page and payment.memo_code in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("expected_amount", "0.01", "应付金额与当前价格不符"),
        ("expected_amount", "abc", "应付金额与当前价格不符"),
        ("expected_amount", "sNaN", "应付金额与当前价格不符"),
        ("expected_amount", "1e30", "应付金额与当前价格不符"),
        ("region", "xizang", "请选择办理地区"),
        ("channel", "bitcoin", "请选择支付方式"),
        ("client_token", "", "页面已过期"),
    ],
)
def test_tampered_or_invalid_checkout_form_is_refused_and_creates_nothing(
    bidder_client: Client, field: str, value: str, message: str
) -> None:
    # §8: amounts come from the server; a tampered form is refused with a clear message
    before = _counts()
    response = _post(bidder_client, **{field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _counts() == before


def test_extra_amount_field_in_form_cannot_change_the_price(bidder_client: Client) -> None:
    # §8: a posted "amount" is ignored; only the product's price is charged
    _post(bidder_client, amount="0.01", price="0.01")
    assert Order.objects.get().amount == PRICE


def test_price_comes_from_the_product_configuration(bidder_client: Client) -> None:
    # R1.4: price configurable per product
    Product.objects.filter(code="mobile-ca").update(price=Decimal("280.00"))
    assert "¥280.00" in bidder_client.get(CHECKOUT_URL).content.decode()
    before = _counts()
    assert _post(bidder_client, expected_amount="300.00").status_code == 400  # the page was stale
    assert _counts() == before
    _post(bidder_client, expected_amount="280.00")
    assert Order.objects.get().amount == Decimal("280.00")


@pytest.mark.django_db
def test_a_product_price_must_be_positive() -> None:
    # R1.4: a zero or negative price can never be configured (orders also refuse amount <= 0)
    from django.core.exceptions import ValidationError

    product = Product.objects.get(code="mobile-ca")
    product.price = Decimal("0.00")
    with pytest.raises(ValidationError):
        product.full_clean()


def test_double_click_on_confirm_makes_one_order(bidder_client: Client) -> None:
    # Issue 2: a double click on 「确认并支付」 makes one order
    first = _post(bidder_client, client_token="same")
    second = _post(bidder_client, client_token="same")
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1 and Payment.objects.count() == 1


def test_unknown_product_is_not_found(bidder_client: Client) -> None:
    assert bidder_client.get("/ca/purchase/no-such-product/").status_code == 404


def test_checkout_service_refuses_unknown_product_without_side_effects(bidder: User) -> None:
    before = _counts()
    with pytest.raises(NotFound):
        checkout(
            draft=OrderDraft(
                user=bidder,
                enterprise=bidder.enterprise,
                product_code="no-such-product",
                region_code="jiangxi",
                channel="offline",
                expected_amount=PRICE,
                client_token="x",
            ),
            actor=actor_of(bidder),
        )
    with pytest.raises(InvalidInput):
        checkout(
            draft=OrderDraft(
                user=bidder,
                enterprise=bidder.enterprise,
                product_code="mobile-ca",
                region_code="jiangxi",
                channel="offline",
                expected_amount=Decimal("299.99"),
                client_token="y",
            ),
            actor=actor_of(bidder),
        )
    assert _counts() == before


def test_another_enterprises_order_is_404_not_a_leak(client: Client, bidder: User, other_bidder: User) -> None:
    # §8: one enterprise never sees another's orders
    order, payment = make_offline_order(bidder)
    login(client, other_bidder)
    for url in [f"/ca/orders/{order.order_no}/pay/", f"/ca/orders/{order.order_no}/voucher/1/"]:
        response = client.get(url)
        assert response.status_code == 404
        assert payment.memo_code not in response.content.decode()


def test_operator_without_enterprise_cannot_buy(finance_client: Client) -> None:
    before = _counts()
    response = finance_client.post(
        CHECKOUT_URL,
        {"region": "jiangxi", "channel": "offline", "expected_amount": "300.00", "client_token": "z"},
    )
    assert response.status_code == 403
    assert _counts() == before


def test_pending_order_is_listed_on_purchase_page_to_continue_paying(bidder_client: Client, bidder: User) -> None:
    order, _ = make_offline_order(bidder)
    page = bidder_client.get("/ca/purchase/").content.decode()
    assert order.order_no in page and "继续支付" in page
