"""Payment helpers shared by the payment tests: orders on each channel, the sandbox cashiers, deadlines passed,
and late money (online and by remittance)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import reverse

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.audit.services import Actor
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.orders.models import Order
from mobileca.payments import opening
from mobileca.payments.models import Payment, PaymentEvent
from mobileca.sandboxes.alipay.models import Notification
from tests.support.platform import place_order

QUERY_JOB = Actor("system", "query")
AUTO_CLOSE = Actor("system", "auto-close")
CaptureOnCommit = Callable[..., Any]


def online_checkout(user: User, *, channel: str, token: str) -> tuple[Order, Payment]:
    """「确认并支付」 with an online channel: the order and its payment, not yet shown at the gateway."""
    return place_order(user, channel=channel, token=token)


def expire(order: Order) -> None:
    """Move the order's payment deadline into the past (the sandboxes keep real time, so the clock stays; the
    gateway's own expiry is left in the future)."""
    Order.objects.filter(pk=order.pk).update(expires_at=now() - timedelta(minutes=1))


# --- Alipay ---------------------------------------------------------------------------------------------------


def alipay_checkout(user: User, *, token: str = "ali-1") -> tuple[Order, Payment]:
    return online_checkout(user, channel="alipay", token=token)


def opened_alipay_order(user: User, *, token: str = "ali-1") -> tuple[Order, Payment]:
    """An Alipay order whose QR code was shown (``alipay.trade.precreate`` at the sandbox)."""
    order, payment = alipay_checkout(user, token=token)
    payment = opening.payment_open_online(payment_id=payment.pk)
    assert payment.qr_content.startswith("http://testserver/sandbox/alipay/cashier/")
    return order, payment


def scan_and_pay(qr_content: str) -> str:
    """The buyer scans the QR code (opens the cashier) and pays as the first sandbox buyer; the page text."""
    cashier = Client()
    assert cashier.get(qr_content).status_code == 200
    return cashier.post(qr_content, {"action": "pay"}).content.decode()


def paid_at_gateway_unnotified(user: User) -> tuple[Order, Payment, dict[str, str]]:
    """Paid in the cashier; the sandbox's notification is never delivered (its on-commit delivery does not run).

    Returns the genuine signed notification the sandbox would have sent.
    """
    order, payment = opened_alipay_order(user)
    assert "支付成功" in scan_and_pay(payment.qr_content)
    genuine = Notification.objects.get(trade__out_trade_no=payment.out_trade_no)
    assert genuine.attempts == 0
    return order, payment, dict(genuine.form)


# --- WeChat Pay -----------------------------------------------------------------------------------------------


def place_wechat_order(user: User, *, token: str = "wx-1") -> tuple[Order, Payment]:
    """「确认并支付」 with 微信支付, then the payment page shows the Native QR code (POST …/native at the sandbox)."""
    order, _ = online_checkout(user, channel="wechat", token=token)
    page = Client()
    page.force_login(user)
    assert page.get(reverse("payments:order_pay", args=[order.order_no])).status_code == 200
    payment = Payment.objects.get(order=order)
    assert payment.qr_content.startswith("http://testserver/sandbox/wechatpay/cashier/")
    return order, payment


def cashier_pay(payment: Payment, capture: CaptureOnCommit) -> str:
    """The buyer scans the QR code and pays; the sandbox's callback is delivered when its transaction commits."""
    with capture(execute=True):
        page = Client().post(payment.qr_content, {"action": "pay"})
    assert page.status_code == 200
    return page.content.decode()


def payment_state(order: Order, payment: Payment) -> tuple[object, ...]:
    """Everything a notification, a query or a close may change: compare before and after a refusal."""
    order.refresh_from_db()
    payment.refresh_from_db()
    return (
        order.status,
        order.paid_at,
        order.closed_at,
        order.card_id,
        payment.status,
        payment.paid_at,
        payment.paid_by_event,
        payment.settled_by_event,
        Card.objects.count(),
        PaymentEvent.objects.count(),
        AuditEvent.objects.count(),
    )
