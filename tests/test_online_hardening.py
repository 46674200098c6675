"""What a deployment, a forger or a badly timed close can do to the online channels (R1.6, R1.7, §8)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.services import Actor
from mobileca.cards.models import Card
from mobileca.core.errors import FinalGatewayError, RetryableGatewayError
from mobileca.orders.models import Order
from mobileca.payments import opening, query
from mobileca.payments.channels import AlipayChannel
from mobileca.payments.checks import refuse_sandbox_gateways_outside_demo
from mobileca.payments.gateways.alipay import AlipayClient
from mobileca.payments.models import Payment, RejectedNotification
from mobileca.payments.observe import Observation
from mobileca.payments.services import payments_close_expired
from mobileca.sandboxes.alipay.models import Trade, TradeStatus
from tests.support.payments import opened_alipay_order, paid_at_gateway_unnotified, scan_and_pay

SYSTEM = Actor("system", "test")


def test_without_demo_mode_sandbox_gateways_and_demo_keys_refuse_to_start(settings, tmp_path) -> None:
    # DESIGN: production settings refuse to start with a sandbox URL unless explicitly in demo mode
    settings.MOBILECA_DEMO = False
    with pytest.raises(ImproperlyConfigured, match="ALIPAY_GATEWAY_URL points at a sandbox"):
        refuse_sandbox_gateways_outside_demo()
    real = {
        key: str(tmp_path / key) if key.endswith("_path") else value for key, value in settings.MOBILECA_ALIPAY.items()
    }
    real["gateway_url"] = "https://openapi.alipay.com/gateway.do"
    settings.MOBILECA_ALIPAY = real
    wechat = {
        key: str(tmp_path / key) if key.endswith("_path") else value
        for key, value in settings.MOBILECA_WECHATPAY.items()
    }
    wechat["base_url"] = "https://api.mch.weixin.qq.com"
    settings.MOBILECA_WECHATPAY = wechat
    identity = {
        key: str(tmp_path / key) if key.endswith("_path") else value
        for key, value in settings.MOBILECA_IDENTITY.items()
    }
    identity["token_url"] = "https://openapi.alipay.com/identity/token"
    settings.MOBILECA_IDENTITY = identity
    settings.MOBILECA_REGISTRY = {"base_url": "https://registry.example.cn", "public_key_path": str(tmp_path / "r.pem")}
    settings.MOBILECA_LIVENESS = {"base_url": "https://face.example.cn", "public_key_path": str(tmp_path / "f.pem")}
    settings.MOBILECA_SMS = {"base_url": "https://sms.example.cn", "client_secret_path": str(tmp_path / "s.txt")}
    settings.MOBILECA_BANK = {"base_url": "https://bank.example.cn", "client_secret_path": str(tmp_path / "b.txt")}
    refuse_sandbox_gateways_outside_demo()  # configured for production: starts


def test_demo_mode_is_off_by_default_for_a_database_url_deployment() -> None:
    import subprocess
    import sys

    code = (
        "import os; os.environ['DATABASE_URL']='postgres://u@h/d'; import config.settings as s; print(s.MOBILECA_DEMO)"
    )
    out = subprocess.run(  # noqa: S603 - a constant program
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin"}
    ).stdout.strip()
    assert out == "False"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"out_trade_no": "x\x00y", "notify_id": "n\x00", "sign": "AAAA"}, "bad_signature"),
        ({"out_trade_no": "A" * 5000, "notify_id": "n", "sign": "!!!"}, "bad_signature"),
    ],
)
def test_garbage_alipay_notifications_are_refused_and_recorded_never_a_500(form: dict[str, str], reason: str) -> None:
    response = Client(raise_request_exception=True).post("/payments/notify/alipay/", form)
    assert (response.status_code, response.content) == (200, b"failure")
    rejected = RejectedNotification.objects.get()
    assert rejected.reason == reason and "\x00" not in rejected.out_trade_no + rejected.body


@pytest.mark.django_db
@pytest.mark.parametrize("timestamp", ["9" * 400, "²", "", "-1"])
def test_absurd_wechat_timestamps_are_refused_not_a_500(timestamp: str, settings) -> None:
    response = Client(raise_request_exception=True).post(
        "/payments/notify/wechatpay/",
        b'{"id": "x\\u0000"}',
        content_type="application/json",
        headers={
            "Wechatpay-Serial": settings.MOBILECA_WECHATPAY["public_key_id"],
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": "n",
            "Wechatpay-Signature": "AAAA",
            "Authorization": "secret-should-not-be-kept",
        },
    )
    assert 400 <= response.status_code < 500 and response.json()["code"] == "FAIL"
    rejected = RejectedNotification.objects.get()
    assert "Authorization" not in rejected.headers and "authorization" not in rejected.headers


def test_alipay_page_pay_sends_the_browser_to_a_signed_gateway_request(bidder_client: Client, bidder: User) -> None:
    order, payment = opened_alipay_order(bidder)
    response = bidder_client.get(f"/ca/orders/{order.order_no}/alipay-page/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("http://testserver/sandbox/alipay/gateway.do?") and "sign=" in location
    assert "method=alipay.trade.page.pay" in location
    # the sandbox accepts it and shows its cashier for this very trade
    cashier = Client().get(location.removeprefix("http://testserver"), follow=True)
    assert payment.out_trade_no in cashier.content.decode()


def test_alipay_page_pay_with_the_gateway_down_shows_a_message_not_a_500(
    bidder_client: Client, bidder: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, _ = opened_alipay_order(bidder)

    def down(*args: object, **kwargs: object) -> str:
        raise RetryableGatewayError("connection refused")

    monkeypatch.setattr(opening, "alipay_page_pay_url", down)
    monkeypatch.setattr("mobileca.payments.views.alipay_page_pay_url", down)
    response = bidder_client.get(f"/ca/orders/{order.order_no}/alipay-page/", follow=True)
    assert response.status_code == 200 and "支付通道暂时无法连接" in response.content.decode()


def test_close_refused_because_just_paid_is_queried_again_and_paid_not_refunded(
    bidder: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R1.7: the buyer pays while we close; the gateway refuses the close; the order is paid, not closed and refunded
    order, payment, _ = paid_at_gateway_unnotified(bidder)
    real_query = AlipayChannel.query
    calls: list[str] = []

    def query_twice(self: AlipayChannel, payment: Payment) -> Observation | None:
        calls.append(payment.out_trade_no)
        # The query before closing has not seen the payment yet; the one after the refused close has.
        return None if len(calls) == 1 else real_query(self, payment)

    monkeypatch.setattr(AlipayChannel, "query", query_twice)

    def refuse(self: AlipayClient, *, out_trade_no: str) -> None:
        raise FinalGatewayError("ACQ.TRADE_STATUS_ERROR")

    monkeypatch.setattr(AlipayClient, "close", refuse)
    Order.objects.filter(pk=order.pk).update(expires_at=order.created_at)
    assert payments_close_expired(actor=SYSTEM) == 0
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert len(calls) == 2


def test_payment_made_as_we_closed_with_its_notification_lost_is_found_by_the_active_query(
    bidder: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R1.7: closed locally (the gateway would not close), then paid at the gateway, notification lost: the active
    # query of recently closed payments finds it as paid late — never lost.
    order, payment = opened_alipay_order(bidder)

    def refuse(self: AlipayClient, *, out_trade_no: str) -> None:
        raise FinalGatewayError("gateway says no")

    monkeypatch.setattr(AlipayClient, "close", refuse)
    Order.objects.filter(pk=order.pk).update(expires_at=order.created_at)
    assert payments_close_expired(actor=SYSTEM) == 1
    monkeypatch.setattr("mobileca.sandboxes.alipay.views.deliver_with_retries", lambda notification_id: None)
    assert "支付成功" in scan_and_pay(payment.qr_content)
    assert Trade.objects.get(out_trade_no=payment.out_trade_no).status == TradeStatus.TRADE_SUCCESS
    assert query.payments_query_pending(actor=SYSTEM) == 1
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, order.status, Card.objects.count()) == ("paid_late", "closed", 0)
